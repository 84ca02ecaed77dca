"""How long the definitions take to load and the warehouse to build, and how much of the
build is Dagster rather than the work itself (issue 15's goals).

Measured:
- definitions load (a fresh interpreter importing and resolving ``cmc_pipeline.definitions``)
  against ``dagster --version`` (goal: within 1 s over it);
- a warm ``cmc build`` (the second build into the same data folder, 25 countries) against
  a bare process importing dagster, duckdb, pandas and pyarrow (goal: within 8×), with the
  project's pooled event log storage and, as the before, with Dagster's stock SQLite one;
- inside one process: the ``build_warehouse`` job over all 25 country partitions
  (in-process executor, one run) against the same steps called as a plain script.
  Orchestration overhead = job time - plain time.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/build_benchmark.py``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cmc_pipeline.lib import core_tables
from cmc_pipeline.sources.ilostat import load as ilostat_load
from cmc_pipeline.sources.worldbank import load as worldbank_load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine_line, markdown_table, write_section

REPEATS = 7
PYTHON = sys.executable


def fresh_env() -> dict:
    folder = tempfile.mkdtemp(prefix="cmc-bench-")
    return {
        **os.environ,
        "CMC_DATA_DIR": folder,
        "DAGSTER_HOME": f"{folder}/dagster_home",
        "GX_ANALYTICS_ENABLED": "False",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


def timed_subprocess(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=fresh_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(fn, repeats: int = REPEATS) -> float:
    return statistics.median(fn() for _ in range(repeats))


def plain_script_seconds() -> float:
    """The same fetch/parse/harmonise/write steps, no Dagster."""
    os.environ.update(fresh_env())
    from cmc_pipeline import settings
    from cmc_pipeline.lib.reference import cmc_iso3_codes
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.sources.ilostat.client import IlostatClient
    from cmc_pipeline.sources.worldbank.client import WorldBankClient

    start = time.perf_counter()
    warehouse = Warehouse(settings.warehouse_url())
    countries = cmc_iso3_codes()
    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    ilostat_load.load_ilostat(IlostatClient(mode="snapshot"), warehouse, settings.raw_dir(), countries)
    worldbank_load.load_worldbank(WorldBankClient(mode="snapshot"), warehouse, settings.raw_dir(), countries)
    core_tables.build_fact_observations(warehouse, countries)
    return time.perf_counter() - start


# The same five assets the plain script builds, so the difference is Dagster's alone.
SAME_STEPS = [
    ("core", "dim_country"),
    ("core", "dim_indicator"),
    ("staging", "ilostat_observations"),
    ("staging", "worldbank_observations"),
    ("core", "fact_observation"),
    ("quality", "unmapped_values"),  # written by the same step as the facts
]


def dagster_job_seconds() -> float:
    os.environ.update(fresh_env())
    import dagster as dg

    from cmc_pipeline.cli import prepare_dagster_home
    from cmc_pipeline.lib.reference import cmc_iso3_codes
    from cmc_pipeline.orchestration import (
        PARTITION_RANGE_END,
        PARTITION_RANGE_START,
        QUIET_LOGS,
        load_definitions,
    )

    prepare_dagster_home()
    job = load_definitions().resolve_job_def("build_warehouse")
    countries = cmc_iso3_codes()
    start = time.perf_counter()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        run_config=QUIET_LOGS,
        tags={PARTITION_RANGE_START: countries[0], PARTITION_RANGE_END: countries[-1]},
        asset_selection=[dg.AssetKey(list(key)) for key in SAME_STEPS],
    )
    assert result.success
    return time.perf_counter() - start


def events_in_last_run() -> int:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        return len(instance.all_logs(run.run_id))


STOCK_EVENT_LOG = """\
# Dagster's own SQLite event log (no event_log_storage entry): the before of the benchmark.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


