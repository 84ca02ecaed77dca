"""Data quality: the rules of each table's contract, evaluated on rows before they are
promoted (plain Python, no Dagster), and the data dictionary generated from the contracts.

``validate(frame, contract, partition_column=…)`` returns a :class:`ValidationRun`: per
rule and partition, pass or fail, how many rows failed and a few of them with their line,
column, value and what was expected. The open-data loaders use it as the gate between
parsing and writing a country's rows; the national-upload validation uses it on a file
read as text (rows carry ``source_row_number``).
"""

from cmc_pipeline.lib.quality.engine import validate
from cmc_pipeline.lib.quality.results import Offence, RuleResult, ValidationRun, offences_table
from cmc_pipeline.lib.quality.rules import ContractRuleError, Rule, reference_values, rules_for

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
