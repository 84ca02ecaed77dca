"""Faults a shared deployment meets: a process killed in the middle of a warehouse write,
a second process holding the DuckDB file, a disk that fills while a raw file lands.
(A daemon restarted during a backfill is in test_deployment.py, with the daemon.)"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.reference import cmc_iso3_codes, migration_indicators
from cmc_pipeline.lib.warehouse import Warehouse, WarehouseLockedError
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.worldbank import load as worldbank_load
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators

SLICE = ["JAM", "TTO"]
TABLE = "staging.worldbank_observations"
# The World Bank's staging slice is a country × the form the figures came in (API pages,
# CSV or Excel download): the API pages of JAM and TTO.
SLICE_KEYS = {"country_iso3": SLICE, "file_format": ["api-json"]}
SLICE_WHERE = "country_iso3 IN ('JAM', 'TTO') AND file_format = 'api-json'"

# Rewrites the JAM and TTO slice with every value plus one. With "pause" it stops for good
# right after the DELETE, inside the open transaction, so the parent can kill it there.
WRITER = f"""
import sys, time
from cmc_pipeline.lib.warehouse import Warehouse

path, mode = sys.argv[1], sys.argv[2]
warehouse = Warehouse(path)
frame = warehouse.read_slice("{TABLE}", {SLICE_KEYS})
frame["value"] = frame["value"] + 1

if mode == "pause":
    connect = Warehouse.connect

    class PauseAfterDelete:
        def __init__(self, connection):
            self.connection = connection

        def execute(self, sql, *args):
            result = self.connection.execute(sql, *args)
            if sql.startswith("DELETE"):
                print("deleted", flush=True)
                time.sleep(3600)
            return result

        def __getattr__(self, name):
            return getattr(self.connection, name)

    def pausing_connect(self, **kwargs):
        with connect(self, **kwargs) as connection:
            yield PauseAfterDelete(connection)

    from contextlib import contextmanager
    Warehouse.connect = contextmanager(pausing_connect)

print("writing", flush=True)
warehouse.replace_slice("{TABLE}", frame, {SLICE_KEYS})
print("committed", flush=True)
"""


@pytest.fixture
def warehouse_copy(built_warehouse, tmp_path) -> Warehouse:
    """A private copy of the session's built warehouse, safe to damage."""
    source, _ = built_warehouse
    target = tmp_path / "cmc.duckdb"
    shutil.copy(source.url, target)
    return Warehouse(str(target), lock_timeout=5)


def slice_state(warehouse: Warehouse) -> tuple[int, float]:
    """Rows and the sum of values of the JAM and TTO slice."""
    found = warehouse.query(f"SELECT count(*) AS n, sum(value) AS total FROM {TABLE} WHERE {SLICE_WHERE}")
    return int(found["n"].iloc[0]), round(float(found["total"].iloc[0]), 3)


def start_writer(warehouse: Warehouse, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, warehouse.url, mode], stdout=subprocess.PIPE, text=True, env=env
    )


def test_a_writer_killed_inside_its_transaction_leaves_the_old_slice(warehouse_copy):
    before = slice_state(warehouse_copy)
    writer = start_writer(warehouse_copy, "pause")
    assert writer.stdout.readline().strip() == "writing"
    assert writer.stdout.readline().strip() == "deleted"  # the old rows are gone inside the transaction
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)

    assert slice_state(warehouse_copy) == before
    # The file opens for writing again and the other countries are untouched.
    everything = warehouse_copy.query(f"SELECT count(DISTINCT country_iso3) AS n FROM {TABLE}")
    assert int(everything["n"].iloc[0]) == len(cmc_iso3_codes()) - 2  # no World Bank data for AIA, MSR


def test_a_writer_killed_at_any_moment_leaves_the_slice_old_or_new_never_half(warehouse_copy):
    rng = random.Random(7)
    for _ in range(4):
        rows, total = slice_state(warehouse_copy)
        writer = start_writer(warehouse_copy, "run")
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        # A write adds one to every value: the slice is as it was, or wholly the new one.
        new = (rows, round(total + values_present(warehouse_copy), 3))
        assert slice_state(warehouse_copy) in ((rows, total), new)


def values_present(warehouse: Warehouse) -> int:
    found = warehouse.query(f"SELECT count(value) AS n FROM {TABLE} WHERE {SLICE_WHERE}")
    return int(found["n"].iloc[0])


def current_slice(warehouse: Warehouse):
    return warehouse.read_slice(TABLE, SLICE_KEYS)


def test_a_locked_warehouse_makes_the_writer_fail_clearly_and_changes_nothing(
    warehouse_copy, hold_duckdb_lock
):
    before = slice_state(warehouse_copy)
    frame = current_slice(warehouse_copy)
    holder = hold_duckdb_lock(Path(warehouse_copy.url))
    impatient = Warehouse(warehouse_copy.url, lock_timeout=1)

    started = time.monotonic()
    with pytest.raises(WarehouseLockedError) as raised:
        impatient.replace_slice(TABLE, frame, SLICE_KEYS)
    assert time.monotonic() - started >= 1  # it waited before giving up
    message = str(raised.value)
    assert warehouse_copy.url in message and "locked by another process" in message
    assert f"(PID {holder.pid})" in message  # DuckDB names the process holding the file

    holder.stdin.close()
    holder.wait(timeout=30)
    assert slice_state(warehouse_copy) == before


