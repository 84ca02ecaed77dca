"""Data contracts (ODCS v3 YAML under ``data_contracts/``): the single source of truth for
every table's columns, types and keys.

The warehouse DDL, the column order of every write, and the Dagster column schema are all
derived from here, so a table cannot drift from its contract without a test noticing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import CONTRACTS_DIR

# ODCS logical types → SQL types, per warehouse backend.
SQL_TYPES = {
    "duckdb": {
        "string": "VARCHAR",
        "integer": "BIGINT",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
    },
    "postgres": {
        "string": "TEXT",
        "integer": "BIGINT",
        "number": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
    },
}
PANDAS_DTYPES = {
    "string": "string",
    "integer": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "date": "datetime64[us]",
    "timestamp": "datetime64[us, UTC]",
}


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str
    description: str = ""
    required: bool = False
    unique: bool = False
    primary_key_position: int | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


# ODCS leaves SLA units free-form; these spellings are accepted, each mapped to its unit.
SLA_UNITS = {
    "d": "day", "day": "day", "days": "day",
    "w": "week", "week": "week", "weeks": "week",
    "m": "month", "mo": "month", "month": "month", "months": "month",
    "y": "year", "yr": "year", "year": "year", "years": "year",
}  # fmt: skip
# The longest a unit can last, so that a refresh on the same calendar day every month (or
# year) never counts as late.
LONGEST_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}


@dataclass(frozen=True)
class SlaPeriod:
    """An amount of calendar time from an ODCS ``slaProperties`` entry, e.g. 1 month."""

    value: int
    unit: str  # day, week, month or year

    @property
    def longest(self) -> timedelta:
        return timedelta(days=self.value * LONGEST_DAYS[self.unit])

    def __str__(self) -> str:
        return f"{self.value} {self.unit}{'' if self.value == 1 else 's'}"


@dataclass(frozen=True)
class ServiceLevels:
    """When a table is refreshed (``frequency``) and how late a refresh may be (``latency``).

    A table is stale once its last refresh is older than one refresh interval plus the
    latency: the schedules refresh every ``frequency``, the freshness checks allow both.
    """

    frequency: SlaPeriod
    latency: SlaPeriod

    @property
    def stale_after(self) -> timedelta:
        return self.frequency.longest + self.latency.longest


@dataclass(frozen=True)
class TableContract:
    contract_id: str
    version: str
    table: str  # schema-qualified physical name, e.g. core.fact_observation
    description: str
    columns: tuple[Column, ...]
    quality: tuple[dict, ...]
    custom_properties: dict
    path: Path
    document: dict = field(compare=False, repr=False, default_factory=dict)
    service_levels: ServiceLevels | None = None

    @property
    def schema_name(self) -> str:
        return self.table.split(".")[0]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def primary_key(self) -> list[str]:
        keyed = [c for c in self.columns if c.primary_key_position is not None]
        return [c.name for c in sorted(keyed, key=lambda c: c.primary_key_position)]

    @property
    def key_checked_before_load(self) -> bool:
        """The contract says every load is checked for duplicate keys before it is written
        and replaces whole slices, so the warehouse need not index the key to keep it.

        DuckDB keeps a primary key with an in-memory ART index that is rebuilt on every
        insert: for a million-row national upload that is ten times the insert itself
        (docs/benchmarks.md). PostgreSQL keeps the constraint, where it is cheap.
        """
        return self.custom_properties.get("primary_key_enforced_by") == "contract_check_before_load"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r} in its contract")

    def create_table_sql(self, backend: str = "duckdb") -> str:
        types = SQL_TYPES[backend]
        lines = [
            f'"{c.name}" {types[c.logical_type]}{" NOT NULL" if c.required else ""}' for c in self.columns
        ]
        if self.primary_key and not (backend == "duckdb" and self.key_checked_before_load):
            lines.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in self.primary_key) + ")")
        return f"CREATE TABLE IF NOT EXISTS {self.table} (\n  " + ",\n  ".join(lines) + "\n)"


def _sla_period(entry: dict, path: Path) -> SlaPeriod:
    unit = SLA_UNITS.get(str(entry.get("unit", "")).strip().lower())
    value = entry.get("value")
    if unit is None or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{path.name}: slaProperties {entry.get('property')!r} needs a whole number of days, "
            f"weeks, months or years (e.g. {{value: 1, unit: month}}), not {entry!r}"
        )
    return SlaPeriod(value, unit)


def _service_levels(document: dict, path: Path) -> ServiceLevels | None:
    entries = {e["property"]: e for e in document.get("slaProperties") or ()}
    if "frequency" not in entries:
        return None
    latency = entries.get("latency", {"property": "latency", "value": 1, "unit": "day"})
    return ServiceLevels(
        frequency=_sla_period(entries["frequency"], path), latency=_sla_period(latency, path)
    )


@cache  # one object per file, whether read with all the others or alone
def _parse(path: Path) -> TableContract:
    document = read_yaml(path)
    (obj,) = document["schema"]  # one table per contract, by convention
    columns = tuple(
        Column(
            name=p["name"],
            logical_type=p["logicalType"],
            description=p.get("description", ""),
            required=bool(p.get("required", False)),
            unique=bool(p.get("unique", False)),
            primary_key_position=p.get("primaryKeyPosition") if p.get("primaryKey") else None,
            raw=p,
        )
        for p in obj["properties"]
    )
    return TableContract(
        contract_id=document["id"],
        version=str(document["version"]),
        table=obj["physicalName"],
        description=obj.get("description", ""),
        columns=columns,
        quality=tuple(obj.get("quality") or ()),
        custom_properties={p["property"]: p["value"] for p in document.get("customProperties") or ()},
        path=path,
        document=document,
        service_levels=_service_levels(document, path),
    )


@cache
def all_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, TableContract]:
    """Every table contract, by physical table name."""
    contracts = {}
    for path in sorted(Path(directory).glob("*.odcs.yaml")):
        contract = _parse(path)
        contracts[contract.table] = contract
    return contracts


def contract_for(table: str) -> TableContract:
    if not all_contracts.cache_info().currsize:
        # A command that checks one table (``cmc validate``) reads only its contract, named
        # after the table by convention, rather than all of them. Once all are read, their
        # table is the one answer (what a test substitutes in it is what every caller sees).
        alone = _contract_named_after(table)
        if alone is not None:
            return alone
    try:
        return all_contracts()[table]
    except KeyError:
        raise KeyError(f"no data contract for table {table!r} in {CONTRACTS_DIR}") from None


@cache
def _contract_named_after(table: str) -> TableContract | None:
    path = CONTRACTS_DIR / f"{table}.odcs.yaml"
    if not path.is_file():
        return None
    contract = _parse(path)
    return contract if contract.table == table else None
