"""Validate rows against their contract: every rule, per partition, with offending rows.

The rows are checked in an in-memory DuckDB over the DataFrame or Arrow table (no copy
into a database file): simple row rules are counted together in one scan, rules that
compare rows with each other (uniqueness, SQL rules) run as their own queries, and
examples of offending rows are fetched only for rules that failed. Rows may arrive as text (a file as read):
each value is first tested against its column's type, then checked in that type.

Great Expectations runs the row-level rules it expresses (see :mod:`.gx_suite`)
when ``engine`` asks for it, or with ``engine="auto"`` for batches up to
``CMC_GX_MAX_ROWS`` rows; above that DuckDB runs every rule, which keeps a million-row
check within 3× of the time to read the rows (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.quality.results import Offence, RuleResult, ValidationRun
from cmc_pipeline.lib.quality.rules import Rule, rules_for

ENGINES = ("auto", "duckdb", "great_expectations")
ROW = "__row_number"
PART = "__partition"
AS_READ = "rows_as_read"
UNDER_CHECK = "rows_under_check"
PREVIOUS = "previous_rows"
# Beside each typed column that was read as text: whether the text held a value. The
# rules on text as read (a value of the wrong type, a missing one) read these flags in the
# same scan as every other row rule, instead of a scan of their own over the text.
GIVEN = "__given_"
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}
_WAREHOUSE_TABLE = re.compile(r"\b(staging|core|marts|quality)\.([a-z_][a-z0-9_]*)\b")


# One in-memory DuckDB database per thread, and a connection (a cursor) of it per check:
# opening a database costs about 15 ms, a build checks some 40 tables, and a cursor is
# free. The rows registered and the tables a check types are the cursor's own (DuckDB's
# temporary tables and registered objects are private to a connection) and go with it.
# A large batch (a national upload of a million rows) gets a database of its own, closed
# with the check: a database kept open keeps the memory it grew to.
_SCRATCH = threading.local()
SHARED_SCRATCH_MAX_ROWS = 100_000


def _scratch_connection(rows: int):
    import duckdb

    if rows > SHARED_SCRATCH_MAX_ROWS:
        return duckdb.connect()
    database = getattr(_SCRATCH, "database", None)
    if database is None:
        database = _SCRATCH.database = duckdb.connect()
    return database.cursor()


def gx_max_rows() -> int:
    """Largest batch Great Expectations checks under ``engine="auto"`` (``CMC_GX_MAX_ROWS``)."""
    return int(os.environ.get("CMC_GX_MAX_ROWS", "200000"))


@dataclass(frozen=True)
class _Unit:
    """One predicate of a rule on one column (a rule over many columns has many units)."""

    rule: Rule
    column: str | None
    predicate: str  # SQL, true for an offending row
    relation: str  # the table the predicate reads
    logical_type: str | None = None
    # A code list the predicate looks values up in, as a table: a join on a few hundred
    # codes is several times faster than a literal IN list over a million rows.
    codes_table: str | None = None
    codes: tuple[str, ...] = ()
    # A rule judged on the text as read (counted through the flags above): its examples
    # show the text, found by this predicate over the rows as read.
    text_predicate: str | None = None


Rows = "pd.DataFrame | pa.Table"  # for annotations only


def validate(
    data: Rows | Sequence[Rows],
    contract: TableContract,
    *,
    partition_column: str | None = None,
    partitions: Sequence[str] | None = None,
    row_number_column: str = "source_row_number",
    previous: pd.DataFrame | None = None,
    tables: Callable[[str], pd.DataFrame] | None = None,
    engine: str = "auto",
    great_expectations_result: Path | None = None,
    examples: int = 5,
    keep_typed_rows: bool = False,
    text_trimmed: bool = False,
) -> ValidationRun:
    """Check ``data`` against every rule of ``contract``.

    ``data`` is one frame or several parts (e.g. one per file or response), pandas
    DataFrames or Arrow tables (a large file stays in Arrow, read by DuckDB in place):
    columns are compared with the contract part by part, so one file missing a column
    blocks the partitions it covers and no others. ``partition_column`` (e.g.
    ``country_iso3``) splits every result by partition; ``partitions`` lists the ones
    expected even if they have no rows. ``row_number_column`` carries each row's line in its source file.
    ``previous`` is the table's current rows for the same slice (for SQL rules naming
    ``{previous}``) and ``tables`` reads a warehouse table for rules that name one.
    With ``keep_typed_rows``, a batch that passes every error rule comes back with its
    rows in the contract's types (``ValidationRun.typed_rows``), ready to load.
    ``text_trimmed`` says no text cell has spaces around it (the upload readers strip them),
    so that typing the rows need not trim each cell again (a third of its time).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    rules = rules_for(contract)
    parts = [data] if isinstance(data, pd.DataFrame | pa.Table) else list(data)
    structure = next(r for r in rules if r.kind == "columns")
    whole_parts, broken = _compare_columns(parts, contract, structure, partition_column, row_number_column)
    rows = _combine(whole_parts, contract, partition_column, row_number_column)
    counts: dict[tuple[str, str | None], int] = defaultdict(int)
    found: dict[tuple[str, str | None], list[Offence]] = defaultdict(list)
    evaluated_by: dict[str, str] = {}
    notes: dict[str, str] = {}
    for offence_partition, offences, failing in broken:
        counts[(structure.id, offence_partition)] += failing
        found[(structure.id, offence_partition)].extend(offences)

    connection = _scratch_connection(len(rows))
    try:
        connection.register(AS_READ, rows)
        text_columns = _text_columns(connection)
        rows_per_partition = dict(
            connection.execute(f"SELECT {PART}, count(*) FROM {AS_READ} GROUP BY {PART}").fetchall()
        )
        expected_partitions = _partition_list(rows_per_partition, broken, partitions, partition_column)
        connection.execute(_typed_table_sql(rows, contract, text_columns, text_trimmed))
        units = _row_units(rules, rows, contract, text_columns)
        use_gx = engine == "great_expectations" or (engine == "auto" and len(rows) <= gx_max_rows())
        gx_units = [
            u
            for u in units
            if use_gx
            and u.rule.great_expectations_can_run
            and u.relation == UNDER_CHECK
            and not u.text_predicate
        ]
        sql_units = [u for u in units if u not in gx_units]
        _count_units(connection, sql_units, counts, found, examples)
        for unit in sql_units:
            evaluated_by[unit.rule.id] = "duckdb"
        for rule in rules:
            if rule.kind in ("unique", "compound_unique") and not (
                use_gx and rule.great_expectations_can_run
            ):
                _check_duplicates(connection, rule, counts, found, examples)
                evaluated_by[rule.id] = "duckdb"
            elif rule.kind == "sql":
                note = _check_sql(
                    connection,
                    rule,
                    previous,
                    tables,
                    (partition_column, row_number_column),
                    counts,
                    found,
                    examples,
                )
                evaluated_by[rule.id] = "duckdb"
                if note:
                    notes[rule.id] = note
        gx_path = None
        gx_summaries: dict[str, list[dict]] = {}
        if gx_units:
            from cmc_pipeline.lib.quality.gx_suite import run_suite

            checked = [_quote(c) for c in contract.column_names if c in _column_names(rows)]
            typed = connection.execute(f"SELECT {', '.join(checked)}, {ROW}, {PART} FROM {UNDER_CHECK}").df()
            gx_path = run_suite(
                typed,
                contract,
                gx_units,
                counts=counts,
                found=found,
                examples=examples,
                result_path=great_expectations_result,
                summaries=gx_summaries,
            )
            for unit in gx_units:
                evaluated_by[unit.rule.id] = "great_expectations"
        typed = None
        if keep_typed_rows and not broken:
            # In the order read (DuckDB keeps insertion order), without the engine's columns.
            columns = ", ".join(_quote(c) for c in contract.column_names if c in _column_names(rows))
            typed = connection.sql(f"SELECT {columns} FROM {UNDER_CHECK}").to_arrow_table()
    finally:
        connection.close()

    for partition, _offences, failing in broken:
        rows_per_partition[partition] = rows_per_partition.get(partition, 0) + failing
    results = []
    for rule in rules:
        for partition in expected_partitions:
            key = (rule.id, partition)
            results.append(
                RuleResult(
                    rule=rule,
                    partition=partition,
                    rows_checked=int(rows_per_partition.get(partition, 0)),
                    failing_rows=int(counts.get(key, 0)),
                    examples=sorted(found.get(key, []), key=lambda o: (o.row is None, o.row or 0))[:examples],
                    evaluated_by="python" if rule.kind == "columns" else evaluated_by.get(rule.id, "duckdb"),
                    note=notes.get(rule.id, ""),
                )
            )
    run = ValidationRun(
        table=contract.table,
        contract_version=contract.version,
        results=results,
        rows_checked=sum(len(p) for p in parts),
        great_expectations_result=gx_path,
        great_expectations_summary=gx_summaries,
    )
    run.typed_rows = typed if run.passed else None
    return run


