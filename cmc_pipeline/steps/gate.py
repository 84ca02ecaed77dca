"""The single validate-and-save gate every table write goes through.

Rows are checked against the table's contract country by country; a country that breaks
an error-severity rule is not written (its previous rows stay, so core keeps reading its
last good load), the other countries are, and the report carries every rule's result.
Slices held back for an unmapped value (``steps.review``) keep their previous rows too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cmc_pipeline import settings
from cmc_pipeline.lib import quality
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.quality.rules import compares_with_previous
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import REVIEW_TABLE


def now() -> datetime:
    return datetime.now(UTC)


def validate_and_save(
    warehouse: Warehouse,
    table: str,
    parts: Sequence[pd.DataFrame],
    report: LoadReport,
    *,
    batch: list[str] | None,
    slice_for: Callable[[list[str]], dict],
    keep_previous: pd.DataFrame | None = None,
    partition_column: str = "country_iso3",
    engine: str = "auto",
) -> pd.DataFrame:
    """Check ``parts`` against ``table``'s contract country by country, then write the
    countries that passed (the whole table when ``batch`` is None: it passes or not).

    ``slice_for(countries)`` is the slice those countries' rows replace. Every rule's
    result goes into ``quality.check_results`` in the same transaction as the rows, so the
    results kept always describe the rows written. ``keep_previous`` lists slices (its
    columns name them, e.g. country_iso3 and indicator_id) whose previous rows are kept
    instead of replaced. ``partition_column`` names the column the batch's countries are
    in; ``engine`` is the quality engine's (see ``quality.validate``). Returns the
    promoted rows.
    """
    contract = contract_for(table)
    warehouse.ensure_tables([contract])  # a first load compares with an empty table
    if batch is None:
        partition_column = None
    everything = slice_for(batch or [])
    stamp = f"{now():%Y%m%dT%H%M%S%f}"
    # The slice's current rows, read only when a rule compares with them or some are kept.
    keeps = keep_previous is not None and len(keep_previous) > 0
    previous = warehouse.read_slice(table, everything) if keeps or compares_with_previous(contract) else None
    run = quality.validate(
        parts,
        contract,
        partition_column=partition_column,
        partitions=batch,
        previous=previous,
        tables=lambda name: warehouse.read_slice(name, {}),
        engine=engine,
        great_expectations_result=settings.quality_dir() / table / f"{stamp}.json",
    )
    report.validation = run
    report.blocked = [c for c in run.blocked_partitions if c is not None]
    results = check_results_change(run)
    rows = pd.concat([p.reindex(columns=contract.column_names) for p in parts], ignore_index=True)
    if batch is None:
        promoted_rows = rows if run.passed else rows.iloc[0:0]
        change = (table, promoted_rows, everything) if run.passed else None
    else:
        promoted = [c for c in batch if c not in report.blocked]
        promoted_rows = rows[rows[partition_column].isin(promoted)]
        written = promoted_rows
        if keeps and len(previous):
            kept = previous.merge(keep_previous.drop_duplicates(), on=list(keep_previous.columns))
            kept = kept[kept[partition_column].isin(promoted)].reindex(columns=contract.column_names)
            written = pd.concat([promoted_rows, kept], ignore_index=True) if len(kept) else promoted_rows
        change = (table, written, slice_for(promoted))
    changes = [c for c in (results, change) if c is not None]
    if changes:
        counts = warehouse.replace_slices(changes)
        if change is not None:
            report.rows_written = counts[-1]
    return promoted_rows


def validate_and_replace(
    warehouse: Warehouse,
    table: str,
    frame: pd.DataFrame,
    report: LoadReport,
    *,
    by: str | None = None,
    within: dict | None = None,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """The gate for a table that is written whole (a mart, a corridor table, a world-wide
    staging table), or whole ``within`` one slice (e.g. one assessment).

    With ``by`` (the table's country or area column), each value of it is checked and
    promoted on its own, as a loader's country batch is: a country whose rows break an
    error rule keeps its previous rows, and the others are written; a country no longer in
    the rows loses its previous ones. Without ``by`` the table passes or keeps its previous
    rows as a whole. Returns the promoted rows.

    DuckDB evaluates the rules by default (``engine``): these tables are small or derived,
    and a Great Expectations suite costs about half a second per write whatever its size;
    the loaders' country batches keep it (``validate_and_save``)."""
    within = within or {}
    if by is None:
        return validate_and_save(
            warehouse, table, [frame], report, batch=None, slice_for=lambda _: within, engine=engine
        )
    warehouse.ensure_tables([contract_for(table)])  # compared with its contract before it is read
    batch = sorted(set(frame[by].dropna()) | warehouse.distinct_values(table, by, within))
    promoted = validate_and_save(
        warehouse,
        table,
        [frame],
        report,
        batch=batch,
        slice_for=lambda values: {**within, by: values},
        partition_column=by,
        engine=engine,
    )
    report.countries = batch
    return promoted


CHECK_RESULTS_TABLE = "quality.check_results"
WHOLE_TABLE = "_Z"  # the country of a result for a table checked whole (SDMX: not applicable)


def save_check_results(warehouse: Warehouse, run: quality.ValidationRun) -> None:
    """Keep every rule's latest result for the table and the countries just checked, in
    ``quality.check_results``: what the report's quality section, analysts and the portal
    read, beside the Dagster checks the UI shows. (``validate_and_save`` writes them with
    the rows, in one transaction.)"""
    results = check_results_change(run)
    if results is not None:
        warehouse.replace_slices([results])


def check_results_change(run: quality.ValidationRun) -> tuple[str, pd.DataFrame, dict] | None:
    """The rows of ``quality.check_results`` for ``run`` and the slice they replace (the
    table's results for the countries checked), or None when no rule ran."""
    if not run.results:
        return None
    checked_at, run_id = now(), _current_run_id()
    rows = pd.DataFrame(
        [
            {
                "table_name": run.table,
                "country_iso3": result.partition or WHOLE_TABLE,
                "rule_id": result.rule.id,
                "rule_name": result.rule.name,
                "severity": result.rule.severity,
                "passed": result.passed,
                "rows_checked": result.rows_checked,
                "rows_failed": result.failing_rows,
                "first_offence": result.examples[0].describe() if result.examples else None,
                "evaluated_by": result.evaluated_by,
                "contract_version": run.contract_version,
                "run_id": run_id,
                "checked_at": checked_at,
            }
            for result in run.results
        ]
    )
    countries = sorted(set(rows["country_iso3"]))
    return CHECK_RESULTS_TABLE, rows, {"table_name": [run.table], "country_iso3": countries}


def _current_run_id() -> str | None:
    """The Dagster run executing this write, if any (an import outside a run has none)."""
    if "dagster" not in sys.modules:
        # No run without Dagster loaded; importing it only to learn so costs 0.7 s of an
        # upload's load outside a run (`cmc upload`, the portal's worker).
        return None
    import dagster as dg

    try:
        return dg.OpExecutionContext.get().run_id
    except dg.DagsterInvariantViolationError:
        return None


def save_review(warehouse: Warehouse, report: LoadReport, *, source: str, table: str, countries: list[str]):
    """Replace the review list of ``source`` × ``table`` for ``countries`` with what this
    load found (an empty list clears values that have since been mapped)."""
    review = report.unmapped
    if review is None:
        return
    # The report may list several sources' values; each source's slice gets only its own.
    review = review[review["country_iso3"].isin(countries) & (review["source"] == source)]
    warehouse.ensure_tables([contract_for(REVIEW_TABLE)])
    warehouse.replace_slice(
        REVIEW_TABLE,
        review,
        {"source": [source], "table_name": [table], "country_iso3": countries},
    )
