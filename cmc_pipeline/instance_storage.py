"""Dagster's local run history (SQLite), made cheaper to write.

Dagster's ``SqliteEventLogStorage`` opens a new database engine and connection for every
event it stores, and commits each with a full sync to disk. A `cmc build` stores some
2,400 events (every step's start and end, every materialisation, every check
evaluation of every country), so most of its bookkeeping is opening files and waiting
for the disk (docs/benchmarks.md, "Build").

This storage keeps the same files, tables and behaviour — the UI, the daemon and
``dagster`` commands read them as before — and changes these things:

- one engine per database file is kept open (the few most recently used), instead of
  one per event;
- each connection sets ``PRAGMA synchronous=NORMAL``: in the write-ahead-log mode Dagster
  already uses, a commit is durable against a crash of the process and the database is
  never corrupted; only the last commits before a power cut or an operating-system crash
  can be lost (SQLite's documentation: "WAL mode ... synchronous=NORMAL");
- a batch of events Dagster hands over together (a run's planned materialisations and
  checks, a step's materialisations of many partitions: ``DAGSTER_EVENT_BATCH_SIZE``,
  which ``cmc`` sets) is written in one transaction per database file, not one each;
- whether the index has a table, or the asset table a column, is asked of the file once,
  not before every check evaluation or materialisation (Dagster asks each time, reading
  the schema; a table or column, once there, stays);
- an event is serialised once, not once per row that holds it: Dagster writes the same
  event's JSON into the run's log, the index's copy, and the asset's or the check's row,
  and a check planned for 25 countries into 25 rows, serialising it again each time
  (``_serialise_each_event_once``);
- every row is written by a statement built once and run with the row's values as its
  parameters (the event's row in the run's log and the index, a check's result, an
  asset's latest materialisation, the rows of a check planned for many countries), not
  by a statement holding the values, which SQLAlchemy builds and hashes anew for each
  row (``insert().values(...)``, about 0.13 ms each, some 7,000 times in a build);
- an asset's row in the index, which exists after its first materialisation, is updated
  first and inserted only when missing, rather than inserted, refused and then updated;
- a step's check evaluations and outputs, which a step yields in a burst (a rule per
  country: a loader's step yields some 300), are written together when the burst ends:
  at the step's next other event, its end, any read of the history, or after
  ``DEFERRED_AT_MOST`` events or ``DEFERRED_SECONDS``, in one transaction per database
  file rather than three commits each. A read in this process always sees them; another
  process (the UI) sees them when the burst is written, a few milliseconds later in a
  build; a process that ends writes what it holds (``atexit``);
- the materialisations it stored are remembered (each asset partition's latest: its
  storage id, run and time), so that a step's check evaluations are tied to the
  materialisation they checked without reading and deserialising the step's
  materialisations back from the index (``materializations_stored_here``).

A shared deployment keeps its run history in PostgreSQL (deploy/dagster.yaml) and does
not use this class.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as db
import sqlalchemy.exc as db_exc
from dagster._check import inst_param
from dagster._core.definitions.asset_key import AssetKey
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import EVENT_TYPE_TO_PIPELINE_RUN_STATUS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import sql_event_log
from dagster._core.storage.event_log.base import EventLogRecord
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sql_event_log import ASSET_CHECK_EVENTS, ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster_shared.serdes import serialize_value
from sqlalchemy.pool import QueuePool

# Long enough for a build's run database, the index and a reader's: a webserver that
# opens many runs' databases closes the least recently used.
OPEN_DATABASES = 8
BUSY_TIMEOUT_SECONDS = 30

# Dagster hands events over in batches only when this is set (it reads it at each event),
# and only in a process whose instance has this storage, which imports this module: the
# build, and the runs the daemon or the UI starts. A run plans some 650 events at once.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")


# Events of a step that wait to be written with the rest of their burst (see the module's
# docstring), and how many or how old they may get first.
DEFERRED_EVENT_TYPES = frozenset({DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.STEP_OUTPUT})
DEFERRED_AT_MOST = 500
DEFERRED_SECONDS = 0.5


def _serialise_each_event_once(serialize_value):
    """``serialize_value`` that returns, for the event it serialised last in this thread,
    the same text again instead of serialising it anew.

    Storing one event, Dagster's SQL event log serialises it for each row it writes (up to
    27 times for a check planned for 25 countries), about a third of the cost of storing
    it; a materialisation is serialised once more inside the record of the asset's latest
    one, whose text is the event's with the record's id around it. An ``EventLogEntry`` is
    immutable, so the same object always gives the same text; the last one is held so that
    its identity cannot be taken by another object."""
    last = threading.local()

    def serialise(value, *args, **kwargs):
        if args or kwargs:
            return serialize_value(value, *args, **kwargs)
        if isinstance(value, EventLogEntry):
            if getattr(last, "event", None) is not value:
                last.text = serialize_value(value)
                last.event = value
            return last.text
        if (
            isinstance(value, EventLogRecord)
            and value.event_log_entry is getattr(last, "event", None)
            and _RECORD_TEXT_AS_DAGSTER_WRITES_IT
        ):
            return _record_text(last.text, value.storage_id)
        return serialize_value(value)

    return serialise


def _record_text(event_text: str, storage_id: int) -> str:
    return (
        f'{{"__class__": "EventLogRecord", "event_log_entry": {event_text}, '
        f'"storage_id": {json.dumps(storage_id)}}}'
    )


def _record_text_as_dagster_writes_it() -> bool:
    """Whether ``_record_text`` gives what Dagster's own serialisation of a record gives
    (checked once, on a sample; if a Dagster release changed the record, it is not used)."""
    sample = EventLogEntry(error_info=None, level=20, user_message="sample", run_id="r", timestamp=1.5)
    record = EventLogRecord(storage_id=7, event_log_entry=sample)
    return _record_text(serialize_value(sample), 7) == serialize_value(record)


_RECORD_TEXT_AS_DAGSTER_WRITES_IT = _record_text_as_dagster_writes_it()
# The name Dagster's SQL event log calls (it imported the function by name).
sql_event_log.serialize_value = _serialise_each_event_once(sql_event_log.serialize_value)


# Statements built once; each row's values are passed as parameters. An UPDATE without
# ``values()`` sets the columns named by the parameters (SQLAlchemy); the ``where_``
# parameters, which name no column, only select the row.
_INSERT_EVENT = SqlEventLogStorageTable.insert()
_INSERT_ASSET_KEY = AssetKeyTable.insert()
_UPDATE_ASSET_KEY = AssetKeyTable.update().where(AssetKeyTable.c.asset_key == db.bindparam("where_asset_key"))
_INSERT_CHECK_EXECUTION = AssetCheckExecutionsTable.insert()
_CHECK_EXECUTION_OF_RUN = db.and_(
    AssetCheckExecutionsTable.c.asset_key == db.bindparam("where_asset_key"),
    AssetCheckExecutionsTable.c.check_name == db.bindparam("where_check_name"),
    AssetCheckExecutionsTable.c.run_id == db.bindparam("where_run_id"),
)
_UPDATE_CHECK_EXECUTION = {
    True: AssetCheckExecutionsTable.update().where(
        _CHECK_EXECUTION_OF_RUN, AssetCheckExecutionsTable.c.partition == db.bindparam("where_partition")
    ),
    False: AssetCheckExecutionsTable.update().where(
        _CHECK_EXECUTION_OF_RUN, AssetCheckExecutionsTable.c.partition.is_(None)
    ),
}


def _sync_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage that keeps its engines open (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        # Tables of the index, and columns of its asset table, seen to exist.
        self._tables_present: set[str] = set()
        self._asset_key_columns_present: set[str] = set()
        # Per thread, while a batch is being stored: database file → its open transaction.
        self._batch = threading.local()
        # A step's events waiting for the end of their burst, and when the first came.
        self._deferred: list[EventLogEntry] = []
        self._deferred_since = 0.0
        self._deferred_lock = threading.RLock()
        # (asset key, partition) → (storage id, run id, timestamp) of the latest
        # materialisation this process stored (a batch's, once its transaction commits).
        self._materialized_here: dict[tuple, tuple[int, str, float]] = {}
        self._materialized_lock = threading.Lock()
        atexit.register(_write_deferred_at_exit, weakref.ref(self))
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:  # ty: ignore
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = db.create_engine(
            create_db_conn_string(self._base_dir, shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=4,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        db.event.listen(engine, "connect", _sync_normal)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        batch = getattr(self._batch, "connections", None)
        if batch is not None:
            if shard not in batch:
                with self._db_lock:
                    connection = self._engine(shard).connect()
                batch[shard] = (connection, connection.begin())
            yield batch[shard][0]
            return
        if self._deferred:
            self.write_deferred()  # whatever reads or writes the history sees them first
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def store_event(self, event: EventLogEntry) -> None:
        """Store ``event``; a step's check evaluation or output waits for the rest of its
        burst (see the module's docstring)."""
        if event.run_id and event.step_key and event.dagster_event_type in DEFERRED_EVENT_TYPES:
            with self._deferred_lock:
                if not self._deferred:
                    self._deferred_since = time.monotonic()
                self._deferred.append(event)
                due = (
                    len(self._deferred) >= DEFERRED_AT_MOST
                    or time.monotonic() - self._deferred_since >= DEFERRED_SECONDS
                )
            if due:
                self.write_deferred()
            return
        if self._deferred:
            self.write_deferred()
        self._store_event_now(event)

    def store_event_batch(self, events: Sequence) -> None:
        """Store ``events`` as Dagster would one by one, in one transaction per file: all of
        them or, if one fails, none (Dagster then stores them one by one)."""
        self.write_deferred()
        self._store_in_one_transaction(events)

    def write_deferred(self) -> None:
        """Write the events waiting for the end of their burst, in one transaction per file
        (one by one if that fails, as Dagster does with a batch, so that the others are kept)."""
        with self._deferred_lock:
            waiting, self._deferred = self._deferred, []
            if not waiting:
                return
            try:
                self._store_in_one_transaction(waiting)
            except Exception as exc:
                sys.stderr.write(f"Exception while storing a step's events together: {exc}\n")
                for event in waiting:
                    self._store_event_now(event)

    def _store_in_one_transaction(self, events: Sequence) -> None:
        self._batch.connections = {}
        self._batch.materializations = []
        try:
            for event in events:
                self._store_event_now(event)
        except BaseException:
            for connection, transaction in self._batch.connections.values():
                transaction.rollback()
                connection.close()
            raise
        else:
            for connection, transaction in self._batch.connections.values():
                transaction.commit()
                connection.close()
            self._remember_materializations(self._batch.materializations)
        finally:
            self._batch.connections = None
            self._batch.materializations = None

    def _store_event_now(self, event: EventLogEntry) -> None:
        """What Dagster's ``SqliteEventLogStorage.store_event`` writes (the event in the
        run's log; an asset or check event also in the index, with the asset's or the
        check's row; a run's change of status also in the index), each row by a statement
        built once (a test compares every row with the ones Dagster's own storage writes)."""
        inst_param(event, "event", EventLogEntry)
        row = self._event_to_row(event)
        with self.run_connection(event.run_id) as conn:
            conn.execute(_INSERT_EVENT, row)
        if not event.is_dagster_event:
            return
        event_type = event.dagster_event_type
        if event_type in ASSET_EVENTS:
            with self.index_transaction() as conn:
                event_id = conn.execute(_INSERT_EVENT, row).inserted_primary_key[0]
                if event_id is None:
                    raise DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
                self._store_asset_event_tags(conn, [event], [event_id])
                self._store_asset_event(conn, event, event_id)
            if event_type == DagsterEventType.ASSET_MATERIALIZATION:
                # Remembered once committed: with the batch's transaction, or now.
                waiting = getattr(self._batch, "materializations", None)
                if waiting is not None:
                    waiting.append((event, event_id))
                else:
                    self._remember_materializations([(event, event_id)])
        if event_type in ASSET_CHECK_EVENTS:
            with self.index_connection() as conn:
                event_id = conn.execute(_INSERT_EVENT, row).inserted_primary_key[0]
            self.store_asset_check_event(event, event_id)
        if event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
            with self.index_connection() as conn:
                conn.execute(_INSERT_EVENT, row)

    def _store_asset_event(self, conn, event: EventLogEntry, event_id: int) -> None:
        """The asset's row in the index: updated, or inserted the first time (Dagster
        inserts first and updates when the insert is refused, which is every time but one)."""
        if not (event.dagster_event and event.dagster_event.asset_key):
            return
        has_index_columns = self._has_asset_key_index_cols_on_connection(conn)
        values = self._get_asset_entry_values(event, event_id, has_index_columns)
        if not values:
            return
        asset_key = event.dagster_event.asset_key.to_string()
        if conn.execute(_UPDATE_ASSET_KEY, {"where_asset_key": asset_key, **values}).rowcount:
            return
        try:
            conn.execute(_INSERT_ASSET_KEY, {"asset_key": asset_key, **values})
        except db_exc.IntegrityError:  # another process inserted it meanwhile
            conn.execute(_UPDATE_ASSET_KEY, {"where_asset_key": asset_key, **values})

    def _update_asset_check_evaluation(self, event: EventLogEntry, event_id: int | None) -> None:
        """The check's row for this run and partition, planned before, now with its result
        (the values Dagster writes; with no planned row, Dagster's own method inserts one)."""
        evaluation = event.dagster_event.event_specific_data
        target = evaluation.target_materialization_data
        partitioned = evaluation.partition is not None
        with self.index_connection() as conn:
            updated = conn.execute(
                _UPDATE_CHECK_EXECUTION[partitioned],
                {
                    "where_asset_key": evaluation.asset_key.to_string(),
                    "where_check_name": evaluation.check_name,
                    "where_run_id": event.run_id,
                    **({"where_partition": evaluation.partition} if partitioned else {}),
                    "execution_status": (
                        AssetCheckExecutionRecordStatus.SUCCEEDED.value
                        if evaluation.passed
                        else AssetCheckExecutionRecordStatus.FAILED.value
                    ),
                    "evaluation_event": sql_event_log.serialize_value(event),
                    "evaluation_event_timestamp": self._event_insert_timestamp(event),
                    "evaluation_event_storage_id": event_id,
                    "materialization_event_storage_id": target.storage_id if target else None,
                    "partition": evaluation.partition,
                },
            ).rowcount
        if updated == 0:
            super()._update_asset_check_evaluation(event, event_id)
        elif updated > 1:
            raise DagsterInvariantViolationError(
                f"Updated {updated} rows for asset check evaluation {evaluation.asset_check_key} "
                "as a result of duplicate AssetCheckPlanned events."
            )

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """The rows Dagster writes for a planned check, one per partition, with the same
        values (a test compares them with Dagster's own), inserted as one statement run
        for each row."""
        planned = event.dagster_event.event_specific_data
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        values = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": sql_event_log.serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            conn.execute(_INSERT_CHECK_EXECUTION, [{**values, "partition": key} for key in partitions])

    def _remember_materializations(self, stored: Sequence[tuple[EventLogEntry, int]]) -> None:
        with self._materialized_lock:
            for event, event_id in stored:
                key = (event.dagster_event.asset_key, event.dagster_event.partition)
                self._materialized_here[key] = (event_id, event.run_id, event.timestamp)

    def materializations_stored_here(
        self, asset_key: AssetKey, partitions: Sequence[str | None]
    ) -> dict[str | None, tuple[int, str, float]]:
        """Of ``partitions`` (``None``: the asset unpartitioned), those this process stored
        a materialisation of, with the storage id, run id and timestamp of the latest it
        stored: within a step, the materialisation the step's checks checked."""
        with self._materialized_lock:
            found = {p: self._materialized_here.get((asset_key, p)) for p in partitions}
        return {p: stored for p, stored in found.items() if stored is not None}

    def _forget_materializations(self) -> None:
        with self._materialized_lock:
            self._materialized_here.clear()

    def wipe(self) -> None:
        self._forget_materializations()
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        self._forget_materializations()
        super().delete_events(run_id)

    def wipe_asset(self, asset_key: AssetKey) -> None:
        self._forget_materializations()
        super().wipe_asset(asset_key)

    def wipe_asset_partitions(self, asset_key: AssetKey, partition_keys: Sequence[str]) -> None:
        self._forget_materializations()
        super().wipe_asset_partitions(asset_key, partition_keys)

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        if column_name not in self._asset_key_columns_present:
            if not super()._has_asset_key_col_on_connection(conn, column_name):
                return False
            self._asset_key_columns_present.add(column_name)
        return True

    def dispose(self) -> None:
        self.write_deferred()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        super().dispose()


def _write_deferred_at_exit(storage_ref: weakref.ref) -> None:
    storage = storage_ref()
    if storage is not None:
        storage.write_deferred()