# --- load: columns, parts, types ---------------------------------------------------------


def _compare_columns(parts, contract, rule, partition_column, row_number_column):
    """Parts whose columns match the contract, and for the others the offences per partition.

    A part with a missing or an extra column cannot be trusted row by row (the values may
    have shifted columns), so all its rows count as offending and are not checked further.
    """
    expected = set(contract.column_names)
    whole, broken = [], []
    for part in parts:
        names = _column_names(part)
        present = set(names) - {row_number_column} if row_number_column not in expected else set(names)
        missing = [c for c in contract.column_names if c not in present]
        extra = [c for c in names if c not in expected and c != row_number_column]
        if not missing and not extra:
            whole.append(part)
            continue
        if isinstance(part, pa.Table):
            part = part.to_pandas()  # a refused part: grouped once, for its report
        if partition_column and partition_column in part.columns:
            groups = part.groupby(part[partition_column].astype("string").fillna(""), sort=True)
        else:
            groups = [(None, part)]
        for partition, group in groups:
            first_row = _first_row(group, row_number_column)
            offences = [
                Offence(
                    partition or None, first_row, column, "(column missing)", "the column, as in the contract"
                )
                for column in missing
            ] + [
                Offence(
                    partition or None, first_row, column, "(column not in the contract)", "no such column"
                )
                for column in extra
            ]
            broken.append((partition or None, offences, len(group)))
    return whole, broken


