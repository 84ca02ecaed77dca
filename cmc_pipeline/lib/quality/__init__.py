"""Data quality: the rules of each table's contract, evaluated on rows before they are
promoted (plain Python, no Dagster), and the data dictionary generated from the contracts.

``validate(frame, contract, partition_column=…)`` returns a :class:`ValidationRun`: per
rule and partition, pass or fail, how many rows failed and a few of them with their line,
column, value and what was expected. The open-data loaders use it as the gate between
parsing and writing a country's rows; the national-upload validation uses it on a file
read as text (rows carry ``source_row_number``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmc_pipeline.lib.quality.results import Offence, RuleResult, ValidationRun, offences_table
from cmc_pipeline.lib.quality.rules import ContractRuleError, Rule, reference_values, rules_for

if TYPE_CHECKING:
    from cmc_pipeline.lib.quality.engine import validate


def __getattr__(name: str):
    # The engine (numpy, pyarrow, DuckDB) is imported when rows are first checked, not
    # with the Dagster definitions, which only name the rules and their results.
    if name == "validate":
        from cmc_pipeline.lib.quality.engine import validate

        return validate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ContractRuleError",
    "Offence",
    "Rule",
    "RuleResult",
    "ValidationRun",
    "offences_table",
    "reference_values",
    "rules_for",
    "validate",
]
