"""The Dagster code location: everything under ``defs/``, plus global policy set once.

Execution is in-process: steps here are short and I/O-bound, and the multiprocess
executor's cost of a fresh interpreter per step (seconds each on these machines) would
dwarf the work. Warehouse writes are serialised by the ``warehouse`` pool.
"""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.defs.resources import default_resources
from cmc_pipeline.settings import PROJECT_DIR


@dg.definitions
def defs() -> dg.Definitions:
    # Reads [tool.dg.project] in pyproject.toml: every module under cmc_pipeline/defs.
    loaded = dg.load_from_defs_folder(path_within_project=PROJECT_DIR)
    return dg.Definitions.merge(
        loaded,
        dg.Definitions(resources=default_resources(), executor=dg.in_process_executor),
    )
