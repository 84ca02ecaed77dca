"""Great Expectations 1.x: the contract's row-level rules as an expectation suite.

The suite is built from the same rules the DuckDB engine runs (each expectation carries
its rule id in ``meta``), validated in an ephemeral context, and its validation result is
kept as a JSON file an engineer can open from the Dagster check. Importing Great
Expectations costs about 2 s and 300 MB, so it happens here, inside the function, and
only when a validation actually asks for it; analytics stay off.

A validation's outcome is a function of the rows and the suite alone, so it is kept
under a fingerprint of both (``settings.cache_dir()/great_expectations/<table>/``),
naming its result file: a batch identical to
one already validated against the same suite (a rebuild from unchanged snapshots, a
scheduled refresh whose source did not move) takes that outcome and names the result
file it came from, instead of importing Great Expectations and validating again — in a
warm build, most of the time spent in Great Expectations (docs/benchmarks.md, "Build").
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from cmc_pipeline import settings
from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.digests import frame_digest
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.quality.results import Offence
from cmc_pipeline.lib.raw_store import write_atomically

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
    fingerprint = rows_and_suite_fingerprint(frame, contract, units, examples)
    outcome_file = (
        None
        if result_path is None
        else settings.cache_dir() / "great_expectations" / contract.table / f"{fingerprint}.json"
    )
    outcome = _kept_outcome(outcome_file)
    if outcome is not None:
        _apply_outcome(outcome, counts, found, summaries)
        return Path(outcome["result_file"])

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    validated_at = datetime.now(UTC).isoformat(timespec="seconds")
    counts_before = dict(counts)
    found_before = {key: len(offences) for key, offences in found.items()}
    own_summaries: dict[str, list[dict]] = {}
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
        own_summaries.setdefault(rule_id, []).append(
            _summary(expectation_result, result.statistics, result_path, validated_at)
        )
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
    if summaries is not None:
        for rule_id, rule_summaries in own_summaries.items():
            summaries.setdefault(rule_id, []).extend(rule_summaries)
    if result_path is None:
        return None
    result_path = Path(result_path)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result.to_json_dict(), indent=1, default=str), encoding="utf-8")
    _keep_outcome(
        outcome_file,
        {
            "result_file": str(result_path),
            "counts": [
                [rule, part, n - counts_before.get((rule, part), 0)]
                for (rule, part), n in counts.items()
                if n != counts_before.get((rule, part), 0)
            ],
            "found": [
                [rule, part, [o.as_record() for o in offences[found_before.get((rule, part), 0) :]]]
                for (rule, part), offences in found.items()
                if len(offences) > found_before.get((rule, part), 0)
            ],
            "summaries": own_summaries,
        },
    )
    return result_path


# Bump when what an outcome file holds changes: older files are then simply not found.
OUTCOME_FORMAT = "2"


def rows_and_suite_fingerprint(frame: pd.DataFrame, contract: TableContract, units, examples: int) -> str:
    """A digest of what the suite reads of the rows and of the suite as the rules define
    it, with Great Expectations' version: equal digests mean Great Expectations would
    report the same. What it reads: each row's partition and line, the values of every
    column an expectation tests, and of a column only tested for missing values (a load
    time, say, that differs on every run) whether each value is missing."""
    suite = [
        [
            u.rule.id,
            u.rule.kind,
            u.rule.severity,
            u.column,
            sorted(u.rule.valid_values or ()),
            u.rule.pattern,
            u.rule.minimum,
            u.rule.maximum,
            u.rule.expected(u.column),  # the words an offence is reported with
        ]
        for u in units
    ]
    read = {PART: frame[PART], ROW: frame[ROW]}
    for column in dict.fromkeys(u.column for u in units):
        only_missing = all(u.rule.kind in NULL_ONLY for u in units if u.column == column)
        read[column] = frame[column].isna() if only_missing else frame[column]
    read = pd.DataFrame(read)
    key = [
        OUTCOME_FORMAT,
        version("great_expectations"),
        contract.table,
        contract.version,
        examples,
        suite,
        frame_digest(read),
    ]
    return hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()


# Rules whose expectation reads only whether a value is missing.
NULL_ONLY = ("required", "not_null")


def _kept_outcome(outcome_file: Path | None) -> dict | None:
    """The outcome kept for these rows and suite, if its result file is still there."""
    if outcome_file is None or not outcome_file.exists():
        return None
    try:
        outcome = json.loads(outcome_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged file: validate again (and write it anew)
    return outcome if Path(outcome.get("result_file", "")).exists() else None


def _apply_outcome(outcome: dict, counts: dict, found: dict, summaries: dict | None) -> None:
    for rule, part, n in outcome["counts"]:
        counts[(rule, part)] += n
    for rule, part, records in outcome["found"]:
        found[(rule, part)].extend(
            Offence(r["partition"], r["line"], r["column"], r["value"], r["expected"]) for r in records
        )
    if summaries is not None:
        for rule_id, rule_summaries in outcome["summaries"].items():
            summaries.setdefault(rule_id, []).extend(rule_summaries)


def _keep_outcome(outcome_file: Path | None, outcome: dict) -> None:
    if outcome_file is not None:
        write_atomically(outcome_file, json.dumps(outcome, default=str).encode("utf-8"))


def _column(expectation_result) -> str:
    return expectation_result.expectation_config.kwargs["column"]


def _summary(expectation_result, statistics: dict, result_path, validated_at: str) -> dict:
    """One expectation's result as a reader of the check needs it, without the full list of
    offending indexes (the rule's own offending rows show those), with when Great
    Expectations ran it and the file its whole result is in (a reused outcome keeps both)."""
    details = expectation_result.result or {}
    return {
        "validated_at": validated_at,
        "result_file": None if result_path is None else Path(result_path).name,
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
