"""A throw-away shared deployment on this machine, as deploy/ describes it: the production
``dagster.yaml`` (PostgreSQL storage, run queue, pools, run monitoring) against a fresh
database, and the three processes (code server, daemon, webserver) on loopback ports.

Used by the deployment tests and by ``benchmarks/backfill_benchmark.py``. Everything it
starts runs in its own process group, which ``stop`` ends by id; ``drop`` removes the
database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> bool:
    try:
        with socket.create_connection((PG["host"], int(PG["port"])), timeout=2):
            return True
    except OSError:
        return False


def psql_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=PG["host"], port=PG["port"], user=PG["user"], dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(sql)


class LocalDeployment:
    def __init__(
        self, root: Path, *, extra_env: dict[str, str] | None = None, postgres_warehouse: bool = False
    ):
        self.root = Path(root)
        self.db_name = f"cmc_dagster_test_{uuid.uuid4().hex[:10]}"
        # A PostgreSQL warehouse too, as on several machines (DuckDB is one machine's file).
        self.warehouse_db = f"{self.db_name}_warehouse" if postgres_warehouse else None
        self.home = self.root / "dagster_home"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.grpc_port = free_port()
        self.ui_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_DIR),
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_HOST": PG["host"],
            "DAGSTER_PG_PORT": PG["port"],
            "DAGSTER_PG_DB": self.db_name,
            "DAGSTER_PG_USERNAME": PG["user"],
            "DAGSTER_PG_PASSWORD": "",
            "CMC_DATA_DIR": str(self.data),
            "CMC_DAGSTER_URL": self.ui_url,
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "GX_ANALYTICS_ENABLED": "False",
            # The venv's console scripts (celery, dagster) for the processes these start.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **(extra_env or {}),
        }
        for variable in ("CMC_WAREHOUSE", "CMC_RAW_DIR", "CMC_INBOX", "CMC_NOTIFY_LOG", "CMC_EXECUTOR"):
            if variable not in (extra_env or {}):
                self.env.pop(variable, None)
        if self.warehouse_db:
            self.env["CMC_WAREHOUSE"] = self.warehouse_url

    @property
    def warehouse_url(self) -> str:
        if self.warehouse_db:
            return f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{self.warehouse_db}"
        return str(self.data / "warehouse" / "cmc.duckdb")

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    # --- set-up and tear-down ----------------------------------------------------------

    def create(self) -> LocalDeployment:
        for folder in (self.home, self.data, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        psql_admin(f'CREATE DATABASE "{self.db_name}"')
        if self.warehouse_db:
            psql_admin(f'CREATE DATABASE "{self.warehouse_db}"')
        shutil.copy(PROJECT_DIR / "deploy" / "dagster.yaml", self.home / "dagster.yaml")
        # deploy/workspace.yaml with this deployment's free port in place of 4266.
        text = (PROJECT_DIR / "deploy" / "workspace.yaml").read_text(encoding="utf-8")
        self.workspace.write_text(text.replace("port: 4266", f"port: {self.grpc_port}"), encoding="utf-8")
        return self

    def start(self) -> LocalDeployment:
        self.start_code_server()
        self.start_daemon()
        self.start_webserver()
        return self

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)

    def drop(self) -> None:
        for name in (self.db_name, self.warehouse_db):
            if name:
                psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- the three processes -----------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, including the runs it starts
        )
        self.processes[name] = process
        return process

    def start_code_server(self) -> None:
        self._spawn(
            "code_server",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.grpc_port),
                "-m",
                "cmc_pipeline.definitions",
                "--location-name",
                "cmc_pipeline",
            ],
        )
        self._wait_for_port(self.grpc_port, "code_server", timeout=120)

    def start_daemon(self) -> None:
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)])

    def start_webserver(self) -> None:
        self._spawn(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ui_port),
                "-w",
                str(self.workspace),
            ],
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self._check_alive("webserver")
            try:
                if requests.get(f"{self.ui_url}/server_info", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"the webserver did not answer on {self.ui_url}; see {self.logs / 'webserver.log'}"
        )

    def start_celery_worker(self, queue: str) -> None:
        """A worker as deploy/celery-worker.yaml starts one, listening on ``queue``."""
        self._spawn(
            "celery_worker",
            [
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(PROJECT_DIR / "deploy" / "celery-worker.yaml"),
                "-q",
                queue,
            ],
        )
        deadline = time.monotonic() + 120
        while b"ready." not in (self.logs / "celery_worker.log").read_bytes():
            self._check_alive("celery_worker")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Celery worker ready; see {self.logs / 'celery_worker.log'}")
            time.sleep(0.5)

    def run(self, command: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a command (``dagster job execute`` …) in the deployment's environment."""
        return subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def kill_daemon(self) -> None:
        """The daemon dies without warning (kill -9), as in a machine or OOM failure."""
        self.stop_process("daemon", sig=signal.SIGKILL)

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        # Wait for the whole group (a Celery worker's pool, a run still finishing), then
        # end whatever is left of it.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            process.poll()
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            log = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")

    def _wait_for_port(self, port: int, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{name} did not listen on port {port}; see {self.logs / f'{name}.log'}")

    # --- what the deployment recorded --------------------------------------------------

    def instance(self):
        """The deployment's Dagster instance (PostgreSQL), read from this process."""
        import dagster as dg

        saved = {k: os.environ.get(k) for k in self.env if k.startswith("DAGSTER_PG_")}
        os.environ.update({k: self.env[k] for k in saved})
        try:
            return dg.DagsterInstance.from_config(str(self.home))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
