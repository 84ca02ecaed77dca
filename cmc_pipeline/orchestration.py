"""Running the Dagster definitions from the command line: `cmc build`, imports, summary.

``cmc build`` executes the ``build_warehouse`` job in this process against the persistent
instance in DAGSTER_HOME, over all country partitions as one partition range: one run,
one process, visible afterwards in ``make dev``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.lib.report import default_output_path as default_report_path
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources import SOURCE_NAMES
from cmc_pipeline.steps.facts import FACT_TABLE
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import REVIEW_TABLE

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
# A run launched from the UI or the daemon carries its code location in this tag, and the
# UI's job pages, Runs list and timeline find runs by it. `cmc build` runs its job in this
# process, which Dagster does not tag: it is tagged here with the same label (the name
# Dagster gives a Definitions object's repository, @ the location name in workspace.yaml).
REPOSITORY_LABEL_TAG = ".dagster/repository"
REPOSITORY_NAME = "__repository__"
# Only errors on the console: the summary printed after the run already says what was
# skipped or failed, in words meant for the person who ran the build.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check evaluation of a build: a contract rule for one partition."""

    asset: str
    check: str
    passed: bool
    severity: str  # ERROR or WARN
    partition: str | None = None
    failing_rows: int | None = None
    first_offending_row: str | None = None  # "line 12, column 'sex': 'SEX_X' — expected …"
    # A table checked country by country but materialised whole: "JAM (3 rows), TTO (1 rows)".
    failing_by_country: str | None = None
    description: str = ""  # what the check says of its result ("stale: 1 overdue …")


@dataclass
class BuildOutcome:
    success: bool
    run_id: str
    failures: list[str] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # assets not materialised on purpose, with why
    freshness: list[CheckOutcome] = field(default_factory=list)  # evaluated after the build


def load_definitions() -> dg.Definitions:
    from cmc_pipeline.definitions import defs

    return defs()


# What `cmc build --sources` accepts: every upstream source, and the national uploads.
BUILD_SOURCES = (*SOURCE_NAMES, "uploads")
# The reference dimensions are rebuilt with any source: a catalogue change (a new
# indicator) must reach core.dim_indicator before the facts are checked against it.
ALWAYS_REBUILT = (dg.AssetKey(["core", "dim_country"]), dg.AssetKey(["core", "dim_indicator"]))


def source_asset_keys(source: str) -> list[dg.AssetKey]:
    """The assets a source's folder defines (the upload assets for ``uploads``)."""
    if source not in BUILD_SOURCES:
        raise ValueError(f"no source named {source!r}; the sources are {', '.join(BUILD_SOURCES)}")
    module = (
        "cmc_pipeline.defs.uploads.assets" if source == "uploads" else f"cmc_pipeline.sources.{source}.assets"
    )
    assets = dg.load_assets_from_modules([importlib.import_module(module)])
    return [key for definition in assets for key in definition.keys]


def build_selection(definitions: dg.Definitions, sources: list[str]) -> list[dg.AssetKey]:
    """The assets of ``sources`` and everything downstream of them (marts, report …)."""
    keys = [key for source in sources for key in source_asset_keys(source)]
    selection = (
        dg.AssetSelection.assets(*keys).downstream() | dg.AssetSelection.assets(*ALWAYS_REBUILT)
    ).required_multi_asset_neighbors()
    job_assets = set(definitions.resolve_job_def("build_warehouse").asset_layer.executable_asset_keys)
    return sorted(set(selection.resolve(definitions.resolve_asset_graph())) & job_assets)


