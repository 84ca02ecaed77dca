"""Contract rules as Dagster asset checks: one check per rule id, evaluated per partition.

A run covers many countries at once (single-run backfills), so Dagster's ``blocking``
checks would hold back every country's downstream step when one fails. The gate is in
the loading step instead (see ``steps/gate.py``): a country failing an error rule is
not written, and its previous rows stay. The checks report that: one evaluation per rule
and country, error or warning severity from the contract, with the failing row count, a
few offending rows and a link to the Great Expectations validation result.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from functools import cache

import dagster as dg

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.quality import RuleResult, offences_table, rules_for
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import REVIEW_TABLE

SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warning": dg.AssetCheckSeverity.WARN}


def check_specs_for(
    table: str, asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None = None
) -> list[dg.AssetCheckSpec]:
    """One check per rule of the table's contract, named after the rule id."""
    contract = contract_for(table)
    with warnings.catch_warnings():
        # Partitioned check specs are a preview feature of Dagster 1.13; they are what lets
        # the UI show a rule's status country by country.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                name=rule.id,
                asset=asset_key,
                description=f"[{rule.severity}] {rule.name}. {rule.description}".strip(),
                partitions_def=partitions_def,
                metadata={"contract": contract.path.name, "severity": rule.severity},
            )
            for rule in rules_for(contract)
        ]


def contract_checks(table: str, partitions_def: dg.PartitionsDefinition | None = None) -> list:
    """The checks of a table asset whose key is its table name (``core.x`` → core/x)."""
    return check_specs_for(table, dg.AssetKey(table.split(".")), partitions_def)


def materialized_with_checks(context: dg.AssetExecutionContext, report: LoadReport) -> Iterator:
    """A table asset's materialisation, then each rule of its contract as checked on the
    way in (see :func:`check_events`)."""
    from cmc_pipeline.defs.metadata import materialize_result

    yield materialize_result(report)
    yield from check_events(context, report)


def on_latest_materialization(
    context: dg.AssetExecutionContext, evaluations: Iterable[dg.AssetCheckEvaluation]
) -> Iterator[dg.AssetCheckEvaluation]:
    """Each evaluation tied to the materialization it checked (of its partition, if any):
    the UI counts a check's status for a partition only while it refers to that
    partition's latest materialization, so a partition's status (the Partitions tab, the
    worst of a batch) shows only when this is set. Dagster sets it for an
    ``AssetCheckResult``; an ``AssetCheckEvaluation`` naming its partition must carry it.
    Looked up once per asset, after the step has written its materializations."""
    from dagster_shared.record import copy

    latest: dict[dg.AssetKey, dict] = {}
    for item in evaluations:
        if not isinstance(item, dg.AssetCheckEvaluation):
            yield item
            continue
        if item.asset_key not in latest:
            latest[item.asset_key] = _latest_materializations(context, item.asset_key)
        targets = latest[item.asset_key]
        target = targets.get(item.partition) or (
            next(iter(targets.values()), None) if item.partition is None else None
        )
        if target is None:
            yield item
            continue
        yield copy(item, target_materialization_data=target)


