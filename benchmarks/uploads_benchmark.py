"""How long a national office's million-row upload takes to check and to load, and how
much memory it needs, beside the time DuckDB takes only to read the same file.

The file: a ``work_permits`` CSV from one country, 1,000,000 rows (every month of ten
years × nationality × occupation × permit type, each as SEX_T, SEX_M and SEX_F rows that
add up), generated on the fly. Measured, each in a fresh process so that peak memory
(``ru_maxrss``) is the step's own:

- DuckDB ``read_csv``: the file read into an in-memory table (the baseline);
- ``cmc validate``: the command a data officer runs, start to finish (process start,
  imports, reading, every contract rule, the sender check);
- validate + load: ``process_upload`` as the pipeline's run does it: land raw, read,
  check, then append to ``uploads.work_permits`` and replace ``core.work_permits`` in
  one transaction, in a new DuckDB warehouse.

Run: ``python benchmarks/uploads_benchmark.py`` (writes the "uploads" section of
docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.report import machine_line, markdown_table, write_section

PROJECT = Path(__file__).resolve().parent.parent
ROWS = 1_000_000
COUNTRY = "JAM"
TARGET_RATIO = 4.0
TARGET_PEAK_MB = 1024


def write_upload(path: Path, rows: int = ROWS, seed: int = 11) -> None:
    """``rows`` rows of distinct keys, in groups of total, male and female that add up."""
    import pycountry

    rng = np.random.default_rng(seed)
    groups = rows // 3
    periods = np.array([f"{y}-M{m:02d}" for y in range(2014, 2024) for m in range(1, 13)])
    nationalities = np.array(sorted(c.alpha_3 for c in pycountry.countries))
    occupations = np.array([f"OCU_ISCO08_{g}" for g in "1234567890"])
    permit_types = np.array(["NEW", "RENEWAL", "TOTAL"])
    sizes = [len(periods), len(nationalities), len(occupations), len(permit_types)]
    codes = rng.choice(int(np.prod(sizes)), size=groups, replace=False)
    digits = []
    for size in reversed(sizes):
        digits.append(codes % size)
        codes //= size
    period, nationality, occupation, permit = reversed(digits)
    male = rng.integers(0, 300, groups)
    female = rng.integers(0, 300, groups)
    key = np.char.add(
        np.char.add(np.char.add(f"{COUNTRY},", periods[period]), ","),
        np.char.add(np.char.add(np.char.add(",", nationalities[nationality]), ","), occupations[occupation]),
    )
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(
            "country_iso3,period,sex,nationality_iso3,occupation,permit_type,permits_granted,applications_received\n"
        )
        for sex, counts in (("SEX_T", male + female), ("SEX_M", male), ("SEX_F", female)):
            lines = np.char.add(
                np.char.add(np.char.add(np.char.replace(key, ",,", f",{sex},"), ","), permit_types[permit]),
                np.char.add(np.char.add(",", counts.astype(str)), np.char.add(",", (counts + 5).astype(str))),
            )
            f.write("\n".join(lines.tolist()))
            f.write("\n")


CHILD = {
    "duckdb_read": """
import duckdb
connection = duckdb.connect()
connection.execute("CREATE TABLE upload AS SELECT * FROM read_csv(?)", [FILE])
rows = connection.execute("SELECT count(*) FROM upload").fetchall()[0][0]
""",
    "check": """
from cmc_pipeline.lib.uploads.checking import check_file
check = check_file(FILE, "work_permits", sender="JAM")
assert check.accepted, check.report_lines()[:5]
rows = len(check.rows)
""",
    "validate_and_load": """
import shutil
from pathlib import Path
from cmc_pipeline.lib.uploads.loading import process_upload
from cmc_pipeline.lib.warehouse import Warehouse
inbox = Path(WORK) / "inbox"
(inbox / "JAM" / "work_permits").mkdir(parents=True, exist_ok=True)
target = inbox / "JAM" / "work_permits" / "permits.csv"
shutil.copy(FILE, target)
warehouse = Warehouse(str(Path(WORK) / "warehouse.duckdb"))
outcome = process_upload(target, dataset="work_permits", country="JAM", warehouse=warehouse,
                         raw_root=Path(WORK) / "raw", uploader="benchmark", inbox=inbox)
assert outcome.status == "accepted", outcome.message()
rows = outcome.rows_loaded
""",
}


def measure(step: str, file: Path, work: Path) -> dict:
    """Run one step in a fresh interpreter; its own wall time and peak memory."""
    code = (
        "import json, resource, time\n"
        f"FILE, WORK = {str(file)!r}, {str(work)!r}\n"
        "started = time.perf_counter()\n"
        + CHILD[step]
        + "\nprint(json.dumps({'seconds': time.perf_counter() - started, 'rows': rows, "
        "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environment
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def time_cli(file: Path) -> float:
    """``cmc validate`` as a person runs it, interpreter start and imports included."""
    cmc = Path(sys.executable).with_name("cmc")
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    started = time.perf_counter()
    subprocess.run(
        [str(cmc), "validate", str(file), "--dataset", "work_permits", "--country", COUNTRY],
        check=True,
        capture_output=True,
        env=environment,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        file = work / "JAM__work_permits__benchmark.csv"
        write_upload(file)
        size_mb = file.stat().st_size / 1e6
        read = measure("duckdb_read", file, work)
        check = measure("check", file, work)
        cli_seconds = time_cli(file)
        load = measure("validate_and_load", file, work / "load")
    rows = [
        ["DuckDB `read_csv` (baseline)", f"{read['seconds']:.2f}", "1.0×", f"{read['peak_mb']:.0f}"],
        [
            "`cmc validate` (whole command)",
            f"{cli_seconds:.2f}",
            f"{cli_seconds / read['seconds']:.1f}×",
            "",
        ],
        [
            "read + check (inside `cmc validate`)",
            f"{check['seconds']:.2f}",
            f"{check['seconds'] / read['seconds']:.1f}×",
            f"{check['peak_mb']:.0f}",
        ],
        [
            "validate + load (land raw, check, write history and current tables)",
            f"{load['seconds']:.2f}",
            f"{load['seconds'] / read['seconds']:.1f}×",
            f"{load['peak_mb']:.0f}",
        ],
    ]
    ratio = load["seconds"] / read["seconds"]
    verdict = (
        f"Targets: validate + load within {TARGET_RATIO:g}× DuckDB's read — "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.1f}×); peak memory under "
        f"{TARGET_PEAK_MB} MB — {'met' if load['peak_mb'] < TARGET_PEAK_MB else 'NOT met'} "
        f"({load['peak_mb']:.0f} MB)."
    )
    markdown = "\n\n".join(
        [
            "## National uploads: a million-row work-permits file",
            f"`benchmarks/uploads_benchmark.py`. {machine_line()} One CSV of {ROWS:,} rows "
            f"({size_mb:.0f} MB) from one country; each step in a fresh process, peak memory is its "
            "maximum resident set. Reading uses Arrow's CSV parser for plain files and falls back to "
            "the strict line-by-line reader (which names the line of any problem) for anything else; "
            "every contract rule runs in DuckDB over the rows as read.",
            markdown_table(["Step", "Seconds", "vs DuckDB read", "Peak memory (MB)"], rows),
            verdict,
        ]
    )
    write_section("uploads", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