def test_a_writer_waits_for_a_short_lock_and_then_writes(warehouse_copy, hold_duckdb_lock):
    frame = current_slice(warehouse_copy)
    frame["value"] = frame["value"] + 1
    rows, total = slice_state(warehouse_copy)
    holder = hold_duckdb_lock(Path(warehouse_copy.url))
    releaser = threading.Timer(1.5, holder.stdin.close)
    releaser.start()
    started = time.monotonic()
    written = Warehouse(warehouse_copy.url, lock_timeout=30).replace_slice(TABLE, frame, SLICE_KEYS)
    assert time.monotonic() - started >= 1.4
    assert written == rows
    assert slice_state(warehouse_copy)[1] == pytest.approx(total + values_present(warehouse_copy))


# --- disk full while landing raw files --------------------------------------------------


class DiskFullAfter:
    """Stands in for os.fdopen: the file accepts ``budget`` bytes in all, then ENOSPC."""

    def __init__(self, budget: int):
        self.budget = budget
        self.real_fdopen = os.fdopen

    def __call__(self, fd, *args, **kwargs):
        real = self.real_fdopen(fd, *args, **kwargs)
        outer = self

        class Filling:
            def write(self, data):
                room = max(outer.budget, 0)
                real.write(data[:room])
                outer.budget -= len(data)
                if outer.budget < 0:
                    real.flush()  # the part that fitted really is on disk
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return len(data)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                real.close()

            def __getattr__(self, name):
                return getattr(real, name)

        return Filling()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_leaves_no_partial_raw_file_under_a_final_name(tmp_path, monkeypatch):
    from cmc_pipeline.lib import raw_store

    body = b"ref_area,time,obs_value\n" + b"JAM,2019,1.5\n" * 1000
    monkeypatch.setattr(raw_store.os, "fdopen", DiskFullAfter(budget=len(body) // 2))
    with pytest.raises(OSError) as raised:
        raw_store.land_bytes(tmp_path, "ilostat", body, suffix=".csv", provenance={"url": "file:test"})
    assert raised.value.errno == errno.ENOSPC
    assert files_under(tmp_path) == []  # neither the half file nor its temporary remains

    monkeypatch.undo()  # space freed: the same landing now succeeds, complete
    landed = raw_store.land_bytes(tmp_path, "ilostat", body, suffix=".csv", provenance={"url": "file:test"})
    assert landed.path.read_bytes() == body
    assert [p.name for p in files_under(tmp_path)] == [
        f"{landed.sha256}.csv",
        f"{landed.sha256}.provenance.json",
    ]


def test_a_full_disk_during_a_source_load_leaves_the_warehouse_as_it_was(
    warehouse_copy, tmp_path, monkeypatch
):
    """The disk fills on the third response of a World Bank load: the load fails with the
    system's own words, the warehouse keeps its rows, and every raw file present is whole."""
    from cmc_pipeline.lib import raw_store
    from cmc_pipeline.sources.worldbank.client import WorldBankClient

    raw = tmp_path / "raw"
    before = slice_state(warehouse_copy)
    landings = {"count": 0}
    real_write = raw_store.write_atomically

    def write_until_full(path, data):
        landings["count"] += 1
        if landings["count"] == 5:  # the third response's data file (each landing writes data + sidecar)
            monkeypatch.setattr(raw_store.os, "fdopen", DiskFullAfter(budget=len(data) // 3))
        return real_write(path, data)

    monkeypatch.setattr(raw_store, "write_atomically", write_until_full)
    with pytest.raises(OSError, match="No space left on device"):
        worldbank_load.load_worldbank(WorldBankClient(), warehouse_copy, raw, SLICE)

    assert slice_state(warehouse_copy) == before
    data_files = [p for p in files_under(raw) if not p.name.endswith(".provenance.json")]
    assert len(data_files) == 2
    for path in files_under(raw):
        assert not path.name.endswith(".part")
        if path in data_files:
            import hashlib

            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem  # whole, as named


# --- concurrent writers on a PostgreSQL warehouse ---------------------------------------


def first_writes_at_once(warehouse: Warehouse) -> list[int]:
    """Four steps building the dimensions of an empty warehouse, released together."""
    from concurrent.futures import ThreadPoolExecutor

    start = threading.Barrier(4)

    def build(step):
        start.wait()
        return step(warehouse).rows_written

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(build, [core_tables.build_dim_country, core_tables.build_dim_indicator] * 2))


@pytest.mark.postgres
def test_steps_writing_a_new_postgres_warehouse_at_once_do_not_trip_over_each_other():
    """On several machines, steps start together against an empty PostgreSQL warehouse
    and each creates its schema and table; none may fail on another's CREATE."""
    import uuid

    from cmc_pipeline_tests.deployment import PG, postgres_available, psql_admin

    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    for _ in range(3):
        name = f"cmc_warehouse_test_{uuid.uuid4().hex[:10]}"
        psql_admin(f'CREATE DATABASE "{name}"')
        try:
            warehouse = Warehouse(f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}")
            indicators = len(ilostat_indicators()) + len(worldbank_indicators()) + len(migration_indicators())
            assert first_writes_at_once(warehouse) == [25, indicators, 25, indicators]
            assert int(warehouse.query("SELECT count(*) AS n FROM core.dim_country")["n"].iloc[0]) == 25
        finally:
            psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