def _latest_materializations(context: dg.AssetExecutionContext, asset_key: dg.AssetKey) -> dict:
    """The latest materialization of each of the step's partitions of ``asset_key`` (the
    key ``None`` for an unpartitioned asset), newest first, as check targets. The step's
    own materializations are known to the run history's storage of this process, when it
    is ours (``instance_storage.py``); otherwise, or for a partition it did not store,
    they are read back from the index."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData as Target,
    )
    from dagster._core.storage.event_log.base import AssetRecordsFilter

    # A table written whole (a dimension, a mart) has one materialization per run, even
    # in a run over a range of countries.
    partitioned = context.assets_def.partitions_def is not None and (
        context.has_partition_key_range or context.has_partition_key
    )
    partitions = context.partition_keys if partitioned else []
    stored_here = getattr(context.instance.event_log_storage, "materializations_stored_here", None)
    if stored_here is not None:
        known = stored_here(asset_key, partitions or [None])
        if len(known) == len(partitions or [None]):
            newest_first = sorted(known.items(), key=lambda item: -item[1][0])
            return {
                partition: Target(storage_id=storage_id, run_id=run_id, timestamp=timestamp)
                for partition, (storage_id, run_id, timestamp) in newest_first
            }
    found = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions or None),
        limit=max(1, 2 * len(partitions)),
    ).records
    targets: dict = {}
    for record in found:  # newest first: keep each partition's latest
        partition = record.event_log_entry.asset_materialization.partition
        if partition not in targets:
            targets[partition] = Target(
                storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp
            )
    return targets


def check_events(
    context: dg.AssetExecutionContext, report: LoadReport, asset_key: dg.AssetKey | None = None
) -> Iterator:
    """The check outputs Dagster expects from the step, then every rule's evaluation per
    partition (an ``AssetCheckResult`` cannot name its partition in a multi-partition run,
    an ``AssetCheckEvaluation`` can), each tied to the materialization it checked.
    ``asset_key`` names the table in a step that writes several; the step yields its
    materializations first."""
    yield from on_latest_materialization(context, _check_events(context, report, asset_key))


def _check_events(
    context: dg.AssetExecutionContext, report: LoadReport, asset_key: dg.AssetKey | None
) -> Iterator:
    asset_key = asset_key or context.asset_key
    selected = {key.name for key in context.selected_asset_check_keys if key.asset_key == asset_key}
    for key in context.selected_asset_check_keys:
        if key.asset_key == asset_key:
            yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
    if REVIEW_CHECK in selected:
        yield from review_evaluations(asset_key, report)
    if report.validation is None:
        return
    spec = context.assets_def.specs_by_key.get(asset_key)
    if spec is not None and spec.partitions_def is None and context.assets_def.partitions_def is None:
        # A table written whole but checked country by country (a mart): Dagster has one
        # status per check, so each rule gets one evaluation that names every country it
        # failed for, with each country's figures beside it.
        for rule_id in dict.fromkeys(r.rule.id for r in report.validation.results):
            if rule_id in selected:
                yield combined_evaluation(asset_key, report.validation.for_rule(rule_id), report)
        return
    for result in report.validation.results:
        if result.rule.id in selected:
            yield evaluation(asset_key, result, report)


# --- the review list of unmapped values --------------------------------------------------

REVIEW_CHECK = "no_unmapped_values"


def review_check_spec(asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name=REVIEW_CHECK,
            asset=asset_key,
            description=(
                "[warning] Every published code maps to a code list. A value that does not holds "
                f"back its country × indicator slice (previous rows kept) and is listed in {REVIEW_TABLE}."
            ),
            partitions_def=partitions_def,
            metadata={"review_table": REVIEW_TABLE, "severity": "warning"},
        )


def review_evaluations(asset_key: dg.AssetKey, report: LoadReport) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per country of the batch: passed when nothing was held back."""
    review = report.unmapped if report.unmapped is not None else None
    for country in report.countries:
        rows = review[review["country_iso3"] == country] if review is not None else None
        held = 0 if rows is None else len(rows[["source", "slice"]].drop_duplicates())
        metadata: dict = {
            "values_without_mapping": 0 if rows is None else len(rows),
            "slices_held_back": held,
        }
        if held:
            shown = rows[["source", "slice", "column_name", "value", "row_count", "file", "first_line"]]
            metadata["review"] = dg.MetadataValue.md(shown.head(20).to_markdown(index=False))
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=REVIEW_CHECK,
            passed=held == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "every value mapped"
                if held == 0
                else f"{held} slice(s) held back for values with no mapping (see {REVIEW_TABLE})"
            ),
            metadata=metadata,
            partition=country,
        )


