"""Great Expectations 1.x: the contract's row-level rules as an expectation suite.

The suite is built from the same rules the DuckDB engine runs (each expectation carries
its rule id in ``meta``), validated in an ephemeral context, and its validation result is
kept as a JSON file an engineer can open from the Dagster check. Importing Great
Expectations costs about 2 s and 300 MB, so it happens here, inside the function, and
only when a validation actually asks for it; analytics stay off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.quality.results import Offence

PART = "__partition"
ROW = "__row_number"


def build_suite(contract: TableContract, units) -> object:
    """An ``ExpectationSuite`` with one expectation per rule and column."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"{contract.table} {contract.version}")
    for unit in units:
        rule = unit.rule
        meta = {"rule_id": rule.id, "severity": rule.severity, "contract": contract.path.name}
        if rule.kind in ("required", "not_null"):
            expectation = gxe.ExpectColumnValuesToNotBeNull(column=unit.column, meta=meta)
        elif rule.kind == "valid_values":
            expectation = gxe.ExpectColumnValuesToBeInSet(
                column=unit.column, value_set=sorted(rule.valid_values or ()), meta=meta
            )
        elif rule.kind == "pattern":
            expectation = gxe.ExpectColumnValuesToMatchRegex(
                column=unit.column, regex=rule.pattern, meta=meta
            )
        elif rule.kind == "between":
            expectation = gxe.ExpectColumnValuesToBeBetween(
                column=unit.column, min_value=rule.minimum, max_value=rule.maximum, meta=meta
            )
        elif rule.kind == "unique":
            expectation = gxe.ExpectColumnValuesToBeUnique(column=unit.column, meta=meta)
        else:
            raise ValueError(f"rule {rule.id} ({rule.kind}) has no Great Expectations form")
        suite.add_expectation(expectation)
    return suite


def run_suite(
    frame: pd.DataFrame,
    contract: TableContract,
    units,
    *,
    counts: dict,
    found: dict,
    examples: int,
    result_path: Path | None,
    summaries: dict | None = None,
) -> Path | None:
    """Validate ``frame`` (typed, with partition and row columns) and add what failed to
    ``counts``/``found`` by rule and partition; write the validation result to ``result_path``.
    ``summaries`` receives, per rule id, what Great Expectations reported for each of the
    rule's expectations: the part of the result the Dagster UI shows beside the check."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("rows")
        .add_dataframe_asset(contract.table)
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(build_suite(contract, units))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [PART, ROW]},
    )
    for expectation_result in result.results:
        rule_id = expectation_result.expectation_config.meta["rule_id"]
        unit = next(u for u in units if u.rule.id == rule_id and u.column == _column(expectation_result))
        expected = unit.rule.expected(unit.column)
        if expectation_result.exception_info and expectation_result.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"Great Expectations could not run rule {rule_id} on {unit.column}: "
                f"{expectation_result.exception_info.get('exception_message')}"
            )
        if summaries is not None:
            summaries.setdefault(rule_id, []).append(_summary(expectation_result, result.statistics))
        by_partition: dict = {}
        for index in expectation_result.result.get("unexpected_index_list") or []:
            partition = None if pd.isna(index.get(PART)) else index.get(PART)
            by_partition.setdefault(partition, []).append(index)
        for partition, offending in by_partition.items():
            counts[(rule_id, partition)] += len(offending)
            offending.sort(key=lambda i: (pd.isna(i.get(ROW)), i.get(ROW) or 0))
            for index in offending[:examples]:
                row = index.get(ROW)
                found[(rule_id, partition)].append(
                    Offence(
                        partition,
                        None if pd.isna(row) else int(row),
                        unit.column,
                        index.get(unit.column),
                        expected,
                    )
                )
    if result_path is None:
        return None
    result_path = Path(result_path)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result.to_json_dict(), indent=1, default=str), encoding="utf-8")
    return result_path


def _column(expectation_result) -> str:
    return expectation_result.expectation_config.kwargs["column"]


def _summary(expectation_result, statistics: dict) -> dict:
    """One expectation's result as a reader of the check needs it, without the full list of
    offending indexes (the rule's own offending rows show those)."""
    details = expectation_result.result or {}
    return {
        "expectation": expectation_result.expectation_config.type,
        "column": _column(expectation_result),
        "success": bool(expectation_result.success),
        "element_count": details.get("element_count"),
        "unexpected_count": details.get("unexpected_count"),
        "unexpected_percent": details.get("unexpected_percent"),
        "partial_unexpected_list": [str(v) for v in (details.get("partial_unexpected_list") or [])[:10]],
        "suite_statistics": {
            k: statistics.get(k) for k in ("evaluated_expectations", "successful_expectations")
        },
    }