def _first_row(frame: pd.DataFrame, row_number_column: str) -> int | None:
    if row_number_column in frame.columns and len(frame):
        value = pd.to_numeric(frame[row_number_column], errors="coerce").min()
        return None if pd.isna(value) else int(value)
    return None


def _column_names(rows: Rows) -> list[str]:
    return rows.column_names if isinstance(rows, pa.Table) else list(rows.columns)


def _text_columns(connection) -> set[str]:
    """The columns of the rows as read that are text still to be typed: what DuckDB reads
    a column as decides it (a pandas object column may hold numbers as well as strings)."""
    return {
        name for name, kind, *_ in connection.execute(f"DESCRIBE {AS_READ}").fetchall() if kind == "VARCHAR"
    }


def _combine(parts, contract, partition_column, row_number_column) -> Rows:
    columns = list(contract.column_names)
    if parts and all(isinstance(p, pa.Table) for p in parts):
        return _combine_arrow(parts, columns, partition_column, row_number_column)
    parts = [p.to_pandas() if isinstance(p, pa.Table) else p for p in parts]
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    else:
        frame = pd.concat(
            [
                p[[c for c in columns if c in p.columns] + _extra(p, columns, row_number_column)]
                for p in parts
            ],
            ignore_index=True,
        )
    if row_number_column in frame.columns:
        frame[ROW] = pd.to_numeric(frame[row_number_column], errors="coerce").astype("Int64")
    else:
        frame[ROW] = pd.array(range(1, len(frame) + 1), dtype="Int64")
    if partition_column:
        frame[PART] = frame[partition_column].astype("string")
    else:
        frame[PART] = pd.array([pd.NA] * len(frame), dtype="string")
    return frame


