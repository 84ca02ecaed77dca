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
from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.quality import RuleResult, offences_table, rules_for
from cmc_pipeline.steps.load_report import LoadReport

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


def check_events(context: dg.AssetExecutionContext, report: LoadReport) -> Iterator:
    """The check outputs Dagster expects from the step, then every rule's evaluation per
    partition (an ``AssetCheckResult`` cannot name its partition in a multi-partition run,
    an ``AssetCheckEvaluation`` can)."""
    for key in context.selected_asset_check_keys:
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
    if report.validation is None:
        return
    selected = {key.name for key in context.selected_asset_check_keys}
    asset_key = context.asset_key
    for result in report.validation.results:
        if result.rule.id in selected:
            yield evaluation(asset_key, result, report)


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
        metadata["offending_rows"] = dg.MetadataValue.md(offences_table(result.examples))
        metadata["first_offending_row"] = result.examples[0].describe()
    if result.note:
        metadata["note"] = result.note
    if result.blocks_promotion:
        metadata["promotion"] = "blocked: this partition's previous rows were kept"
    if run.great_expectations_result is not None:
        metadata["great_expectations_result"] = dg.MetadataValue.path(str(run.great_expectations_result))
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=result.rule.id,
        passed=result.passed,
        severity=SEVERITY[result.rule.severity],
        description=result.message(),
        metadata=metadata,
        partition=result.partition,
    )