def build_warehouse(
    countries: list[str] | None = None,
    sources: list[str] | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
    *,
    freshness: bool = True,
) -> BuildOutcome:
    """Materialise every asset for ``countries`` (default all) in one in-process run; with
    ``sources``, only those sources' assets and everything downstream of them; with
    ``asset_selection``, exactly those assets. It ends by evaluating the freshness checks
    unless ``freshness`` is False."""
    partitions = cmc_iso3_codes()
    selected = countries or partitions
    unknown = [c for c in selected if c not in partitions]
    if unknown:
        raise ValueError(f"not CMC countries: {unknown}; expected ISO3 codes among {partitions}")
    # A partition range must be contiguous in partition order; a scattered selection runs
    # as one range per contiguous block.
    ranges = _contiguous_ranges([p for p in partitions if p in selected], partitions)
    definitions = load_definitions()
    job = definitions.resolve_job_def("build_warehouse")
    if sources:
        asset_selection = build_selection(definitions, sources)
    instance = dg.DagsterInstance.get()
    outcome = BuildOutcome(success=True, run_id="")
    # Every step runs in this process: the DuckDB file stays open for the run.
    with Warehouse(settings.warehouse_url()).held_open():
        for first, last in ranges:
            result = job.execute_in_process(
                instance=instance,
                run_config=QUIET_LOGS,
                tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last, **location_tags()},
                raise_on_error=False,
                asset_selection=asset_selection,
            )
            outcome.run_id = result.run_id
            outcome.success &= result.success
            for event in result.all_events:
                if event.is_step_failure:
                    outcome.failures.append(
                        f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
                    )
                if event.is_asset_observation:
                    observation = event.asset_observation_data.asset_observation
                    if "skipped" in observation.metadata:
                        reason = observation.metadata["skipped"].value
                        outcome.skipped.append(f"{observation.asset_key.to_user_string()}: {reason}")
            outcome.checks += [check_outcome(e) for e in result.get_asset_check_evaluations()]
        if freshness:
            # Freshness as the contracts promise it, now that the build has refreshed the tables.
            outcome.freshness = evaluate_freshness(definitions, instance)
    return outcome


def location_tags() -> dict[str, str]:
    """The tag that attaches a run executed in this process to the code location."""
    from cmc_pipeline.definitions import CODE_LOCATION

    return {REPOSITORY_LABEL_TAG: f"{REPOSITORY_NAME}@{CODE_LOCATION}"}


def evaluate_freshness(definitions: dg.Definitions, instance: dg.DagsterInstance) -> list[CheckOutcome]:
    """Run the freshness checks (the daily job's), attached to the code location, without
    the daily job's notice: the person who ran the build reads the result in its summary."""
    from cmc_pipeline.defs.automation.freshness import AFTER_BUILD_TAG, CHECK_FRESHNESS_JOB

    result = definitions.resolve_job_def(CHECK_FRESHNESS_JOB).execute_in_process(
        instance=instance, run_config=QUIET_LOGS, tags={AFTER_BUILD_TAG: "true", **location_tags()},
        raise_on_error=False,
    )  # fmt: skip
    return [check_outcome(e) for e in result.get_asset_check_evaluations()]


def check_outcome(evaluation: dg.AssetCheckEvaluation) -> CheckOutcome:
    failing = evaluation.metadata.get("failing_rows")
    example = evaluation.metadata.get("first_offending_row")
    by_country = evaluation.metadata.get("failing_rows_by_country")
    return CheckOutcome(
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        partition=evaluation.partition,
        failing_rows=None if failing is None else int(failing.value),
        first_offending_row=None if example is None else str(example.value),
        failing_by_country=None if by_country is None else str(by_country.value),
        description=evaluation.description or "",
    )


def _contiguous_ranges(selected: list[str], order: list[str]) -> list[tuple[str, str]]:
    ranges: list[tuple[str, str]] = []
    positions = [order.index(s) for s in selected]
    start = prev = None
    for pos in positions:
        if start is None:
            start = prev = pos
        elif pos == prev + 1:
            prev = pos
        else:
            ranges.append((order[start], order[prev]))
            start = prev = pos
    if start is not None:
        ranges.append((order[start], order[prev]))
    return ranges


def ensure_reference_tables(warehouse: Warehouse) -> None:
    """Facts are checked against the country and indicator dimensions, so an import into a
    warehouse that was never built first writes them from the reference files."""
    for table, build in (
        ("core.dim_country", core_tables.build_dim_country),
        ("core.dim_indicator", core_tables.build_dim_indicator),
    ):
        if (
            not warehouse.table_exists(table)
            or warehouse.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0] == 0
        ):
            build(warehouse)


@dataclass
class ImportOutcome:
    """What `cmc import` did, in this import's own numbers (never the table's totals)."""

    report: LoadReport  # the staging (or core) table the file went into
    facts_from_file: int = 0  # rows of core.fact_observation that now come from this file
    held_back: pd.DataFrame | None = None  # review-list rows for this file's values
    refresh: BuildOutcome | None = None  # the run that rebuilt what is downstream

    @property
    def loaded(self) -> bool:
        return self.report.rows_written > 0

    @property
    def facts(self) -> LoadReport:
        """What the import gave core.fact_observation, as the fact step reports it."""
        return LoadReport(FACT_TABLE, unmapped=self.held_back)


