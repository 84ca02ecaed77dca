"""The rules a table's contract promises, read from its ODCS document.

Two families:

- **Structural rules**, derived from the contract's schema, one per promise the schema
  makes, with fixed ids: ``columns_match_contract`` (no column missing or extra),
  ``values_match_types`` (every value converts to the column's logical type),
  ``required_values_present`` (``required: true`` columns have a value) and
  ``primary_key_unique``. They are always errors.
- **Quality rules**, the contract's ``quality`` entries at table and property level, each
  with an ``id``, a ``severity`` (``error`` blocks promotion, ``warning`` records and goes
  on) and one of these forms:

  ========================================== ==========================================
  ``metric: invalidValues`` + ``validValues`` value in a list, or in a code list named by
  / ``validValuesReference``                 reference (see :func:`reference_values`)
  ``metric: invalidValues`` + ``pattern``    value matches a regular expression
  ``metric: nullValues``                     no empty value
  ``metric: duplicateValues``                property level: unique column; table level
                                             with ``arguments.properties``: unique
                                             combination (a compound key)
  ``type: custom``, ``engine:                ``expect_column_values_to_be_between`` with
  greatExpectations``                        ``min_value`` / ``max_value``: a value range
  ``type: sql``                              ``SELECT count(*) FROM {object} WHERE …`` or
                                             ``SELECT count(*) FROM (…offending rows…)``
  ========================================== ==========================================

  Every rule counts offending rows and compares the count with its operator (``mustBe:
  0`` unless it says ``mustBeLessThan``/``mustBeLessOrEqualTo``). SQL rules may also name
  ``{previous}``, the table's rows of the same slice as they were before this load, and
  any warehouse table by its qualified name (``core.dim_indicator``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.yaml_files import parse_yaml, read_yaml
from cmc_pipeline.settings import PROJECT_DIR

SEVERITIES = ("error", "warning")
COLUMNS_MATCH_CONTRACT = "columns_match_contract"
VALUES_MATCH_TYPES = "values_match_types"
REQUIRED_VALUES_PRESENT = "required_values_present"
PRIMARY_KEY_UNIQUE = "primary_key_unique"
STRUCTURAL_RULE_IDS = (
    COLUMNS_MATCH_CONTRACT,
    VALUES_MATCH_TYPES,
    REQUIRED_VALUES_PRESENT,
    PRIMARY_KEY_UNIQUE,
)

# What a value of each logical type must look like, in words a data officer understands.
TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a date and time (ISO 8601)",
}

_COUNT_WHERE = re.compile(
    r"^\s*select\s+count\(\s*\*\s*\)\s+from\s+\{object\}\s+where\s+(?P<where>.+?)\s*;?\s*$", re.I | re.S
)
_COUNT_OF = re.compile(
    r"^\s*select\s+count\(\s*\*\s*\)\s+from\s*\((?P<rows>.+)\)\s*(?:as\s+\w+)?\s*;?\s*$", re.I | re.S
)


class ContractRuleError(ValueError):
    """A contract's quality entry that the engine cannot run; names the contract and rule."""


