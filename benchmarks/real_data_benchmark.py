"""The bundled build with real upstream files, against the build of generated data it
replaced, and one source's live path replayed from a local HTTP server.

Measured:
- ``cmc build`` of the bundled data in a fresh interpreter and data folder: wall time, rows
  in core.fact_observation and how many of them are real (published) figures, for the
  current tree and for a baseline tree (``--baseline DIR``: a checkout of the commit
  before real files were bundled, run with the same interpreter and packages);
- the Missing Migrants live path: the ten real yearly API answers served by a local HTTP
  server on 127.0.0.1 and fetched, landed, parsed and staged through the live client,
  against the same files read in snapshot mode.

Run: ``.venv/bin/python benchmarks/real_data_benchmark.py [--baseline /path/to/checkout]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine_line, markdown_table, write_section

REPEATS = 3
PROJECT = Path(__file__).resolve().parent.parent


def fresh_env(code: Path) -> dict:
    folder = tempfile.mkdtemp(prefix="cmc-bench-")
    return {
        **os.environ,
        # The tree under test comes first on the path, before the installed project.
        "PYTHONPATH": str(code),
        "CMC_DATA_DIR": folder,
        "DAGSTER_HOME": f"{folder}/dagster_home",
        "GX_ANALYTICS_ENABLED": "False",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


def build(code: Path) -> tuple[float, int, int]:
    """Seconds of one `cmc build` of ``code``'s bundled data, fact rows, real fact rows."""
    env = fresh_env(code)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from cmc_pipeline.cli import main; main()", "build"],
        env=env,
        cwd=code,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, os; c = duckdb.connect(os.environ['CMC_DATA_DIR'] + '/warehouse/cmc.duckdb', "
            "read_only=True); print(*c.execute('SELECT count(*), count(*) FILTER (WHERE NOT "
            "demonstration_data) FROM core.fact_observation').fetchone())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows, real = (int(v) for v in count.stdout.split())
    return seconds, rows, real


def median_build(code: Path) -> tuple[float, int, int]:
    runs = [build(code) for _ in range(REPEATS)]
    return statistics.median(r[0] for r in runs), runs[-1][1], runs[-1][2]


class ReplayHandler(http.server.BaseHTTPRequestHandler):
    """Answers a GET with the recorded body whose upstream URL ends with the request's path
    and query, as the publisher's server answered it."""

    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        found = next((body for url, body in self.bodies.items() if url.endswith(self.path)), None)
        self.send_response(200 if found is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(found if found is not None else b"[]")

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def replay_server(source: str, url_name: str):
    """A local HTTP server replaying every recorded body of ``source``; yields the base URL
    ``url_name`` of the source's origin.yaml with its host replaced by the server's."""
    from urllib.parse import urlsplit

    from cmc_pipeline.lib.snapshots import SnapshotStore
    from cmc_pipeline.sources import origin

    store = SnapshotStore()
    bodies = {e.url: store.read(e) for e in store.entries() if e.source == source}
    handler = type("Handler", (ReplayHandler,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}{urlsplit(origin(source).urls[url_name]).path}"
    finally:
        server.shutdown()


def missing_migrants_live_vs_snapshot() -> tuple[float, float, int]:
    """Seconds to stage every year live (local server) and from the snapshots, and rows."""
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient
    from cmc_pipeline.sources.missing_migrants.load import load_missing_migrants

    def staged(client) -> tuple[float, int]:
        folder = Path(tempfile.mkdtemp(prefix="cmc-bench-mm-"))
        warehouse = Warehouse(str(folder / "cmc.duckdb"))
        start = time.perf_counter()
        report = load_missing_migrants(client, warehouse, folder / "raw")
        return time.perf_counter() - start, report.rows_written

    class BundledYears(MissingMigrantsClient):
        """The live client, asked for the years bundled (IOM's answers for 2022 and 2024
        are not among the recorded files, so the local server has nothing to replay)."""

        def fetch_all(self):
            years = sorted(int(e.dataset) for e in self.snapshots.entries() if e.source == "missing_migrants")
            return [self.fetch_year(year) for year in years]

    with replay_server("missing_migrants", "global_figures") as base_url:
        live = [staged(BundledYears(mode="live", base_url=base_url)) for _ in range(REPEATS)]
    recorded = [staged(MissingMigrantsClient(mode="snapshot")) for _ in range(REPEATS)]
    return statistics.median(s for s, _ in live), statistics.median(s for s, _ in recorded), live[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of the tree before the real files")
    arguments = parser.parse_args()

    current = median_build(PROJECT)
    rows = [["this tree", f"{current[0]:.1f} s", f"{current[1]:,}", f"{current[2]:,}", "1.00"]]
    if arguments.baseline:
        before = median_build(arguments.baseline)
        rows.insert(
            0,
            [
                "before (generated data)",
                f"{before[0]:.1f} s",
                f"{before[1]:,}",
                f"{before[2]:,}",
                f"{before[0] / current[0]:.2f}",
            ],
        )
    live, recorded, staged_rows = missing_migrants_live_vs_snapshot()
    markdown = "\n\n".join(
        [
            "## Real upstream data: the bundled build, and a live path replayed locally",
            machine_line() + f" Medians of {REPEATS} runs; the machine's other work shares its two cores.",
            "`cmc build` of the bundled data in a fresh interpreter and data folder (wall time, and "
            "rows of `core.fact_observation`; *real* rows are published figures, the others are "
            "labelled demonstration data). The ratio is each tree's time over this tree's.",
            markdown_table(["tree", "cmc build", "fact rows", "real fact rows", "time ratio"], rows),
            "Missing Migrants: the ten real yearly API answers fetched through the live client from "
            "a local HTTP server on 127.0.0.1 (landed, parsed, staged), against the same files read "
            "in snapshot mode.",
            markdown_table(
                ["path", "seconds", "rows staged", "ratio to snapshot"],
                [
                    ["snapshot (bundled files)", f"{recorded:.2f}", f"{staged_rows:,}", "1.00"],
                    [
                        "live, replayed on 127.0.0.1",
                        f"{live:.2f}",
                        f"{staged_rows:,}",
                        f"{live / recorded:.2f}",
                    ],
                ],
            ),
        ]
    )
    write_section("real-data", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