def warm_folder(stock_event_log: bool = False, code: Path | None = None):
    """A data folder filled by a first build, and a function that times one more build
    into it (a warm build) and one that counts the events the latest build's run stored.
    ``code``: the project as another revision has it (``revision_folder``), run with the
    same installed packages."""
    env = fresh_env()
    if stock_event_log:
        home = Path(env["DAGSTER_HOME"])
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text(STOCK_EVENT_LOG, encoding="utf-8")
    if code is not None:
        env["PYTHONPATH"] = str(code)
    build = [PYTHON, "-c", "from cmc_pipeline.cli import main; main()", "build"]
    subprocess.run(build, env=env, check=True, capture_output=True, cwd=code)

    def timed_build() -> float:
        start = time.perf_counter()
        subprocess.run(build, env=env, check=True, capture_output=True, cwd=code)
        return time.perf_counter() - start

    def events() -> int:
        count = subprocess.run(
            [PYTHON, "-c", COUNT_BUILD_EVENTS], env=env, check=True, capture_output=True, text=True, cwd=code
        )
        return int(count.stdout.strip())

    return timed_build, events


def interleaved(measures: dict, repeats: int) -> dict[str, float]:
    """The median of ``repeats`` runs of each measure, taken in turn (a, b, c, a, b, c …)
    so that a machine that slows down or speeds up meanwhile weighs on each alike: on a
    shared machine a process's speed drifts by a third within minutes."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            times[name].append(measure())
    return {name: statistics.median(values) for name, values in times.items()}


# The events of the latest `build_warehouse` run (the freshness run that follows is apart).
COUNT_BUILD_EVENTS = """\
import dagster as dg
with dg.DagsterInstance.get() as instance:
    (run,) = instance.get_runs(dg.RunsFilter(job_name="build_warehouse"), limit=1)
    print(len(instance.all_logs(run.run_id)))