@dataclass(frozen=True)
class Rule:
    """One promise of a contract, in a form both engines (DuckDB SQL, Great Expectations) run."""

    id: str
    name: str
    description: str
    severity: str
    table: str
    # columns | types | required | valid_values | pattern | not_null | unique | compound_unique
    # | between | sql
    kind: str
    columns: tuple[str, ...] = ()
    valid_values: frozenset[str] | None = None
    reference: str | None = None  # where valid_values come from, for messages
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    offending_rows_sql: str | None = None  # sql rules: a query returning the offending rows
    allowed_failures: int = 0  # the operator: at most this many offending rows
    dimension: str = ""
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def column(self) -> str | None:
        return self.columns[0] if len(self.columns) == 1 else None

    @property
    def great_expectations_can_run(self) -> bool:
        """Row-level rules Great Expectations expresses directly (the others run as SQL)."""
        return self.kind in ("required", "valid_values", "pattern", "not_null", "unique", "between")

    def expected(self, column: str | None = None, logical_type: str | None = None) -> str:
        """What a valid value looks like, for the person fixing the row."""
        if self.kind == "types":
            return TYPE_WORDS.get(logical_type or "", logical_type or "")
        if self.kind in ("required", "not_null"):
            return "a value (the column is required)"
        if self.kind == "valid_values":
            listed = sorted(v for v in (self.valid_values or ()) if v)
            if self.reference:
                return f"a code from {self.reference}"
            return "one of " + ", ".join(listed)
        if self.kind == "pattern":
            return f"text matching {self.pattern}"
        if self.kind == "between":
            low = "" if self.minimum is None else f"≥ {self.minimum:g}"
            high = "" if self.maximum is None else f"≤ {self.maximum:g}"
            return "a value " + " and ".join(p for p in (low, high) if p)
        if self.kind in ("unique", "compound_unique"):
            return "no other row with the same " + ", ".join(self.columns)
        return self.name


def _quality_entries(contract: TableContract) -> list[tuple[str | None, dict]]:
    """The contract's quality entries in order, each with its column (None: the table's)."""
    table_entries = [(None, q) for q in contract.quality]
    property_entries = [(c.name, q) for c in contract.columns for q in c.raw.get("quality") or ()]
    return table_entries + property_entries


def compares_with_previous(contract: TableContract) -> bool:
    """Whether a SQL rule of ``contract`` reads the slice's current rows (``{previous}``),
    without building every rule (which reads the code lists)."""
    return any(
        entry.get("type") == "sql" and "{previous}" in str(entry.get("query") or "")
        for _column, entry in _quality_entries(contract)
    )


def rules_for(contract: TableContract) -> list[Rule]:
    """Every rule of ``contract``: the structural ones, then its quality entries in order."""
    rules = _structural_rules(contract)
    for column, entry in _quality_entries(contract):
        if entry.get("type") == "text":
            continue  # a promise in words only; documented, not run
        rules.append(_quality_rule(contract, column, entry))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ContractRuleError(f"{contract.path.name}: rule id {rule.id!r} is used twice")
        seen.add(rule.id)
    return rules


def _structural_rules(contract: TableContract) -> list[Rule]:
    table = contract.table
    rules = [
        Rule(
            COLUMNS_MATCH_CONTRACT,
            "Columns match the contract",
            f"Exactly the columns of {contract.path.name}: none missing, none extra.",
            "error",
            table,
            "columns",
            columns=tuple(contract.column_names),
            dimension="conformity",
        ),
        Rule(
            VALUES_MATCH_TYPES,
            "Values match the column types",
            "Every value converts to its column's logical type (a number where a number is due).",
            "error",
            table,
            "types",
            columns=tuple(c.name for c in contract.columns if c.logical_type != "string"),
            dimension="conformity",
        ),
        Rule(
            REQUIRED_VALUES_PRESENT,
            "Required values present",
            "Columns marked required have a value in every row.",
            "error",
            table,
            "required",
            columns=tuple(c.name for c in contract.columns if c.required),
            dimension="completeness",
        ),
    ]
    if contract.primary_key:
        rules.append(
            Rule(
                PRIMARY_KEY_UNIQUE,
                "Primary key unique",
                "No two rows share the primary key (" + ", ".join(contract.primary_key) + ").",
                "error",
                table,
                "compound_unique",
                columns=tuple(contract.primary_key),
                dimension="uniqueness",
            )
        )
    return rules


