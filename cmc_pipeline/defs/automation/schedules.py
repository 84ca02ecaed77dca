"""Refresh schedules: one line per source in ``REFRESHES``; how often comes from the
tables' data contracts (ODCS ``slaProperties`` frequency), when in the month and the time
zone from the line. Each refresh is one run over every country (a partition range), so a
monthly refresh of 25 countries starts one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from cmc_pipeline.defs.automation.freshness import FRESHNESS_CHECKS
from cmc_pipeline.defs.partitions import country_partitions
from cmc_pipeline.lib.contracts import SlaPeriod, contract_for
from cmc_pipeline.orchestration import PARTITION_RANGE_END, PARTITION_RANGE_START
from cmc_pipeline.settings import TIMEZONE


@dataclass(frozen=True)
class Refresh:
    """A job that reloads some source tables and rebuilds everything downstream of them."""

    job_name: str
    tables: tuple[str, ...]  # the tables the job starts from, by their contract names
    day: int = 2  # day of the month (or of the week for weekly cadences, 1 = Monday)
    at: str = "02:00"  # local time in ``timezone``
    timezone: str = TIMEZONE
    partitions_def: dg.PartitionsDefinition | None = country_partitions
    description: str = ""

    @property
    def asset_keys(self) -> list[dg.AssetKey]:
        return [dg.AssetKey(table.split(".")) for table in self.tables]

    @property
    def frequency(self) -> SlaPeriod:
        """The most frequent cadence promised by the contracts of the job's tables."""
        periods = []
        for table in self.tables:
            levels = contract_for(table).service_levels
            if levels is None:
                raise ValueError(
                    f"{table} is refreshed by {self.job_name} but its contract has no slaProperties "
                    "frequency: add e.g. {property: frequency, value: 1, unit: month}"
                )
            periods.append(levels.frequency)
        return min(periods, key=lambda p: p.longest)

    @property
    def cron(self) -> str:
        return refresh_cron(self.frequency, day=self.day, at=self.at)


# A source joins with one line here; its tables' contracts say how often.
REFRESHES: tuple[Refresh, ...] = (
    Refresh(
        "refresh_open_data",
        (
            "staging.ilostat_observations",
            "staging.worldbank_observations",
            "core.dim_country",
            "core.dim_indicator",
        ),
        day=2,
        at="02:00",
        description="ILOSTAT and World Bank for every country, then the core tables and marts built on them.",
    ),
    Refresh(
        "refresh_iom",
        ("staging.missing_migrants_incidents", "staging.dtm_displacement"),
        day=3,
        at="02:00",
        description="IOM Missing Migrants incidents and DTM displacement (DTM only with a key).",
    ),
    Refresh(
        "refresh_undesa",
        ("staging.undesa_migrant_stock", "staging.undesa_stock_by_destination"),
        day=15,
        at="03:00",
        description="UN DESA International Migrant Stock: stocks, corridors and the facts built on them.",
    ),
)


def refresh_cron(frequency: SlaPeriod, *, day: int, at: str) -> str:
    """A cron string that fires once per ``frequency`` on ``day`` at ``at`` (HH:MM)."""
    hour, minute = (int(part) for part in at.split(":"))
    every = frequency.value
    if frequency.unit == "day":
        return f"{minute} {hour} {'*' if every == 1 else f'*/{every}'} * *"
    if frequency.unit == "week" and every == 1:
        return f"{minute} {hour} * * {day % 7}"
    if frequency.unit == "month":
        return f"{minute} {hour} {day} {'*' if every == 1 else f'*/{every}'} *"
    if frequency.unit == "year" and every == 1:
        return f"{minute} {hour} {day} 1 *"
    raise ValueError(f"no cron for a refresh every {frequency}: use days, 1 week, months or 1 year")


def refresh_job(refresh: Refresh) -> dg.UnresolvedAssetJobDefinition:
    # Everything built from the refreshed sources, plus the listed tables themselves. Only
    # staged sources pull in their downstream: every table joins core.dim_country, so its
    # downstream would drag in marts whose own inputs (governance needs, uploads…) this
    # refresh does not load.
    sources = [key for key in refresh.asset_keys if key.path[0] == "staging"]
    selection = (
        dg.AssetSelection.assets(*refresh.asset_keys) | dg.AssetSelection.assets(*sources).downstream()
    ).required_multi_asset_neighbors()
    return dg.define_asset_job(
        refresh.job_name,
        selection=selection - FRESHNESS_CHECKS,
        description=refresh.description,
    )


def refresh_schedule(refresh: Refresh, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    # Every partition in one run: the tags a single-run backfill uses for its range.
    tags = {}
    if refresh.partitions_def is not None:
        keys = refresh.partitions_def.get_partition_keys()
        tags = {PARTITION_RANGE_START: keys[0], PARTITION_RANGE_END: keys[-1]}

    @dg.schedule(
        name=f"{refresh.job_name}_schedule",
        job=job,
        cron_schedule=refresh.cron,
        execution_timezone=refresh.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"{refresh.job_name} every {refresh.frequency} (from the data contracts).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # One run per tick: the run key stops a restarted daemon from launching it twice.
        return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat(), tags=tags)

    return _schedule


refresh_jobs = {refresh.job_name: refresh_job(refresh) for refresh in REFRESHES}
refresh_schedules = [refresh_schedule(refresh, refresh_jobs[refresh.job_name]) for refresh in REFRESHES]

defs = dg.Definitions(jobs=list(refresh_jobs.values()), schedules=refresh_schedules)