"""

# The end of issue 15's fourth round, before its fifth (World Bank downloads' parsed rows
# kept, YAML read with libyaml, data libraries imported where used, the report's
# template compiled once): the build before it.
BEFORE = "34cf9e2"


def revision_folder(revision: str) -> Path:
    """The project's files at ``revision`` in a temporary folder (``git archive``)."""
    folder = Path(tempfile.mkdtemp(prefix=f"cmc-{revision}-"))
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", revision], cwd=root, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def main() -> None:
    load = interleaved(
        {
            "dagster --version": lambda: timed_subprocess(
                [str(Path(PYTHON).with_name("dagster")), "--version"]
            ),
            "definitions": lambda: timed_subprocess(
                [PYTHON, "-c", "from cmc_pipeline.definitions import defs; defs().resolve_asset_graph()"]
            ),
        },
        REPEATS,
    )
    dagster_version, definitions = load["dagster --version"], load["definitions"]
    ours, our_events = warm_folder()
    earlier, earlier_events = warm_folder(code=revision_folder(BEFORE))
    builds = interleaved(
        {
            "bare import": lambda: timed_subprocess(
                [PYTHON, "-c", "import dagster, duckdb, pandas, pyarrow"]
            ),
            "warm build": ours,
            "before": earlier,
        },
        REPEATS,
    )
    bare_import, warm, before = builds["bare import"], builds["warm build"], builds["before"]
    warm_events, before_events = our_events(), earlier_events()
    stock, _ = warm_folder(stock_event_log=True)
    warm_stock = stock()  # the before of the pooled event log: one is enough
    # Warm both paths once (imports, code-list caches) so the comparison is of the work.
    plain_script_seconds()
    dagster_job_seconds()
    plain = median_of(plain_script_seconds, 3)
    job = median_of(dagster_job_seconds, 3)
    overhead = job - plain
    events = events_in_last_run()

    rows = [
        [
            "definitions load (fresh interpreter)",
            f"{definitions:.2f} s",
            "`dagster --version`",
            f"{dagster_version:.2f} s",
            f"+{definitions - dagster_version:.2f} s (goal ≤ +1 s)",
        ],
        [
            "warm `cmc build` (25 countries, second build into the same folder)",
            f"{warm:.2f} s",
            "bare `import dagster, duckdb, pandas, pyarrow`",
            f"{bare_import:.2f} s",
            f"{warm / bare_import:.1f}× (goal ≤ 8×)",
        ],
        [
            f"the same warm build: {warm_events:,} events in its run",
            f"{warm:.2f} s",
            f"at {BEFORE}, before this round: {before_events:,} events",
            f"{before:.2f} s",
            f"{warm / before:.2f}× the time, {warm_events / before_events:.2f}× the events",
        ],
        [
            "the same warm build with Dagster's stock SQLite event log (before)",
            f"{warm_stock:.2f} s",
            "warm `cmc build` with the pooled event log",
            f"{warm:.2f} s",
            f"{warm_stock / warm:.2f}×",
        ],
        [
            "five open-data assets as one Dagster run, in process",
            f"{job:.2f} s",
            "the same steps as a plain script",
            f"{plain:.2f} s",
            f"{job / plain:.2f}×",
        ],
        [
            "orchestration overhead (job − plain)",
            f"{overhead:.2f} s",
            "plain script",
            f"{plain:.2f} s",
            f"{overhead / plain:.2f}×; {events} events, {overhead / events * 1000:.1f} ms each",
        ],
    ]
    markdown = "\n".join(
        [
            "## Build: definitions load, `cmc build`, orchestration overhead",
            "",
            machine_line() + f" Median of {REPEATS} runs each, taken in turn with their baselines (the stock"
            " event log: one run; the in-process job and plain script: 3 each); bundled snapshots.",
            "",
            markdown_table(["measure", "time", "baseline", "baseline time", "ratio"], rows),
            "",
            "All 25 country partitions run as one partition range in one run with the in-process",
            "executor. `cmc build` builds every asset (all sources, uploads, marts, report) and ends",
            "with the freshness checks; its time includes interpreter start-up and imports.",
            "",
            "What this round changed (issue 15, fifth round), each measured on the warm build:",
            "",
            "- The World Bank downloads' parsed rows are kept under a digest of the file's bytes",
            "  and the parser's code (`lib/kept_frames.py`): xlrd walking the five workbooks'",
            "  cells and the three bulk CSVs turned from wide to long took 0.75 s a build, the",
            "  kept rows take 0.09 s (the World Bank step went from 11 % to 4 % of the profile).",
            "- Contracts, catalogues and reference lists are all read with libyaml's safe loader",
            "  (`lib/yaml_files.py`), as the contracts already were (YAML was 2 % of the profile).",
            "- A step's check evaluations are tied to the materialisations they checked from what",
            "  the run history's storage remembers of the step's own writes, rather than by",
            "  reading 50 materialisations back from the index and deserialising them per asset",
            "  (3 % of the profile); tables written whole now get their target too.",
            "- The report's template is compiled to Python once and kept (Jinja's bytecode cache).",
            "- The definitions no longer import numpy, pyarrow, the quality engine or requests",
            "  (a test keeps them out): they are imported where rows are first checked or a",
            "  source first goes online. This is the definitions-load figure's change; a build",
            "  imports them anyway.",
            "",
            "Earlier rounds: rows of the run history written by statements built once; the",
            "garbage collector tuned for a batch command and frozen at exit; materialisations",
            "without the repeated column schema; each event serialised once and a step's burst",
            "of check results written in one transaction; UN DESA workbooks' rows, Great",
            "Expectations' outcomes and the report's charts kept under a digest of what they",
            "read; a slice read before its write only when a rule needs it; a checked write's",
            "rule results in the same transaction as its rows; batches of events written in one",
            "transaction; pandas imported only where used; the stock event log's engine per",
            "event replaced by pooled ones.",
            "",
            "This machine is shared, and its speed drifts: the same warm build took 11.7 s to",
            "15.0 s within ten minutes, and a bare import 1.1 s to 1.7 s. The ratios are",
            "therefore taken from runs in turn; even so, the time against the earlier revision",
            "moves by a tenth from one run of this script to the next.",
            "",
            "Profile of the warm build after this round (py-spy, sampling, 18 s under it): imports",
            "23 % (the baseline's own pandas and dagster, SQLAlchemy and Alembic for Dagster's",
            "storage, openpyxl for the governance workbook, the project's modules), the gate of",
            "the checked writes 22 % (DuckDB rules, writes into tables with their primary-key",
            "indexes, the check results), storing the run's 2,625 events 15 % (half of it",
            "Dagster's serialisation of each event), the report 4 %, the freshness run 4 %, the",
            "definitions 1 %; the rest is the loaders' and marts' own work and Dagster's",
            "per-step machinery. What remains is work a warm build repeats on unchanged inputs",
            "(a step whose inputs are unchanged could record an observation instead, which",
            "changes what the run history and freshness mean and is not done here) and the",
            "per-event and per-row work for the check results, countries' histories and run",
            "history the issue says must stay.",
        ]
    )
    write_section("build", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