def _quality_rule(contract: TableContract, column: str | None, entry: dict) -> Rule:
    where = f"{contract.path.name}, quality rule {entry.get('id') or entry.get('name') or '(no id)'}"
    if not entry.get("id"):
        raise ContractRuleError(f"{where}: every quality rule needs an id (the check is named after it)")
    severity = entry.get("severity")
    if severity not in SEVERITIES:
        raise ContractRuleError(f"{where}: severity must be one of {SEVERITIES}, not {severity!r}")
    base = {
        "id": entry["id"],
        "name": entry.get("name") or entry["id"],
        "description": " ".join(str(entry.get("description") or "").split()),
        "severity": severity,
        "table": contract.table,
        "columns": (column,) if column else (),
        "allowed_failures": _allowed_failures(entry, where),
        "dimension": entry.get("dimension", ""),
        "source": entry,
    }
    kind = entry.get("type") or "library"
    arguments = entry.get("arguments") or {}
    if kind == "library":
        metric = entry.get("metric") or entry.get("rule")
        if metric == "invalidValues" and column:
            if "pattern" in arguments:
                return Rule(kind="pattern", pattern=arguments["pattern"], **base)
            values, reference = _valid_values(arguments, where)
            return Rule(kind="valid_values", valid_values=values, reference=reference, **base)
        if metric == "nullValues" and column:
            return Rule(kind="not_null", **base)
        if metric == "duplicateValues" and column:
            return Rule(kind="unique", **base)
        if metric == "duplicateValues" and arguments.get("properties"):
            missing = [p for p in arguments["properties"] if p not in contract.column_names]
            if missing:
                raise ContractRuleError(f"{where}: properties {missing} are not columns of the contract")
            return Rule(kind="compound_unique", **{**base, "columns": tuple(arguments["properties"])})
        raise ContractRuleError(f"{where}: metric {metric!r} is not supported at this level")
    if kind == "custom" and str(entry.get("engine", "")).lower() in (
        "greatexpectations",
        "great-expectations",
    ):
        implementation = entry.get("implementation")
        if isinstance(implementation, str):
            implementation = parse_yaml(implementation)
        if (implementation or {}).get("type") != "expect_column_values_to_be_between":
            raise ContractRuleError(f"{where}: only expect_column_values_to_be_between is supported")
        kwargs = implementation.get("kwargs") or {}
        target = kwargs.get("column", column)
        if target not in contract.column_names:
            raise ContractRuleError(f"{where}: column {target!r} is not in the contract")
        return Rule(
            kind="between",
            minimum=kwargs.get("min_value"),
            maximum=kwargs.get("max_value"),
            **{**base, "columns": (target,)},
        )
    if kind == "sql":
        query = str(entry.get("query") or "")
        return Rule(kind="sql", offending_rows_sql=offending_rows_query(query, where), **base)
    raise ContractRuleError(f"{where}: rule type {kind!r} is not supported")


def offending_rows_query(query: str, where: str = "") -> str:
    """The query of a sql rule's offending rows, from its ODCS count query.

    ODCS sql rules return a number; to show the rows behind that number the engine runs
    the same selection without the count, so the rule's query must be one of the two
    counting forms documented in this module.
    """
    if match := _COUNT_WHERE.match(query):
        return "SELECT * FROM {object} WHERE " + match["where"]
    if match := _COUNT_OF.match(query):
        return match["rows"].strip()
    raise ContractRuleError(
        f"{where}: a sql rule must read `SELECT count(*) FROM {{object}} WHERE …` or "
        f"`SELECT count(*) FROM (…)`, got: {query.strip()[:120]}"
    )


def _allowed_failures(entry: dict, where: str) -> int:
    if "mustBe" in entry:
        return int(entry["mustBe"])
    if "mustBeLessThan" in entry:
        return int(entry["mustBeLessThan"]) - 1
    if "mustBeLessOrEqualTo" in entry:
        return int(entry["mustBeLessOrEqualTo"])
    if any(k.startswith("must") for k in entry):
        raise ContractRuleError(f"{where}: use mustBe, mustBeLessThan or mustBeLessOrEqualTo on the count")
    return 0


