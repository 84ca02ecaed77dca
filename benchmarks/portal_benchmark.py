"""How fast the data officers' portal answers: a 100,000-row upload checked and reported
on the page, against ``cmc validate`` on the same file, and pages served per second.

The portal runs as ``cmc portal`` does (waitress, its own process, a fresh data folder);
the clients are this process, over HTTP on 127.0.0.1, signed in through the login form.

- Upload: from the first byte of the POST to the report page's last byte (the POST, the
  redirect and the report), against ``cmc validate FILE --dataset work_permits --country
  JAM`` start to finish (process start and imports included: what an officer waits for
  on their own machine). The file is a ``work_permits`` CSV from
  ``benchmarks/uploads_benchmark.py``'s generator, 100,000 rows that pass every rule.
- Pages: a country's home page (reporting calendar, states, latest figures, over a
  warehouse holding the bundled demonstration uploads of three countries) and the login
  page, requested by 4 clients at once for a few seconds, against the portal's stylesheet
  served by the same server (the baseline: what waitress and Flask cost alone).

Run: ``python benchmarks/portal_benchmark.py`` (writes the "portal" section of
docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from benchmarks.report import machine_line, markdown_table, write_section
from benchmarks.uploads_benchmark import write_upload

PROJECT = Path(__file__).resolve().parent.parent
ROWS = 100_000
REPEATS = 3
CLIENTS = 4
SECONDS_PER_PAGE = 5
TARGET_RATIO = 1.5
EMAIL, PASSWORD = "benchmark.officer@labour.gov.jm", "benchmark passphrase"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _signed_in(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    answer = session.post(f"{url}/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    answer.raise_for_status()
    return session


def _upload_seconds(url: str, file: Path) -> float:
    session = _signed_in(url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{url}/c/JAM/upload").text)[1]
    body = file.read_bytes()
    started = time.perf_counter()
    answer = session.post(
        f"{url}/c/JAM/upload",
        data={"dataset": "work_permits", "csrf_token": token},
        files={"file": (file.name, body, "text/csv")},
    )
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    assert "Accepted: the file passed every check" in answer.text, answer.text[:2000]
    return elapsed


def _validate_seconds(file: Path, environment: dict) -> float:
    cmc = Path(sys.executable).with_name("cmc")
    started = time.perf_counter()
    subprocess.run(
        [str(cmc), "validate", str(file), "--dataset", "work_permits", "--country", "JAM"],
        check=True,
        capture_output=True,
        env=environment,
    )
    return time.perf_counter() - started


def _pages_per_second(url: str, path: str, signed_in: bool) -> float:
    sessions = [_signed_in(url) if signed_in else requests.Session() for _ in range(CLIENTS)]
    counts = [0] * CLIENTS
    stop = time.perf_counter() + SECONDS_PER_PAGE

    def client(index: int) -> None:
        while time.perf_counter() < stop:
            sessions[index].get(url + path).raise_for_status()
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def _load_demonstration_figures(environment: dict) -> None:
    """The bundled demonstration uploads of Jamaica, Barbados and Trinidad and Tobago,
    loaded and published as `cmc build` does, so the country page reads real tables."""
    code = """
from cmc_pipeline import settings
from cmc_pipeline.lib import core_tables, marts
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS
from cmc_pipeline.lib.uploads.loading import load_demonstration_uploads
from cmc_pipeline.lib.warehouse import Warehouse

warehouse = Warehouse(settings.warehouse_url())
core_tables.build_dim_country(warehouse)
for dataset in UPLOAD_DATASETS:
    load_demonstration_uploads(dataset, ["JAM", "BRB", "TTO"], warehouse, settings.raw_dir())
    marts.build_upload_mart(warehouse, dataset)
"""
    # Great Expectations' second run of the rules adds only start-up time to this setup.
    subprocess.run([sys.executable, "-c", code], check=True, env={**environment, "CMC_GX_MAX_ROWS": "0"})


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        environment = {
            **os.environ,
            "PYTHONPATH": str(PROJECT),
            "CMC_DATA_DIR": str(work / "data"),
            "CMC_INBOX_SETTLE_SECONDS": "10",
        }
        file = work / "JAM__work_permits__benchmark.csv"
        write_upload(file, rows=ROWS)
        cmc = Path(sys.executable).with_name("cmc")
        subprocess.run(
            [str(cmc), "portal", "add-user", EMAIL, "--country", "JAM", "--role", "officer"],
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
            env=environment,
        )
        _load_demonstration_figures(environment)
        port = _free_port()
        server = subprocess.Popen(
            [str(cmc), "portal", "--port", str(port)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    requests.get(f"{url}/login", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            _upload_seconds(url, file)  # the first answer pays the imports; not counted
            portal = [_upload_seconds(url, file) for _ in range(REPEATS)]
            validate = [_validate_seconds(file, environment) for _ in range(REPEATS)]
            stylesheet = _pages_per_second(url, "/static/portal.css", signed_in=False)
            login = _pages_per_second(url, "/login", signed_in=False)
            home = _pages_per_second(url, "/c/JAM", signed_in=True)
        finally:
            server.terminate()
            server.wait(timeout=30)

    portal_s, validate_s = statistics.median(portal), statistics.median(validate)
    ratio = portal_s / validate_s
    verdict = "met" if ratio <= TARGET_RATIO else "not met"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    markdown = f"""## portal

{machine_line()} Load average when it ended: {load} (the machine is shared; compare the
ratios, measured in the same run, rather than the seconds).

`benchmarks/portal_benchmark.py`: the portal (`cmc portal`, waitress) in its own process,
clients over HTTP on 127.0.0.1, signed in through the login form.

The answer to a {ROWS:,}-row `work_permits` upload (POST to the report page), against
`cmc validate` on the same file, start to finish; median of {REPEATS} runs each:

{
        markdown_table(
            ["step", "seconds", "× cmc validate"],
            [
                ["`cmc validate FILE --dataset work_permits --country JAM`", f"{validate_s:.2f}", "1.00"],
                [
                    "portal: upload, check, keep the file and report, place in the inbox",
                    f"{portal_s:.2f}",
                    f"{ratio:.2f}",
                ],
            ],
        )
    }

Goal: within {TARGET_RATIO}× of `cmc validate` — **{verdict}**. Both run the same
`check_file`; `cmc validate` also starts Python and imports the checks every time, the
portal has them loaded but receives the file over HTTP, keeps it and its report, and
places it in the inbox.

Pages served per second, {CLIENTS} clients at once for {SECONDS_PER_PAGE} s each:

{
        markdown_table(
            ["page", "pages per second", "× the stylesheet"],
            [
                ["`/static/portal.css` (baseline: the server alone)", f"{stylesheet:.0f}", "1.00"],
                ["`/login`", f"{login:.0f}", f"{login / stylesheet:.2f}"],
                ["`/c/JAM` (calendar, states, latest figures)", f"{home:.0f}", f"{home / stylesheet:.2f}"],
            ],
        )
    }

A country's page makes about twenty small reads of the warehouse (the upload tables and
marts of five datasets, and the latest figures) and lists the inbox. It opens the DuckDB
file read-only only when the file has changed since the answers were last read (a
connection kept open would hold the file's lock and stop the pipeline's loads); the
clients here all ask while the warehouse stays as it is, as between two loads.
"""
    write_section("portal", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
