"""The Dagster code location: everything under ``defs/``, plus global policy set once.

Execution is in-process: steps here are short and I/O-bound, and the multiprocess
executor's cost of a fresh interpreter per step (seconds each on these machines) would
dwarf the work. Warehouse writes are serialised by the ``warehouse`` pool.
"""

from __future__ import annotations

import dagster as dg

import cmc_pipeline.defs
from cmc_pipeline.defs.resources import default_resources


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_defs(defs_root=cmc_pipeline.defs)
    return dg.Definitions.merge(
        loaded,
        dg.Definitions(resources=default_resources(), executor=dg.in_process_executor),
    )
