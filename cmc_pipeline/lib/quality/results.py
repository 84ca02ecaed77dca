"""What a validation found, rule by rule and partition by partition, in the words a data
officer or engineer acts on: which rule, how many rows, and a few of them with their
line, column, value and what was expected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmc_pipeline.lib.quality.rules import Rule

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Offence:
    """One offending row (or, for a table-level rule, one offending group)."""

    partition: str | None
    row: int | None  # the line in the source file, where the rows carry it
    column: str | None
    value: Any
    expected: str

    def describe(self) -> str:
        where = f"line {self.row}" if self.row is not None else "row"
        column = f", column {self.column!r}" if self.column else ""
        return f"{where}{column}: {_plain(self.value)!r} — expected {self.expected}"

    def as_record(self) -> dict:
        return {
            "partition": self.partition,
            "line": self.row,
            "column": self.column,
            "value": _plain(self.value),
            "expected": self.expected,
        }


@dataclass
class RuleResult:
    rule: Rule
    partition: str | None
    rows_checked: int
    failing_rows: int = 0
    examples: list[Offence] = field(default_factory=list)
    evaluated_by: str = "duckdb"  # duckdb | great_expectations | python
    note: str = ""  # why a rule could not run here, when it could not

    @property
    def passed(self) -> bool:
        return self.failing_rows <= self.rule.allowed_failures

    @property
    def blocks_promotion(self) -> bool:
        return not self.passed and self.rule.severity == "error"

    def message(self) -> str:
        where = f" for {self.partition}" if self.partition else ""
        if self.passed:
            return f"{self.rule.id} passed{where} ({self.rows_checked:,} rows checked)" + (
                f"; {self.note}" if self.note else ""
            )
        return (
            f"{self.rule.id} ({self.rule.severity}) failed{where}: {self.failing_rows:,} of "
            f"{self.rows_checked:,} rows — {self.rule.name}"
        )


@dataclass
class ValidationRun:
    """Every rule's result for every partition of one validated batch of rows."""

    table: str
    contract_version: str
    results: list[RuleResult]
    rows_checked: int
    great_expectations_result: Path | None = None
    # Per rule id, what Great Expectations reported for each of its expectations (shown in
    # the UI beside the check; the file above holds the whole validation result).
    great_expectations_summary: dict[str, list[dict]] = field(default_factory=dict)
    # The rows in the contract's types as the rules read them, when asked for and every
    # rule passed: what a loader writes, without converting the text a second time.
    typed_rows: pa.Table | None = field(default=None, repr=False, compare=False)

    @property
    def partitions(self) -> list[str | None]:
        return list(dict.fromkeys(r.partition for r in self.results))

    @property
    def blocked_partitions(self) -> list[str | None]:
        """Partitions failing an error-severity rule: their rows must not be promoted."""
        return list(dict.fromkeys(r.partition for r in self.results if r.blocks_promotion))

    @property
    def passed(self) -> bool:
        return not self.blocked_partitions

    def failures(self, severity: str | None = None) -> list[RuleResult]:
        return [r for r in self.results if not r.passed and (severity is None or r.rule.severity == severity)]

    def for_rule(self, rule_id: str) -> list[RuleResult]:
        return [r for r in self.results if r.rule.id == rule_id]

    def report_lines(self, limit_per_rule: int = 5) -> list[str]:
        """A plain-text account of every failure, for the command line."""
        lines = []
        for result in self.failures():
            lines.append(result.message())
            lines.extend(f"    {o.describe()}" for o in result.examples[:limit_per_rule])
        return lines


def offences_table(
    offences: Iterable[Offence],
    *,
    partition_label: str | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> str:
    """A markdown table of offending rows, for Dagster metadata: the line, then one column
    per value the rule shows (a rule over several columns, or an aggregate, shows each of
    its columns under its own name rather than as one record), then what was expected.
    ``partition_label`` adds the partition (e.g. "country") as the first column; ``labels``
    (column → code → label, from the contract's code lists) puts each code's label beside it."""
    labels = labels or {}

    def cell(column: str | None, value) -> str:
        text = _cell(value)
        label = labels.get(column or "", {}).get(text)
        return f"{text} ({label})" if label else text

    rows = list(offences)
    if not rows:
        return ""
    named = list(dict.fromkeys(k for o in rows if isinstance(o.value, dict) for k in o.value))
    single = any(not isinstance(o.value, dict) for o in rows)
    columns = (["column", "value"] if single else []) + named
    header = ([partition_label] if partition_label else []) + ["line", *columns, "expected"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for o in rows:
        cells = [o.partition or ""] if partition_label else []
        cells.append("" if o.row is None else o.row)
        if single:
            cells += [o.column or "", "" if isinstance(o.value, dict) else cell(o.column, o.value)]
        values = o.value if isinstance(o.value, dict) else {}
        cells += [cell(k, values[k]) if k in values else "" for k in named]
        cells.append(o.expected)
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    plain = _plain(value)
    return "" if plain is None else str(plain)


def _plain(value: Any) -> Any:
    """JSON-friendly scalars (numpy and pandas scalars become Python ones)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
