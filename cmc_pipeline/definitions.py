"""The Dagster code location: everything under ``defs/``, plus global policy set once.

Execution is in-process: steps here are short and I/O-bound, and the multiprocess
executor's cost of a fresh interpreter per step (seconds each on these machines) would
dwarf the work. Warehouse writes are serialised by the ``warehouse`` pool.

On several machines (``CMC_EXECUTOR=celery``) steps go to Celery workers instead, through
the broker in ``CMC_CELERY_BROKER``; see docs/operations.md.
"""

from __future__ import annotations

import importlib

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.defs.metadata import with_contract_attributes
from cmc_pipeline.defs.resources import default_resources
from cmc_pipeline.settings import PROJECT_DIR
from cmc_pipeline.sources import SOURCE_NAMES

# The code location's name, the same everywhere it is loaded: workspace.yaml,
# deploy/workspace.yaml, the code server's --location-name, pyproject's [tool.dagster].
# Runs executed in-process by `cmc build` are tagged with it (orchestration.location_tags).
CODE_LOCATION = "cmc_pipeline"


def executor() -> dg.ExecutorDefinition:
    if settings.executor() == "in_process":
        return dg.in_process_executor
    if settings.executor() == "celery":
        from dagster_celery import celery_executor

        # Broker and backend URLs carry passwords: read from the environment when the run
        # starts, never stored in the job's configuration that the UI shows.
        return celery_executor.configured(
            {
                "broker": {"env": "CMC_CELERY_BROKER"},
                "backend": {"env": "CMC_CELERY_BACKEND"},
                "config_source": {"task_default_queue": settings.celery_queue()},
            }
        )
    raise ValueError(f"CMC_EXECUTOR must be 'in_process' or 'celery', not {settings.executor()!r}")


@dg.definitions
def defs() -> dg.Definitions:
    # Reads [tool.dg.project] in pyproject.toml: every module under cmc_pipeline/defs.
    loaded = dg.load_from_defs_folder(path_within_project=PROJECT_DIR)
    # Each source's assets live in its own folder (cmc_pipeline/sources/<name>/assets.py).
    source_assets = dg.load_definitions_from_modules(
        [importlib.import_module(f"cmc_pipeline.sources.{name}.assets") for name in SOURCE_NAMES]
    )
    merged = dg.Definitions.merge(
        loaded,
        source_assets,
        dg.Definitions(resources=default_resources(), executor=executor()),
    )
    # Owners, tags and code version of every table asset, from its data contract. A module
    # that imports another's asset (the report names the marts it reads) lists the same
    # object twice: map each object once.
    unique = list({id(a): a for a in merged.assets or ()}.values())
    return dg.Definitions(
        assets=dg.map_asset_specs(with_contract_attributes, unique),
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources=merged.resources,
        executor=merged.executor,
        loggers=merged.loggers,
        metadata=merged.metadata,
    )
