"""The regional warehouse: DuckDB embedded by default, PostgreSQL for a shared deployment.

Every write replaces one slice of a table (say, the rows of three countries from one
dataset) in a single transaction: delete the slice, insert the new rows by column name.
A failure anywhere rolls the whole slice back, so a partition is always either its old
or its new self, never half. Tables are created from their data contracts.

DuckDB lets one process write a file at a time and a writer blocks others from opening
it, so connections are opened per operation and closed at once, and a locked file is
waited for (up to ``lock_timeout`` seconds) before failing with a clear message. A run
that executes every step in this process (``cmc build``, ``cmc import``) holds the file
open instead (``Warehouse.held_open``): its steps open hundreds of connections, and
reopening the file and checkpointing it at each close cost a fifth of the run.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cmc_pipeline.lib.contracts import PANDAS_DTYPES, SQL_TYPES, TableContract, contract_for
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.lazy import pyarrow as pa
from cmc_pipeline.lib.lazy import pyarrow_compute as pc

log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Years:
    """A range of years, as a slice filter on a period column (``2019``, ``2019Q1``,
    ``2019-Q1``, ``2019M01``…): the rows whose period falls in ``first``–``last``."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> Years:
        """``2019`` or ``2015-2024``; anything else is refused with an example."""
        found = re.fullmatch(r"\s*(\d{4})\s*(?:[-–:]\s*(\d{4})\s*)?", text)
        if not found or int(found[2] or found[1]) < int(found[1]):
            raise ValueError(f"years must be a year or a range like 2015-2024, not {text!r}")
        return cls(int(found[1]), int(found[2] or found[1]))

    def contains(self, periods: pd.Series) -> pd.Series:
        years = periods.astype("string").str[:4]
        return (years >= str(self.first)) & (years <= str(self.last))

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


class SchemaMismatchError(WarehouseError):
    """A warehouse table differs from its contract in a way that cannot be migrated safely."""


class WarehouseLockedError(WarehouseError):
    pass


def conform_to_contract(frame: pd.DataFrame, contract: TableContract) -> pd.DataFrame:
    """The frame's columns in contract order and types; a missing or extra column is an error.

    Writing by name from a frame that already matches the contract means a reordered or
    renamed column can never land in the wrong place silently.
    """
    _refuse_other_columns(list(frame.columns), contract)
    # Made whole from its columns (inserting them one by one rebuilds the frame each time),
    # each cast only if it is not of its type already.
    out = pd.DataFrame({c.name: _as_type(frame[c.name], c.logical_type) for c in contract.columns})
    nulls = [c.name for c in contract.columns if c.required and out[c.name].isna().any()]
    if nulls:
        raise WarehouseError(f"rows for {contract.table} have empty values in required columns {nulls}")
    return out.reset_index(drop=True)


def _as_type(values: pd.Series, logical_type: str) -> pd.Series:
    dtype = _pandas_dtype(logical_type)
    return values if values.dtype == dtype else values.astype(dtype)


@cache
def _pandas_dtype(logical_type: str):
    """The pandas dtype of a contract's logical type, made once (every read and write of a
    slice asks it of each column)."""
    return pd.api.types.pandas_dtype(PANDAS_DTYPES[logical_type])


def _refuse_other_columns(names: list[str], contract: TableContract) -> None:
    missing = [c for c in contract.column_names if c not in names]
    extra = [c for c in names if c not in contract.column_names]
    if missing or extra:
        raise WarehouseError(
            f"rows for {contract.table} do not match its contract {contract.path.name}: "
            f"missing columns {missing}, unexpected columns {extra}"
        )


@cache
def arrow_types() -> dict[str, pa.DataType]:
    """ODCS logical types → Arrow types, for rows written from Arrow (large national uploads)."""
    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }


def conform_arrow_to_contract(table: pa.Table, contract: TableContract) -> pa.Table:
    """``conform_to_contract`` for an Arrow table: the same refusals, no pandas copy."""
    _refuse_other_columns(table.column_names, contract)
    columns = [_arrow_column(table.column(c.name), arrow_types()[c.logical_type]) for c in contract.columns]
    pairs = zip(contract.columns, columns, strict=True)
    nulls = [c.name for c, cells in pairs if c.required and cells.null_count]
    if nulls:
        raise WarehouseError(f"rows for {contract.table} have empty values in required columns {nulls}")
    return pa.Table.from_arrays(columns, names=contract.column_names)


