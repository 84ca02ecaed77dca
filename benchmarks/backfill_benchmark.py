"""Backfill of 20 countries × 25 years through the daemon, against one run per partition.

Starts the shared deployment of deploy/ on this machine (PostgreSQL instance storage, code
server, daemon, webserver; DuckDB warehouse; bundled snapshots), then:

1. the batched backfill, launched as the UI and ``cmc backfill`` launch it: 20 countries,
   every year 2000–2024 the sources publish, through the daemon;
2. the baseline, one run per partition: ``dagster job backfill`` submits a run per
   country; measured over the same 20 countries and extrapolated to the 500 runs a
   country × year partitioning would start.

Processes are counted by watching the process groups of the deployment's processes (the
runs are children of the code server) every 0.1 s. Figures go to docs/benchmarks.md.

    PYTHONPATH=. python benchmarks/backfill_benchmark.py
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.report import machine_line, markdown_table, write_section
from cmc_pipeline.defs.partitions import YEARS_TAG
from cmc_pipeline.lib.backfills import launch_backfill, wait_for_backfill
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline_tests.deployment import BIN, LocalDeployment

COUNTRIES = cmc_iso3_codes()[:20]
YEARS = "2000-2024"
YEAR_COUNT = 25
TIMEOUT = 1800


def kind_of(command: str) -> str:
    """What a new process in the deployment's groups is: a helper of Dagster's local
    compute-log capture (four per run), multiprocessing's resource tracker (once), or a
    run (the code server forks each run, so its command line is the server's or empty)."""
    if command.startswith("tail -F") or "watch_orphans" in command:
        return "log capture"
    if "resource_tracker" in command:
        return "other"
    return "run"


class ProcessWatch:
    """Every process seen in the given process groups while the watch runs."""

    def __init__(self, groups: set[int]):
        self.groups = groups
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self.before = set(self._scan())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def started(self) -> dict[int, str]:
        return {pid: cmd for pid, cmd in self.seen.items() if pid not in self.before}

    def count(self, kind: str) -> int:
        return sum(1 for cmd in self.started.values() if kind_of(cmd) == kind)

    def _scan(self) -> dict[int, str]:
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                pgid = int(stat.rsplit(")", 1)[1].split()[2])
                if pgid in self.groups:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found[int(entry)] = cmd.strip()
            except (OSError, IndexError, ValueError):
                continue
        return found

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid, command in self._scan().items():
                # An exiting process shows an empty command line: keep the one seen before.
                if command or pid not in self.seen:
                    self.seen[pid] = command
            time.sleep(0.1)


def years_loaded(deployment: LocalDeployment) -> str:
    warehouse = Warehouse(str(deployment.data / "warehouse" / "cmc.duckdb"))
    found = warehouse.query(
        "SELECT min(substr(period, 1, 4)) AS first, max(substr(period, 1, 4)) AS last, "
        "count(DISTINCT country_iso3) AS countries, count(*) AS n FROM core.fact_observation"
    ).iloc[0]
    return f"{found['first']}–{found['last']}, {found['countries']} countries with data, {found['n']:,} rows"


def batched(deployment: LocalDeployment, groups: set[int]) -> dict:
    with ProcessWatch(groups) as watch:
        started = time.monotonic()
        backfill_id = launch_backfill(
            deployment.ui_url, COUNTRIES, job="build_warehouse", tags={YEARS_TAG: YEARS}
        )
        state = wait_for_backfill(deployment.ui_url, backfill_id, timeout=TIMEOUT, poll=0.5)
        wall = time.monotonic() - started
    assert state.succeeded, state
    run_ids = {r["runId"] for r in state.runs}
    return measured(deployment, watch, wall, run_ids)


def measured(deployment: LocalDeployment, watch: ProcessWatch, wall: float, run_ids: set[str]) -> dict:
    records = [r for r in deployment.instance().get_run_records() if r.dagster_run.run_id in run_ids]
    return {
        "wall": wall,
        "runs": len(records),
        "run_seconds": sum(r.end_time - r.start_time for r in records),
        "run_processes": watch.count("run"),
        "processes": len(watch.started),
    }


def one_run_per_partition(deployment: LocalDeployment, groups: set[int]) -> dict:
    instance = deployment.instance()
    import dagster as dg

    before = {r.dagster_run.run_id for r in instance.get_run_records()}
    with ProcessWatch(groups) as watch:
        started = time.monotonic()
        submitted = deployment.run(
            [
                str(BIN / "dagster"),
                "job",
                "backfill",
                "-w",
                str(deployment.workspace),
                "-j",
                "build_warehouse",
                "--partitions",
                ",".join(COUNTRIES),
                "--tags",
                json.dumps({YEARS_TAG: YEARS}),
                "--noprompt",
            ],
            timeout=TIMEOUT,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        deadline = time.monotonic() + TIMEOUT
        while True:
            runs = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in before]
            if len(runs) == len(COUNTRIES) and all(r.is_finished for r in runs):
                break
            assert time.monotonic() < deadline, "the per-partition runs did not finish"
            time.sleep(0.5)
        wall = time.monotonic() - started
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    return measured(deployment, watch, wall, {r.run_id for r in runs})


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cmc-backfill-bench-") as root:
        deployment = LocalDeployment(Path(root)).create()
        try:
            deployment.start()
            groups = {p.pid for p in deployment.processes.values()}
            one = batched(deployment, groups)
            loaded = years_loaded(deployment)
            per = one_run_per_partition(deployment, groups)
        finally:
            deployment.stop()
            deployment.drop()

    per_run = per["wall"] / per["runs"]
    partitions = len(COUNTRIES) * YEAR_COUNT

    def row(how: str, selection: str, figures: dict) -> list:
        return [
            how,
            selection,
            figures["runs"],
            figures["run_processes"],
            figures["processes"],
            f"{figures['run_seconds']:.0f} s",
            f"{figures['wall']:.0f} s",
            f"{figures['wall'] / one['wall']:.1f}×",
        ]

    rows = [
        row("batched backfill (UI / `cmc backfill`), through the daemon", f"20 countries × {YEARS}", one),
        row("one run per country (`dagster job backfill`), measured", "20 partitions", per),
        [
            "one run per country × year, extrapolated from the row above",
            f"{partitions} partitions",
            partitions,
            partitions,
            f"≈{per['processes'] / per['runs'] * partitions:.0f}",
            f"≈{per['run_seconds'] / per['runs'] * partitions / 60:.0f} min",
            f"≈{per_run * partitions / 60:.0f} min",
            f"≈{per_run * partitions / one['wall']:.0f}×",
        ],
    ]
    header = [
        "how",
        "selection",
        "runs",
        "run processes",
        "all processes",
        "time in runs",
        "wall time",
        "vs batched",
    ]
    markdown = "\n".join(
        [
            "## Operations: backfilling 20 countries × 25 years",
            "",
            machine_line(),
            "Deployment as in `deploy/`: PostgreSQL instance storage; code server, daemon and webserver as "
            "separate processes; DuckDB warehouse; bundled snapshots; `max_concurrent_runs: 4`; pool "
            "`warehouse` limit 1 at run granularity. *Run processes* are the runs the code server forks; "
            "*all processes* adds the four helpers Dagster's local compute-log capture starts per run "
            "(and multiprocessing's resource tracker, once). "
            "*Time in runs* sums each run's start to end; *wall time* is from the request to the last run's "
            "end. Other work shared the 2 cores while this ran.",
            "",
            markdown_table(header, rows),
            "",
            f"Warehouse after the batched backfill: periods {loaded}.",
            "The batched backfill's wall time is mostly waiting for the daemon's backfill tick (every 30 s) "
            "and one run's start-up; its run did the 20 countries in one process. The per-country runs "
            "queue behind the `warehouse` pool and run one at a time. The last row multiplies the measured "
            "figures per run by 500: what partitioning by year as well would cost (docs/operations.md).",
        ]
    )
    write_section("operations", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