def _combine_arrow(parts, columns, partition_column, row_number_column) -> pa.Table:
    """As ``_combine``, for Arrow parts: columns are selected, not copied."""
    table = pa.concat_tables(
        [
            p.select([c for c in columns if c in p.column_names] + _extra(p, columns, row_number_column))
            for p in parts
        ]
    )
    if row_number_column in table.column_names:
        row = pc.cast(table.column(row_number_column), pa.int64())
    else:
        row = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    if partition_column:
        part = pc.cast(table.column(partition_column), pa.string())
    else:
        part = pa.nulls(table.num_rows, pa.string())
    return table.append_column(ROW, row).append_column(PART, part)


def _extra(part, columns, row_number_column):
    names = _column_names(part)
    return [row_number_column] if row_number_column in names and row_number_column not in columns else []


def _partition_list(rows_per_partition, broken, partitions, partition_column) -> list[str | None]:
    if not partition_column:
        return [None]
    found = [p for p in rows_per_partition if p is not None]
    found += [p for p, _o, _n in broken if p is not None]
    ordered = list(partitions or []) + sorted(set(found) - set(partitions or []))
    return list(dict.fromkeys(ordered)) or [None]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _typed_table_sql(rows: Rows, contract: TableContract, text_columns: set[str], text_trimmed: bool) -> str:
    # Typed once into a table, not a view: every rule reads it, and a view would convert
    # each text cell again for each rule.
    selects = [*_typed_columns(rows, contract, text_columns, text_trimmed), ROW, PART]
    return f"CREATE TEMP TABLE {UNDER_CHECK} AS SELECT " + ", ".join(selects) + f" FROM {AS_READ}"


def _typed_columns(
    rows: Rows, contract: TableContract, text_columns: set[str], text_trimmed: bool
) -> list[str]:
    """The rows in their contract types; text that does not convert becomes NULL (and is
    reported by ``values_match_types``), and blank text counts as no value."""
    selects = []
    names = set(_column_names(rows))
    for column in contract.columns:
        name = _quote(column.name)
        if column.name not in names:
            continue
        if column.name in text_columns:
            text = name if text_trimmed else f"trim({name})"
            blank_is_null = f"CASE WHEN {text} = '' THEN NULL ELSE {name} END"
            if column.logical_type == "string":
                selects.append(f"{blank_is_null} AS {name}")
                continue
            typed = f"TRY_CAST({text} AS {DUCKDB_TYPES[column.logical_type]})"
            if column.logical_type == "integer":
                # DuckDB rounds text such as '12.5' to 13 when casting it to an integer;
                # a fractional count is a mistake to report, not a number to round.
                typed = f"CASE WHEN TRY_CAST({text} AS DOUBLE) = {typed} THEN {typed} END"
            selects.append(f"{typed} AS {name}")
            selects.append(f"coalesce({text} <> '', false) AS {_quote(GIVEN + column.name)}")
        else:
            selects.append(name)
    return selects


# --- row rules: one scan for all, examples for the failing ones --------------------------


