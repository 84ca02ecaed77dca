"""Freshness checks: every table whose data contract promises a refresh cadence
(``slaProperties`` frequency + latency) gets a ``freshness`` check, run daily.

For a table partitioned by country the check looks at every country, not only the latest
write: one country missing from the monthly refresh makes the table stale, and the check
says which. Stale tables are also sent to the notifier, since the tools that read them
would otherwise not know.
"""

from datetime import UTC, datetime

import dagster as dg

from cmc_pipeline.defs.resources import NotifierResource
from cmc_pipeline.lib.contracts import TableContract, all_contracts
from cmc_pipeline.lib.notify import Notification, NotificationError
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.settings import TIMEZONE

CHECK_NAME = "freshness"
CHECK_FRESHNESS_JOB = "check_freshness"
# Runs of these checks that end a `cmc build`: they evaluate, they do not notify.
AFTER_BUILD_TAG = "cmc/after_build"


def contracts_with_cadence() -> list[TableContract]:
    return [c for c in all_contracts().values() if c.service_levels is not None]


def asset_key(contract: TableContract) -> dg.AssetKey:
    return dg.AssetKey(contract.table.split("."))


def last_refreshes(instance: dg.DagsterInstance, contract: TableContract) -> dict[str | None, float | None]:
    """When each country's slice (or the whole table) was last written, as a timestamp."""
    from dagster._core.events import DagsterEventType

    key = asset_key(contract)
    if contract.custom_properties.get("partitioned_by") != "country_iso3":
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
        return {None: records[0].timestamp if records else None}
    countries = cmc_iso3_codes()
    # Two queries for the 25 countries, not one each: every country's latest
    # materialisation, then those records' times.
    latest = instance.event_log_storage.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION, set(countries)
    )
    records = (
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
        ).records
        if latest
        else []
    )
    written_at = {record.storage_id: record.timestamp for record in records}
    return {country: written_at.get(latest.get(country)) for country in countries}


def evaluate(
    contract: TableContract, refreshed: dict[str | None, float | None], now: float
) -> dg.AssetCheckResult:
    levels = contract.service_levels
    cutoff = now - levels.stale_after.total_seconds()
    never = [p or "the table" for p, at in refreshed.items() if at is None]
    overdue = [p or "the table" for p, at in refreshed.items() if at is not None and at < cutoff]
    times = [at for at in refreshed.values() if at is not None]
    metadata = {
        "expected_cadence": f"every {levels.frequency}, at most {levels.latency} late",
        "stale_after_days": levels.stale_after.days,
        "contract": dg.MetadataValue.path(str(contract.path)),
    }
    if times:
        metadata["oldest_refresh"] = dg.MetadataValue.timestamp(min(times))
        metadata["newest_refresh"] = dg.MetadataValue.timestamp(max(times))
    if overdue:
        metadata["overdue"] = ", ".join(overdue)
    if never:
        metadata["never_loaded"] = ", ".join(never)
    passed = not overdue and not never
    description = (
        f"refreshed within the last {levels.stale_after.days} days"
        if passed
        else f"stale: {len(overdue)} overdue, {len(never)} never loaded (expected every {levels.frequency})"
    )
    return dg.AssetCheckResult(
        asset_key=asset_key(contract),
        check_name=CHECK_NAME,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def build_freshness_checks(contracts: list[TableContract]) -> dg.AssetChecksDefinition:
    by_key = {asset_key(c): c for c in contracts}

    @dg.multi_asset_check(
        name="freshness_checks",
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description=(
                    f"Refreshed every {c.service_levels.frequency} and at most {c.service_levels.latency} "
                    f"late, per the data contract {c.path.name}."
                ),
            )
            for key, c in by_key.items()
        ],
        can_subset=True,
    )
    def freshness_checks(context: dg.AssetCheckExecutionContext, notifier: NotifierResource):
        now = datetime.now(UTC).timestamp()
        stale = []
        for check_key in context.selected_asset_check_keys:
            contract = by_key[check_key.asset_key]
            result = evaluate(contract, last_refreshes(context.instance, contract), now)
            if not result.passed:
                stale.append(f"{contract.table}: {result.description}")
            yield result
        # Only the daily check notifies: backfills and refreshes carry these checks too
        # (an asset backfill includes its assets' checks), and so does the end of `cmc
        # build` (its summary says what is stale); a notice from each of them would bury
        # the one that matters.
        if (
            stale
            and context.run.job_name == CHECK_FRESHNESS_JOB
            and "cmc/after_build" not in context.run.tags
        ):
            notice = Notification(
                subject="[cmc-pipeline] stale warehouse tables",
                body="These tables are older than their contracts allow:\n" + "\n".join(stale),
            )
            try:
                notifier.notifier().send(notice)
            except NotificationError as exc:
                context.log.error(str(exc))

    return freshness_checks


freshness_checks = build_freshness_checks(contracts_with_cadence())
# Refresh and build jobs leave these out: they run on their own daily schedule.
FRESHNESS_CHECKS = dg.AssetSelection.checks(freshness_checks)

check_freshness_job = dg.define_asset_job(
    CHECK_FRESHNESS_JOB,
    selection=FRESHNESS_CHECKS,
    description="Is every table as fresh as its data contract promises?",
)

check_freshness_schedule = dg.ScheduleDefinition(
    name="check_freshness_daily",
    job=check_freshness_job,
    cron_schedule="0 7 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every morning, before the working group's day starts.",
)

defs = dg.Definitions(
    asset_checks=[freshness_checks], jobs=[check_freshness_job], schedules=[check_freshness_schedule]
)
