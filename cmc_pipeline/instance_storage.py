"""Dagster's local run history (SQLite), made cheaper to write.

Dagster's ``SqliteEventLogStorage`` opens a new database engine and connection for every
event it stores, and commits each with a full sync to disk. A `cmc build` stores some
2,400 events (every step's start and end, every materialisation, every check
evaluation of every country), so most of its bookkeeping is opening files and waiting
for the disk (docs/benchmarks.md, "Build").

This storage keeps the same files, tables and behaviour — the UI, the daemon and
``dagster`` commands read them as before — and changes two things:

- one engine per database file is kept open (the few most recently used), instead of
  one per event;
- each connection sets ``PRAGMA synchronous=NORMAL``: in the write-ahead-log mode Dagster
  already uses, a commit is durable against a crash of the process and the database is
  never corrupted; only the last commits before a power cut or an operating-system crash
  can be lost (SQLite's documentation: "WAL mode ... synchronous=NORMAL").

A shared deployment keeps its run history in PostgreSQL (deploy/dagster.yaml) and does
not use this class.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import create_db_conn_string
from sqlalchemy.pool import QueuePool

# Long enough for a build's run database, the index and a reader's: a webserver that
# opens many runs' databases closes the least recently used.
OPEN_DATABASES = 8
BUSY_TIMEOUT_SECONDS = 30


def _sync_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage that keeps its engines open (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
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
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        super().dispose()
