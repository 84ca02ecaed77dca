"""Shared fixtures. Every test gets its own data folder (warehouse, raw store, inbox,
Dagster home) under pytest's tmp_path, so tests never touch ./data or each other."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def pytest_configure(config: pytest.Config) -> None:
    _temporary_files_in_memory(config)
    # The session is a batch, as `cmc build` is: the same garbage collector settings
    # (cli.py), which took the collector's share of a session of the build's tests from
    # about 5 s to 3 s.
    from cmc_pipeline.cli import collect_garbage_as_a_batch

    collect_garbage_as_a_batch()
    # What the pipeline keeps under a digest of its inputs (workbooks read, charts drawn,
    # Great Expectations' outcomes) is shared by the session's tests, and never lands in
    # ./data/cache.
    os.environ.setdefault("CMC_CACHE_DIR", tempfile.mkdtemp(prefix="cmc-cache-"))


def _temporary_files_in_memory(config: pytest.Config) -> None:
    """Test data folders in memory (/dev/shm) where the machine has it.

    Every test builds warehouses and Dagster run histories, and Dagster's SQLite storage
    syncs to disk at each of a run's thousands of events: on a busy or slow disk that alone
    made the suite several times slower. Nothing a test writes needs to survive it, so it
    goes where a sync costs nothing; subprocesses the tests start inherit TMPDIR.
    """
    memory = Path("/dev/shm")
    if config.option.basetemp or "PYTEST_DEBUG_TEMPROOT" in os.environ or not memory.is_dir():
        return
    if not os.access(memory, os.W_OK):
        return
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(memory)
    os.environ["TMPDIR"] = str(memory)
    tempfile.tempdir = str(memory)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CMC_DATA_DIR; the warehouse, raw store and inbox default to inside it."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("CMC_DATA_DIR", str(folder))
    monkeypatch.setenv("DAGSTER_HOME", str(folder / "dagster_home"))
    for variable in ("CMC_WAREHOUSE", "CMC_RAW_DIR", "CMC_INBOX", "CMC_SOURCE_MODE"):
        monkeypatch.delenv(variable, raising=False)
    return folder


@pytest.fixture
def warehouse(data_dir: Path):
    from cmc_pipeline import settings
    from cmc_pipeline.lib.warehouse import Warehouse

    return Warehouse(settings.warehouse_url())


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory):
    """A warehouse built once per test session from the bundled snapshots by `cmc build`'s
    own code path. Tests must only read it; copy it to change it."""
    folder = tmp_path_factory.mktemp("built")
    saved = {k: os.environ.get(k) for k in ("CMC_DATA_DIR", "DAGSTER_HOME", "CMC_WAREHOUSE")}
    os.environ["CMC_DATA_DIR"] = str(folder)
    os.environ["DAGSTER_HOME"] = str(folder / "dagster_home")
    os.environ.pop("CMC_WAREHOUSE", None)
    try:
        from cmc_pipeline.cli import prepare_dagster_home
        from cmc_pipeline.lib.warehouse import Warehouse
        from cmc_pipeline.orchestration import build_warehouse

        prepare_dagster_home()
        outcome = build_warehouse()
        assert outcome.success, outcome.failures
        yield Warehouse(str(folder / "warehouse" / "cmc.duckdb")), outcome
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


POSTGRES_ADMIN_URL = os.environ.get("CMC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL database on the machine's server, dropped afterwards.

    PostgreSQL runs on every development and CI machine (.ci/run starts it if needed); a
    test that cannot reach it fails rather than skipping, so the backend is never untested.
    """
    import uuid

    import psycopg

    name = f"cmc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_warehouse(request, data_dir):
    """The same warehouse behaviour, once on DuckDB and once on PostgreSQL."""
    from cmc_pipeline.lib.warehouse import Warehouse

    if request.param == "duckdb":
        return Warehouse(str(data_dir / "warehouse" / "cmc.duckdb"))
    return Warehouse(request.getfixturevalue("postgres_url"))


@pytest.fixture
def hold_duckdb_lock():
    """Start a separate process that opens a DuckDB file for writing (as a notebook or a
    second run would) and holds it until the test lets go; returns ``hold(path)``."""
    import subprocess
    import sys

    holders: list[subprocess.Popen] = []
    script = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "print('holding', flush=True); sys.stdin.read(); c.close()"
    )

    def hold(path: Path) -> subprocess.Popen:
        path.parent.mkdir(parents=True, exist_ok=True)
        holder = subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "holding"
        holders.append(holder)
        return holder

    yield hold
    for holder in holders:
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(timeout=30)