# `cmc import KIND FILE`: the loader of each kind. What is downstream of the table it
# wrote (facts, dimensions, marts, the report) is rebuilt after it.
IMPORTERS = {
    "ilostat": "cmc_pipeline.sources.ilostat.load:import_ilostat_file",
    "worldbank": "cmc_pipeline.sources.worldbank.load:import_worldbank_file",
    "undesa": "cmc_pipeline.sources.undesa.load:import_undesa_file",
    "governance_needs": "cmc_pipeline.sources.governance_needs.workbook:import_workbook_file",
}


def import_file(kind: str, path: Path) -> ImportOutcome:
    """Load a user's download, then rebuild everything downstream of what it changed in one
    Dagster run (facts, dimensions, marts, the report), so the warehouse stays consistent
    with the file and the UI shows the run. The load itself is recorded for the UI too."""
    module, _, function = IMPORTERS[kind].partition(":")
    importer = getattr(importlib.import_module(module), function)
    warehouse = Warehouse(settings.warehouse_url())
    ensure_reference_tables(warehouse)
    report = importer(path, warehouse, settings.raw_dir(), uploader=f"cmc import {kind}")
    _record_imports([report], kind, path)
    outcome = ImportOutcome(report)
    if not outcome.loaded:
        return outcome
    countries = [c for c in cmc_iso3_codes() if c in report.countries and c not in report.blocked]
    written = dg.AssetKey(report.table.split("."))
    outcome.refresh = refresh_downstream(written, countries or cmc_iso3_codes())
    shas = [f["sha256"] for f in report.raw_files]
    if shas and warehouse.table_exists(FACT_TABLE):
        marks = ", ".join(["?"] * len(shas))
        found = warehouse.query(f"SELECT count(*) AS n FROM {FACT_TABLE} WHERE raw_sha256 IN ({marks})", shas)
        outcome.facts_from_file = int(found["n"].iloc[0])
        if report.unmapped is not None and len(report.unmapped):
            outcome.held_back = report.unmapped
        elif warehouse.table_exists(REVIEW_TABLE):
            outcome.held_back = warehouse.query(
                f"SELECT * FROM {REVIEW_TABLE} WHERE raw_sha256 IN ({marks}) ORDER BY 3, 4, 5", shas
            )
    return outcome


def refresh_downstream(key: dg.AssetKey, countries: list[str]) -> BuildOutcome:
    """Rebuild every asset downstream of ``key`` (not ``key`` itself) for ``countries``."""
    definitions = load_definitions()
    selection = (
        dg.AssetSelection.assets(key).downstream(include_self=False)
        | dg.AssetSelection.assets(*ALWAYS_REBUILT)
    ).required_multi_asset_neighbors()
    job_assets = set(definitions.resolve_job_def("build_warehouse").asset_layer.executable_asset_keys)
    keys = sorted(set(selection.resolve(definitions.resolve_asset_graph())) & job_assets)
    # An import refreshes a few tables; the daily check and the next build judge freshness.
    return build_warehouse(countries, asset_selection=keys, freshness=False)


def load_upload_now(path: Path, dataset: str, country: str):
    """Process one inbox file at once (``cmc upload --load``), as the sensor's run would,
    record what it changed for the UI's asset history, and rebuild what reads the
    dataset's current table (its mart, the report), as the daemon's automation sensor
    does after an inbox upload. Returns the upload's outcome and the rebuild's (None when
    nothing was loaded)."""
    from cmc_pipeline.lib.uploads.datasets import upload_dataset
    from cmc_pipeline.lib.uploads.loading import process_upload

    warehouse = Warehouse(settings.warehouse_url())
    ensure_reference_tables(warehouse)
    outcome = process_upload(
        path,
        dataset=dataset,
        country=country,
        warehouse=warehouse,
        raw_root=settings.raw_dir(),
        uploader=f"cmc upload {path.name}",
        inbox=settings.inbox_dir(),
    )
    _record_imports(outcome.load_reports(), "upload", path)
    if outcome.status != "accepted":
        return outcome, None
    current = dg.AssetKey(upload_dataset(dataset).current_table.split("."))
    return outcome, refresh_downstream(current, [country])


def _record_imports(reports: list[LoadReport], kind: str, path: Path) -> None:
    """Report each table an import changed to the Dagster instance, so the asset's
    history in the UI shows it (one event per country partition for partitioned tables)."""
    from cmc_pipeline.defs.metadata import materialize_result
    from cmc_pipeline.lib.contracts import contract_for

    instance = dg.DagsterInstance.get()
    for step_report in reports:
        key = dg.AssetKey(step_report.table.split("."))
        metadata = materialize_result(step_report).metadata or {}
        by_country = contract_for(step_report.table).custom_properties.get("partitioned_by") == "country_iso3"
        partitions = step_report.countries if by_country else [None]
        for partition in partitions:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=partition,
                    metadata={**metadata, "imported_file": str(path)},
                    description=f"cmc import {kind} {path.name}",
                )
            )