def _arrow_column(values: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    # Dictionary-encoded text (a value repeated on every row) stays encoded: DuckDB reads
    # it as text, and decoding it would copy the value once per row.
    if pa.types.is_dictionary(values.type) and values.type.value_type == kind:
        return values
    return values.cast(kind)


# Tables found to match their contract in this process (url, table, version, columns):
# checked once, not at every write.
_CONFORMING: set[tuple] = set()
# information_schema's names of the types create_table_sql writes, per backend.
SQL_TYPE_NAMES = {
    "duckdb": {
        "VARCHAR": "VARCHAR", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
        "DATE": "DATE", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    },
    "postgres": {
        "TEXT": "TEXT", "BIGINT": "BIGINT", "DOUBLE PRECISION": "DOUBLE PRECISION", "BOOLEAN": "BOOLEAN",
        "DATE": "DATE", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    },
}  # fmt: skip

# DuckDB files held open by this process for a whole run (resolved path → connection);
# every connection to them in the meantime is a cursor on the open database.
_HELD_OPEN: dict[str, object] = {}


class Warehouse:
    def __init__(self, url: str, *, lock_timeout: float = 120.0):
        self.url = str(url)
        self.backend = "postgres" if self.url.startswith(("postgresql://", "postgres://")) else "duckdb"
        self.lock_timeout = lock_timeout

    @property
    def where(self) -> str:
        """The warehouse as it may be shown (messages, logs, summaries): the DuckDB path, or
        the PostgreSQL URL with any password in it masked. The password belongs in libpq's
        own PGPASSWORD or ~/.pgpass, never in the URL (deploy/cmc-pipeline.env.example)."""
        if self.backend == "duckdb":
            return self.url
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))

    # --- connections ---------------------------------------------------------------------

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:
        if self.backend == "postgres":
            import psycopg

            with psycopg.connect(self.url) as connection:
                yield connection
            return
        import duckdb

        path = Path(self.url)
        if read_only and not path.exists():
            raise WarehouseError(f"no warehouse at {path}: run `cmc build` first")
        held = _HELD_OPEN.get(str(path.resolve()))
        if held is not None:
            # The process already has the file open for writing (reading through it is
            # the same data; a read-only reopen would be refused while it is open).
            cursor = held.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                connection = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"the warehouse {path} is locked by another process (another run, or a "
                        f"notebook holding it open) and stayed locked for {self.lock_timeout:.0f}s: {exc}"
                    ) from exc
                time.sleep(0.5)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def held_open(self) -> Iterator[None]:
        """Keep a DuckDB warehouse open while a run executes every step in this process,
        so each step's connection is a cursor on the open file. Other processes wait for
        the file (up to their ``lock_timeout``) until the run ends. PostgreSQL: nothing to do."""
        key = str(Path(self.url).resolve()) if self.backend == "duckdb" else None
        if key is None or key in _HELD_OPEN:
            yield
            return
        with self.connect() as connection:
            _HELD_OPEN[key] = connection
            try:
                yield
            finally:
                del _HELD_OPEN[key]

    # --- writes --------------------------------------------------------------------------

    def ensure_tables(self, contracts: Sequence[TableContract], *, rebuilt_whole: bool = False) -> None:
        """Create each contract's table or bring it to its contract; ``rebuilt_whole``: the
        caller is about to replace every row (a mart), see :meth:`_ensure_table`."""
        with self.connect() as connection:
            for contract in contracts:
                self._ensure_table(connection, contract, rebuilt_whole=rebuilt_whole)
            if self.backend == "postgres":
                connection.commit()

    def _ensure_table(self, connection, contract: TableContract, *, rebuilt_whole: bool = False) -> None:
        """Create the contract's table, or bring an existing one to the contract
        (:meth:`_migrate`). ``rebuilt_whole``: the caller replaces every row next (a mart),
        so a table that cannot be migrated in place is recreated instead."""
        if self.backend == "postgres":
            # Two writers creating the same schema at once make PostgreSQL's IF NOT EXISTS
            # fail with a unique violation (steps on Celery workers do this): take turns,
            # until this transaction ends.
            connection.execute("SELECT pg_advisory_xact_lock(hashtext('cmc_pipeline.ddl'))")
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {contract.schema_name}")
        connection.execute(contract.create_table_sql(self.backend))
        remembered = (self.url, contract.table, contract.version, tuple(contract.column_names))
        if remembered not in _CONFORMING:  # compared with this contract once per process
            self._migrate(connection, contract, rebuilt_whole=rebuilt_whole)
            _CONFORMING.add(remembered)

    def _migrate(self, connection, contract: TableContract, *, rebuilt_whole: bool) -> None:
        """Compare the table with its contract before anything is written to it.

        - A column the contract added that may be empty is added (``ALTER TABLE … ADD
          COLUMN``): existing rows read it as empty, new rows fill it.
        - Anything else — a required column added, a column whose type changed, a column
          the contract no longer has — cannot be migrated safely in place. An empty table,
          or one its caller rebuilds whole (a mart), is recreated to the contract; any other
          write is refused with the table, the column and what to do, and nothing is
          written.
        """
        schema, name = contract.table.split(".", 1)
        found = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            + ("WHERE table_schema = ? AND table_name = ?" if self.backend == "duckdb" else
               "WHERE table_schema = %s AND table_name = %s"),
            [schema, name],
        ).fetchall()  # fmt: skip
        existing = {str(column): str(kind).upper() for column, kind in found}
        types = SQL_TYPES[self.backend]
        problems: list[str] = []
        additions: list[str] = []
        for column in contract.columns:
            wanted = types[column.logical_type]
            if column.name not in existing:
                additions.append(column.name)
            elif SQL_TYPE_NAMES[self.backend].get(existing[column.name]) != wanted:
                problems.append(
                    f"column {column.name!r} is {existing[column.name]} in the warehouse but "
                    f"{column.logical_type} ({wanted}) in the contract"
                )
        for column in sorted(set(existing) - set(contract.column_names)):
            problems.append(f"column {column!r} is in the warehouse but no longer in the contract")
        required_added = [c for c in contract.columns if c.name in additions and c.required]
        if problems or required_added:
            rows = (
                0
                if rebuilt_whole
                else connection.execute(f"SELECT count(*) FROM {contract.table}").fetchall()[0][0]
            )
            if not rows:
                # Nothing to keep: the table is empty, or its caller replaces every row next.
                connection.execute(f"DROP TABLE {contract.table}")
                connection.execute(contract.create_table_sql(self.backend))
                log.warning(
                    "recreated %s for contract %s: %s",
                    contract.table,
                    contract.version,
                    "; ".join(problems + [f"required column {c.name!r} added" for c in required_added]),
                )
                return
            problems += [
                f"required column {c.name!r} is new in the contract and the table has {rows:,} rows"
                for c in required_added
            ]
        if problems:
            raise SchemaMismatchError(
                f"{contract.table} does not match its contract {contract.path.name} "
                f"(version {contract.version}): " + "; ".join(problems) + ". Nothing was written. "
                "Migrate the table by hand (ALTER TABLE, or a default for a new required column), "
                "or drop it and load it again, then run once more."
            )
        for column in contract.columns:
            if column.name in additions:
                connection.execute(
                    f'ALTER TABLE {contract.table} ADD COLUMN "{column.name}" {types[column.logical_type]}'
                )
                log.warning(
                    "migrated %s to contract %s: added column %s",
                    contract.table,
                    contract.version,
                    column.name,
                )

    def replace_slice(
        self, table: str, frame: pd.DataFrame, slice_filter: Mapping[str, Sequence[str] | Years]
    ) -> int:
        """Replace the rows matching ``slice_filter`` (column → allowed values, or the
        ``Years`` a period column must fall in) with ``frame``.

        An empty filter replaces the whole table. Returns the number of rows inserted.
        """
        return self.replace_slices([(table, frame, slice_filter)])[0]

    def replace_slices(
        self, changes: Sequence[tuple[str, pd.DataFrame | pa.Table, Mapping[str, Sequence[str] | Years]]]
    ) -> list[int]:
        """Several ``replace_slice`` calls (table, rows, slice) in one transaction: either
        every table changes or none does (an upload's history and current rows, say).

        Rows may be a pandas DataFrame or an Arrow table; Arrow rows go into DuckDB as they
        are (PostgreSQL takes them through pandas)."""
        prepared = []
        for table, frame, slice_filter in changes:
            contract = contract_for(table)
            if isinstance(frame, pa.Table) and self.backend == "duckdb":
                rows = conform_arrow_to_contract(frame, contract)
            else:
                if isinstance(frame, pa.Table):
                    frame = frame.to_pandas()
                rows = conform_to_contract(frame, contract)
            outside = [
                column
                for column, values in slice_filter.items()
                if len(rows) and not _all_match(rows, column, values)
            ]
            if outside:
                raise WarehouseError(
                    f"rows for {table} fall outside the slice being replaced (columns {outside})"
                )
            prepared.append((contract, rows, *_where_clause(slice_filter, self.backend)))
        with self.connect() as connection:
            if self.backend == "duckdb":
                self._replace_duckdb(connection, prepared)
            else:
                self._replace_postgres(connection, prepared)
        return [len(rows) for _contract, rows, _where, _params in prepared]

    def _replace_duckdb(self, connection, prepared) -> None:
        # Rows of a table have no order; letting DuckDB insert in parallel without keeping
        # the order they came in makes a million-row insert about a third faster.
        connection.execute("SET preserve_insertion_order = false")
        connection.execute("BEGIN TRANSACTION")
        try:
            for contract, rows, where, params in prepared:
                self._ensure_table(connection, contract)
                connection.execute(f"DELETE FROM {contract.table} {where}", params)
                if isinstance(rows, pd.DataFrame):
                    rows = pa.Table.from_pandas(rows, preserve_index=False)
                connection.register("incoming_rows", rows)
                connection.execute(f"INSERT INTO {contract.table} BY NAME SELECT * FROM incoming_rows")
                connection.unregister("incoming_rows")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _replace_postgres(self, connection, prepared) -> None:
        with connection.transaction():
            for contract, rows, where, params in prepared:
                columns = ", ".join(f'"{c}"' for c in contract.column_names)
                self._ensure_table(connection, contract)
                connection.execute(f"DELETE FROM {contract.table} {where}", params)
                with connection.cursor().copy(f"COPY {contract.table} ({columns}) FROM STDIN") as copy:
                    for record in rows.astype(object).where(rows.notna(), None).itertuples(index=False):
                        copy.write_row(record)

    # --- reads ---------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """Run a read query; ``?`` placeholders work on both backends."""
        with self.connect(read_only=self.backend == "duckdb") as connection:
            if self.backend == "duckdb":
                return connection.execute(sql, params or []).df()
            cursor = connection.execute(sql.replace("?", "%s"), params or [])
            names = [d.name for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)

    def fetch(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """A read query's rows as tuples: for a few values, where a DataFrame's making would
        cost more than the query (about 3 ms a frame in DuckDB)."""
        with self.connect(read_only=self.backend == "duckdb") as connection:
            if self.backend == "duckdb":
                return connection.execute(sql, params or []).fetchall()
            return connection.execute(sql.replace("?", "%s"), params or []).fetchall()

    def table_exists(self, table: str) -> bool:
        if self.backend == "duckdb" and not Path(self.url).exists():
            return False  # nothing written yet; opening read-only would fail
        schema, name = table.split(".")
        ((found,),) = self.fetch(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        )
        return bool(found)

    def read_slice(self, table: str, slice_filter: Mapping[str, Sequence[str] | Years]) -> pd.DataFrame:
        contract = contract_for(table)
        if not self.table_exists(table):
            return conform_to_contract(pd.DataFrame(columns=contract.column_names), contract)
        where, params = _where_clause(slice_filter, self.backend)
        frame = self.query(f"SELECT * FROM {table} {where}", params)
        return conform_to_contract(frame[contract.column_names], contract)

    def distinct_values(
        self, table: str, column: str, slice_filter: Mapping[str, Sequence[str] | Years]
    ) -> set:
        """The values ``column`` takes in the rows matching ``slice_filter`` (none when the
        table does not exist yet), without reading the rows themselves."""
        if not self.table_exists(table):
            return set()
        where, params = _where_clause(slice_filter, self.backend)
        found = self.fetch(f'SELECT DISTINCT "{column}" FROM {table} {where}', params)
        return {value for (value,) in found if value is not None}


def _all_match(rows: pd.DataFrame | pa.Table, column: str, values: Sequence[str] | Years) -> bool:
    """Whether every row's ``column`` lies in the slice being replaced."""
    if isinstance(rows, pa.Table):
        # A million rows hold a few distinct values: judge those.
        cells = pd.Series(pc.unique(rows.column(column)).to_pylist(), dtype="string")
    else:
        cells = rows[column]
    inside = values.contains(cells) if isinstance(values, Years) else cells.isin(list(values))
    return bool(inside.fillna(False).all())


def _where_clause(slice_filter: Mapping[str, Sequence[str] | Years], backend: str) -> tuple[str, list]:
    placeholder = "?" if backend == "duckdb" else "%s"
    parts, params = [], []
    for column, values in slice_filter.items():
        if isinstance(values, Years):
            # Periods start with their year; four-digit years compare correctly as text.
            parts.append(f'substr("{column}", 1, 4) BETWEEN {placeholder} AND {placeholder}')
            params.extend([str(values.first), str(values.last)])
            continue
        values = list(values)
        if not values:
            parts.append("FALSE")
            continue
        parts.append(f'"{column}" IN (' + ", ".join([placeholder] * len(values)) + ")")
        params.extend(values)
    return ("WHERE " + " AND ".join(parts)) if parts else "", params