def reference_list(arguments: dict) -> list[str]:
    """A rule's ``validValuesReference``: one reference or a list of them, as a list."""
    references = arguments.get("validValuesReference") or []
    return [references] if isinstance(references, str) else list(references)


def _valid_values(arguments: dict, where: str) -> tuple[frozenset[str], str | None]:
    values = {str(v) for v in arguments.get("validValues") or ()}
    references = reference_list(arguments)
    for reference in references:
        try:
            values |= reference_values(reference)
        except (OSError, KeyError, ValueError) as exc:
            raise ContractRuleError(f"{where}: cannot read code list {reference!r}: {exc}") from exc
    if not values:
        raise ContractRuleError(f"{where}: invalidValues needs validValues or validValuesReference")
    return frozenset(values), "; ".join(references) or None


def reference_values(reference: str) -> frozenset[str]:
    """The set of values of a code list named by reference (see ``ordered_reference_values``)."""
    return frozenset(ordered_reference_values(reference))


@cache
def ordered_reference_values(reference: str) -> tuple[str, ...]:
    """The values of a code list named by reference, never copied into a contract.

    ``<file>#<column>`` with an optional row filter ``<file>?<column>=<value>#<column>``:
    ``cmc_pipeline/reference/countries.csv#iso3``,
    ``cmc_pipeline/sources/ilostat/ilo_codelists.csv?dimension=sex#code`` (the ILO's code
    lists, derived from its SDMX structure message), ``…?dimension=sex&exclude=_Z#code``
    without the codes named. A YAML catalogue is read as its list of entries
    (``cmc_pipeline/sources/worldbank/indicators.yaml#indicator_id``). ``iso3166-1#alpha_3``
    is the ISO 3166-1 country list itself (pycountry).
    """
    rows, column, excluded = _reference_rows(reference)
    # File order is kept: drop-down lists in templates show codes as the file lists them.
    codes = (str(r[column]) for r in rows if r.get(column) not in (None, ""))
    return tuple(dict.fromkeys(code for code in codes if code not in excluded))


# Where a code list keeps its English label: the ILO's and our CSV lists ``label``,
# countries.csv ``name_en``, pycountry ``name``.
LABEL_COLUMNS = ("label", "name_en", "name")


@cache
def reference_labels(reference: str) -> dict[str, str]:
    """Code → English label of the code list named by ``reference`` (as
    :func:`ordered_reference_values` reads it); empty where the list has no labels."""
    rows, column, excluded = _reference_rows(reference)
    labels = {}
    for row in rows:
        code = str(row.get(column) or "")
        label = next((str(row[c]) for c in LABEL_COLUMNS if row.get(c)), "")
        if code and label and code not in excluded:
            labels.setdefault(code, label)
    return labels


def _reference_rows(reference: str) -> tuple[list[dict], str, set[str]]:
    """The rows a reference selects, the column holding the codes, and the codes left out."""
    parts = urlsplit(reference)
    column = parts.fragment
    filters = dict(parse_qsl(parts.query))
    # ``exclude=<code>[,<code>…]`` leaves out codes of the authority's list that do not
    # apply to the column (the ILO's sex "_Z, not applicable" for counts of persons).
    excluded = set(filters.pop("exclude", "").split(",")) - {""}
    if not column:
        raise ValueError("the reference must name a column after '#'")
    if parts.path == "iso3166-1":
        import pycountry

        return [{column: getattr(c, column), "name": c.name} for c in pycountry.countries], column, excluded
    path = PROJECT_DIR / parts.path
    if path.suffix in (".yaml", ".yml"):
        document = read_yaml(path)
        (rows,) = (v for v in document.values() if isinstance(v, list))
    else:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    selected = [r for r in rows if all(str(r.get(k)) == v for k, v in filters.items())]
    if not selected:
        raise ValueError(f"no rows in {Path(parts.path).name} match {filters}")
    return selected, column, excluded