def summarise_warehouse(outcome: BuildOutcome | None) -> str:
    """A short text a person reads after `cmc build`: tables, rows, countries, sources, checks."""
    warehouse = Warehouse(settings.warehouse_url())
    lines = []
    if outcome is not None:
        state = "succeeded" if outcome.success else "FAILED"
        lines.append(f"Build {state} (Dagster run {outcome.run_id}; see it with `make dev`).")
        lines.extend(f"  failed step {f}" for f in outcome.failures)
        lines.extend(
            f"  not loaded: {s} (its downstream tables are skipped too)"
            for s in dict.fromkeys(outcome.skipped)
        )
    lines.append(f"Warehouse: {warehouse.where}")
    tables = warehouse.query(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_schema IN ('staging', 'uploads', 'core', 'marts') ORDER BY 1"
    )["name"].tolist()
    # Every table's count in one query: each query opens the file anew (about 40 ms).
    counts = dict(
        warehouse.fetch(" UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in tables))
        if tables
        else []
    )
    for table in tables:
        lines.append(f"  {table:<40} {int(counts[table]):>9,} rows")
    if "core.fact_observation" in tables:
        by_source = warehouse.query(
            "SELECT source, count(DISTINCT country_iso3) AS countries, "
            "count(DISTINCT indicator_id) AS indicators, count(*) AS n, "
            "count(*) FILTER (WHERE NOT demonstration_data) AS real_rows "
            "FROM core.fact_observation GROUP BY 1 ORDER BY 1"
        )
        lines.append("Sources in core.fact_observation (real: published figures; the rest is labelled):")
        for row in by_source.itertuples():
            lines.append(
                f"  {row.source:<20} {row.n:>8,} observations, {row.countries} countries, "
                f"{row.indicators} indicators; {real_share(row.real_rows, row.n)}"
            )
        total = warehouse.query("SELECT count(DISTINCT country_iso3) AS n FROM core.fact_observation")
        lines.append(f"Countries with data: {int(total['n'].iloc[0])} of {len(cmc_iso3_codes())}")
    report = default_report_path()
    if report.exists():
        lines.append(f"Regional report: {report} (open it in a browser; `cmc report` rewrites it)")
    if outcome is not None and outcome.checks:
        lines.extend(summarise_checks(outcome.checks))
    if outcome is not None and outcome.freshness:
        fresh = [c for c in outcome.freshness if c.passed]
        lines.append(
            f"Freshness: {len(fresh)} of {len(outcome.freshness)} tables within their contract's cadence"
        )
        lines.extend(f"  stale {c.asset}: {c.description}" for c in outcome.freshness if not c.passed)
    return "\n".join(lines)


def real_share(real: int, total: int) -> str:
    """ "100 % real", or how much is demonstration data, in the words the label uses."""
    if total == 0 or real == total:
        return "100 % real"
    return f"{100 * real / total:.0f} % real, {100 * (total - real) / total:.0f} % {DEMONSTRATION_LABEL}"


def summarise_checks(checks: list[CheckOutcome]) -> list[str]:
    """Check results grouped by rule: which partitions failed and how many rows; errors
    first, because their partitions were not promoted (their previous data was kept)."""
    passed = sum(1 for c in checks if c.passed)
    rules = len({(c.asset, c.check) for c in checks})
    lines = [f"Quality checks: {passed:,} of {len(checks):,} passed ({rules} contract rules, per country)"]
    failed: dict[tuple[str, str, str], list[CheckOutcome]] = {}
    for check in checks:
        if not check.passed:
            failed.setdefault((check.severity, check.asset, check.check), []).append(check)
    for (severity, asset, name), group in sorted(failed.items(), key=lambda item: item[0][0] != "ERROR"):
        where = ", ".join(
            c.failing_by_country
            if c.failing_by_country
            else f"{c.partition or 'whole table'} ({c.failing_rows:,} rows)"
            if c.failing_rows is not None
            else (c.partition or "whole table")
            for c in group
        )
        label = "FAIL" if severity == "ERROR" else "warn"
        consequence = " — not promoted, previous data kept" if severity == "ERROR" else ""
        lines.append(f"  {label} {asset} {name}: {where}{consequence}")
        lines.extend(f"      e.g. {c.first_offending_row}" for c in group[:1] if c.first_offending_row)
    if failed:
        lines.append(
            "  Offending rows and the Great Expectations result: the check in `make dev` (Dagster UI)."
        )
    return lines
