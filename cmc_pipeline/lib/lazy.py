"""Pandas, numpy and pyarrow imported where they are first used rather than where they
are named.

Loading the definitions (the UI's code server, every `dagster` command, the start of
`cmc build`) imports every asset's module, and through them pandas, numpy and pyarrow:
more than half a second that no definition needs (docs/benchmarks.md, "Build":
definitions load; ``test_loading_the_definitions_imports_no_data_library``). Modules
write ``from cmc_pipeline.lib.lazy import pandas as pd`` and use ``pd`` as always; pandas
is imported the first time an attribute is asked of it. (Python's ``importlib.util.LazyLoader``
cannot do this on Python 3.11: an ``import pandas`` statement elsewhere already loads it.)
"""

from __future__ import annotations

import importlib


class LazyModule:
    """Stands for the module ``name`` and imports it when first asked for an attribute;
    it then takes the module's names, so later lookups cost what they cost on the module."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        module = importlib.import_module(self._name)
        self.__dict__.update(vars(module))
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported when first used>"


pandas = LazyModule("pandas")
numpy = LazyModule("numpy")
pyarrow = LazyModule("pyarrow")
pyarrow_compute = LazyModule("pyarrow.compute")