def evaluation(asset_key: dg.AssetKey, result: RuleResult, report: LoadReport) -> dg.AssetCheckEvaluation:
    """One rule's result for one partition, as Dagster records it."""
    run = report.validation
    metadata: dict = {
        "rule": result.rule.name,
        "severity": result.rule.severity,
        "rows_checked": result.rows_checked,
        "failing_rows": result.failing_rows,
        "evaluated_by": result.evaluated_by,
        "contract_version": run.contract_version,
    }
    if result.examples:
        metadata["offending_rows"] = dg.MetadataValue.md(
            offences_table(result.examples, labels=code_labels(result.rule.table))
        )
        metadata["first_offending_row"] = result.examples[0].describe()
    if result.note:
        metadata["note"] = result.note
    if result.blocks_promotion:
        metadata["promotion"] = "blocked: this partition's previous rows were kept"
    metadata.update(great_expectations_metadata(run, result.rule.id))
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=result.rule.id,
        passed=result.passed,
        severity=SEVERITY[result.rule.severity],
        description=result.message(),
        metadata=metadata,
        partition=result.partition,
    )


def combined_evaluation(
    asset_key: dg.AssetKey, results: list[RuleResult], report: LoadReport
) -> dg.AssetCheckEvaluation:
    """One rule's results for every country (or area) of a table checked country by country
    but materialised whole: failed if it failed anywhere, and says where."""
    run, rule = report.validation, results[0].rule
    failed = [r for r in results if not r.passed]
    where = ", ".join(f"{r.partition or 'the table'} ({r.failing_rows:,} rows)" for r in failed)
    checked = sum(r.rows_checked for r in results)
    metadata: dict = {
        "rule": rule.name,
        "severity": rule.severity,
        "rows_checked": checked,
        "failing_rows": sum(r.failing_rows for r in results),
        "evaluated_by": results[0].evaluated_by,
        "contract_version": run.contract_version,
        "failed_for": ", ".join(str(r.partition or "the table") for r in failed) or "none",
    }
    if where:
        metadata["failing_rows_by_country"] = where
    if any(r.partition for r in results):
        metadata["results_by_country"] = dg.MetadataValue.md(
            "| country | rows checked | rows failed | kept previous rows |\n|---|---|---|---|\n"
            + "\n".join(
                f"| {r.partition} | {r.rows_checked:,} | {r.failing_rows:,} | {kept} |"
                for r in results
                for kept in ["yes" if r.blocks_promotion else ""]
            )
        )
    examples = [o for r in failed for o in r.examples][:20]
    if examples:
        metadata["offending_rows"] = dg.MetadataValue.md(
            offences_table(examples, partition_label="country", labels=code_labels(rule.table))
        )
        metadata["first_offending_row"] = f"{failed[0].partition or ''} {examples[0].describe()}".strip()
    notes = sorted({r.note for r in results if r.note})
    if notes:
        metadata["note"] = "; ".join(notes)
    metadata.update(great_expectations_metadata(run, rule.id))
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=rule.id,
        passed=not failed,
        severity=SEVERITY[rule.severity],
        description=(
            f"{rule.id} passed ({checked:,} rows checked)"
            if not failed
            else f"{rule.id} ({rule.severity}) failed for {where} — {rule.name}"
        ),
        metadata=metadata,
    )


@cache
def code_labels(table: str) -> dict[str, dict[str, str]]:
    """Column → code → label for the table's coded columns (its contract's code lists)."""
    from cmc_pipeline.lib.labels import column_labels

    return column_labels(contract_for(table))


def great_expectations_metadata(run, rule_id: str) -> dict:
    """What Great Expectations reported for the rule, readable in the UI, and where its
    whole validation result is kept."""
    metadata: dict = {}
    summary = run.great_expectations_summary.get(rule_id)
    if summary:
        metadata["great_expectations"] = dg.MetadataValue.json({"expectations": summary})
    if run.great_expectations_result is not None:
        metadata["great_expectations_result"] = dg.MetadataValue.path(str(run.great_expectations_result))
    return metadata