def _row_units(rules: list[Rule], rows: Rows, contract: TableContract, text_columns: set[str]) -> list[_Unit]:
    units = []
    types = {c.name: c.logical_type for c in contract.columns}
    for rule in rules:
        present = [c for c in rule.columns if c in _column_names(rows)]
        if rule.kind == "types":
            for column in present:
                if column not in text_columns:
                    continue  # already typed by whoever built the frame
                # Text that held a value and did not convert (see _typed_columns).
                name = _quote(column)
                target = DUCKDB_TYPES[types[column]]
                offends = f"TRY_CAST(trim({name}) AS {target}) IS NULL"
                if types[column] == "integer":
                    offends += f" OR TRY_CAST(trim({name}) AS DOUBLE) <> TRY_CAST(trim({name}) AS {target})"
                units.append(
                    _Unit(
                        rule,
                        column,
                        f"{_quote(GIVEN + column)} AND {name} IS NULL",
                        UNDER_CHECK,
                        types[column],
                        text_predicate=f"trim({name}) <> '' AND ({offends})",
                    )
                )
        elif rule.kind in ("required", "not_null"):
            for column in present:
                if column in text_columns and types[column] != "string":
                    # Judged on the text as read: a value that is there but not of the
                    # column's type is `values_match_types`'s business, not a missing one.
                    name = _quote(column)
                    units.append(
                        _Unit(
                            rule,
                            column,
                            f"NOT {_quote(GIVEN + column)}",
                            UNDER_CHECK,
                            text_predicate=f"{name} IS NULL OR trim({name}) = ''",
                        )
                    )
                else:
                    units.append(_Unit(rule, column, f"{_quote(column)} IS NULL", UNDER_CHECK))
        elif rule.kind == "valid_values" and present:
            column = present[0]
            table = _quote(f"__codes_{rule.id}")
            units.append(
                _Unit(
                    rule,
                    column,
                    f"CAST({_quote(column)} AS VARCHAR) NOT IN (SELECT code FROM {table})",
                    UNDER_CHECK,
                    codes_table=table,
                    codes=tuple(sorted(rule.valid_values or ())),
                )
            )
        elif rule.kind == "pattern" and present:
            column = present[0]
            units.append(
                _Unit(
                    rule,
                    column,
                    f"NOT regexp_full_match(CAST({_quote(column)} AS VARCHAR), {_literal(rule.pattern)})",
                    UNDER_CHECK,
                )
            )
        elif rule.kind == "between" and present:
            column = _quote(present[0])
            limits = []
            if rule.minimum is not None:
                limits.append(f"{column} < {float(rule.minimum)!r}")
            if rule.maximum is not None:
                limits.append(f"{column} > {float(rule.maximum)!r}")
            units.append(_Unit(rule, present[0], "(" + " OR ".join(limits) + ")", UNDER_CHECK))
    return units


def _count_units(connection, units: list[_Unit], counts, found, examples: int) -> None:
    for unit in units:
        if unit.codes_table:
            connection.execute(
                f"CREATE OR REPLACE TEMP TABLE {unit.codes_table} AS SELECT unnest(?::VARCHAR[]) AS code",
                [list(unit.codes)],
            )
    for relation in (AS_READ, UNDER_CHECK):
        mine = [u for u in units if u.relation == relation]
        if not mine:
            continue
        # NULLs never offend a value rule (their absence is `required`'s business), hence
        # coalesce(…, false) around every predicate.
        tallies = ", ".join(f"count_if(coalesce({u.predicate}, false)) AS u{i}" for i, u in enumerate(mine))
        totals = connection.execute(f"SELECT {PART}, {tallies} FROM {relation} GROUP BY {PART}").fetchall()
        for row in totals:
            partition = row[0]
            for i, unit in enumerate(mine):
                if row[i + 1]:
                    counts[(unit.rule.id, partition)] += int(row[i + 1])
        for i, unit in enumerate(mine):
            if not any(row[i + 1] for row in totals):
                continue
            column = _quote(unit.column)
            # Examples of a rule on text show the text as read.
            source, predicate = (
                (AS_READ, unit.text_predicate) if unit.text_predicate else (relation, unit.predicate)
            )
            sample = connection.execute(
                f"SELECT {PART}, {ROW}, {column} FROM {source} WHERE coalesce({predicate}, false) "
                f"QUALIFY row_number() OVER (PARTITION BY {PART} ORDER BY {ROW}) <= {examples}"
            ).fetchall()
            expected = unit.rule.expected(unit.column, unit.logical_type)
            for partition, row_number, value in sample:
                found[(unit.rule.id, partition)].append(
                    Offence(partition, row_number, unit.column, value, expected)
                )


def _check_duplicates(connection, rule: Rule, counts, found, examples: int) -> None:
    columns = ", ".join(_quote(c) for c in rule.columns)
    # Nearly every batch has no duplicate: one grouping says so, and only when it finds one
    # are the duplicated rows numbered (a window over every row costs twice the grouping).
    repeated = connection.execute(
        f"SELECT 1 FROM {UNDER_CHECK} GROUP BY {columns} HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if not repeated:
        return
    offending = (
        f"SELECT * FROM (SELECT *, count(*) OVER (PARTITION BY {columns}) AS __copies FROM {UNDER_CHECK}) "
        f"WHERE __copies > 1"
    )
    _collect(connection, rule, offending, counts, found, examples, value_columns=list(rule.columns))


def _check_sql(connection, rule, previous, tables, key_columns, counts, found, examples) -> str:
    """Run a contract's SQL rule; returns a note when the rule could not run here."""
    query = rule.offending_rows_sql.replace("{object}", UNDER_CHECK)
    if "{previous}" in query:
        if previous is None:
            return "no previous load to compare with"
        connection.register(PREVIOUS, previous)
        query = query.replace("{previous}", PREVIOUS)
    for schema, name in sorted(set(_WAREHOUSE_TABLE.findall(query))):
        if tables is None:
            return f"{schema}.{name} is not available here"
        connection.register(f"__{schema}_{name}", tables(f"{schema}.{name}"))
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        connection.execute(f"CREATE OR REPLACE VIEW {schema}.{name} AS SELECT * FROM __{schema}_{name}")
    _collect(connection, rule, query, counts, found, examples, key_columns=key_columns)
    return ""


def _collect(
    connection, rule, offending_sql, counts, found, examples, *, value_columns=None, key_columns=(None, None)
) -> None:
    """Count a rule's offending rows per partition and keep the first few of each.

    The rows say their partition and line through the engine's own columns when they come
    straight from the checked rows, or through the partition and line columns by name
    when a SQL rule built them (an aggregate, a join).
    """
    partition_column, row_number_column = key_columns
    connection.execute(f"CREATE OR REPLACE TEMP TABLE __offending AS {offending_sql}")
    if not connection.execute("SELECT count(*) FROM __offending").fetchall()[0][0]:
        return
    names = [d[0] for d in connection.execute("SELECT * FROM __offending LIMIT 0").description]
    partition = next((c for c in (PART, partition_column) if c and c in names), None)
    row = next((c for c in (ROW, row_number_column) if c and c in names), None)
    group = _quote(partition) if partition else "NULL"
    per_partition = connection.execute(f"SELECT {group}, count(*) FROM __offending GROUP BY 1").fetchall()
    everywhere = [p for (p,) in connection.execute(f"SELECT DISTINCT {PART} FROM {UNDER_CHECK}").fetchall()]
    order = _quote(row) if row else "1"
    first_few = f"row_number() OVER (PARTITION BY {group} ORDER BY {order}) <= {examples}"
    sample = connection.execute(f"SELECT * FROM __offending QUALIFY {first_few}").df()
    hidden = {PART, ROW, "__copies", partition_column, row_number_column}
    shown = value_columns or [c for c in names if c not in hidden and not c.startswith(GIVEN)]
    for key, count in per_partition:
        # A rule whose rows do not say their partition (a table-wide comparison) counts
        # against every partition in the batch.
        for target in [key] if partition else everywhere:
            counts[(rule.id, target)] += int(count)
    expected = rule.expected()
    for record in sample.to_dict("records"):
        values = {c: record[c] for c in shown if c in record}
        value = next(iter(values.values())) if len(values) == 1 else values
        column = rule.column if len(values) == 1 else None
        row_number = record.get(row) if row else None
        row_number = None if row_number is None or pd.isna(row_number) else int(row_number)
        for target in [_none_if_na(record[partition])] if partition else everywhere:
            found[(rule.id, target)].append(Offence(target, row_number, column, value, expected))


def _none_if_na(value):
    return None if value is None or pd.isna(value) else value
