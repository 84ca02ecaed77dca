"""Marts rebuild time on the bundled data and on a warehouse scaled to 10×, on DuckDB and
on PostgreSQL, checked through the gate and, as the baseline, written without the rules.

Scaling: core.fact_observation's annual rows since 2000 are copied nine more times with
their periods moved back by 100-year steps (before any real year), so the country × year
marts (labour-migration indicators, remittances, regional aggregates) get ten times the
rows. data_coverage starts in 2000 by design and does not grow. Each figure is the median
of three rebuilds of all four marts.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/marts_benchmark.py``); needs the
PostgreSQL server on 127.0.0.1:5432 for the second half.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cmc_pipeline.lib import core_tables
from cmc_pipeline.sources.ilostat import load as ilostat_load
from cmc_pipeline.sources.worldbank import load as worldbank_load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine_line, markdown_table, write_section

POSTGRES_ADMIN = os.environ.get("CMC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPEATS = 3


def build_core(warehouse, raw_dir: Path) -> None:
    from cmc_pipeline.lib.reference import cmc_iso3_codes
    from cmc_pipeline.sources.ilostat.client import IlostatClient
    from cmc_pipeline.sources.worldbank.client import WorldBankClient

    countries = cmc_iso3_codes()
    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    ilostat_load.load_ilostat(IlostatClient(mode="snapshot"), warehouse, raw_dir, countries)
    worldbank_load.load_worldbank(WorldBankClient(mode="snapshot"), warehouse, raw_dir, countries)
    core_tables.build_fact_observations(warehouse, countries)


def scale_facts(warehouse, factor: int) -> None:
    from cmc_pipeline.lib.contracts import contract_for

    columns = contract_for("core.fact_observation").column_names
    shifted = ", ".join(
        "CAST(CAST(period AS INTEGER) - {shift} AS VARCHAR)" if c == "period" else f'"{c}"' for c in columns
    )
    names = ", ".join(f'"{c}"' for c in columns)
    with warehouse.connect() as connection:
        for step in range(1, factor):
            sql = (
                f"INSERT INTO core.fact_observation ({names}) SELECT {shifted.format(shift=100 * step)} "
                f"FROM core.fact_observation WHERE frequency = 'A' AND CAST(period AS INTEGER) >= 2000"
            )
            connection.execute(sql)
        if warehouse.backend == "postgres":
            connection.commit()


def rebuild_marts_seconds(warehouse, *, checked: bool = True) -> float:
    """The four marts rebuilt as the pipeline does (through the gate: every rule of their
    contracts); with ``checked=False``, the same rows written without the rules, the
    baseline for what checking a mart costs."""
    from unittest import mock

    from cmc_pipeline.lib import marts
    from cmc_pipeline.steps import gate

    def write_unchecked(warehouse, table, frame, report, **_):
        return warehouse.replace_slice(table, frame, {})

    gate_as_configured = (
        contextlib.nullcontext()
        if checked
        else mock.patch.object(gate, "validate_and_replace", write_unchecked)
    )
    start = time.perf_counter()
    with gate_as_configured:
        marts.build_labour_migration_indicators(warehouse)
        marts.build_remittances(warehouse)
        marts.build_data_coverage(warehouse)
        marts.build_regional_aggregates(warehouse)
    return time.perf_counter() - start


def measure(warehouse, raw_dir: Path) -> list[tuple[int, int, float, float]]:
    build_core(warehouse, raw_dir)
    figures = []
    for factor in (1, 10):
        if factor > 1:
            scale_facts(warehouse, factor)
        facts = int(warehouse.query("SELECT count(*) AS n FROM core.fact_observation")["n"].iloc[0])
        rebuild_marts_seconds(warehouse)  # warm caches
        seconds = statistics.median(rebuild_marts_seconds(warehouse) for _ in range(REPEATS))
        unchecked = statistics.median(rebuild_marts_seconds(warehouse, checked=False) for _ in range(REPEATS))
        mart_rows = int(
            warehouse.query("SELECT count(*) AS n FROM marts.labour_migration_indicators")["n"].iloc[0]
        )
        figures.append((facts, mart_rows, seconds, unchecked))
    return figures


def main() -> None:
    import psycopg

    from cmc_pipeline.lib.warehouse import Warehouse

    folder = Path(tempfile.mkdtemp(prefix="cmc-marts-bench-"))
    results = {"DuckDB": measure(Warehouse(str(folder / "cmc.duckdb")), folder / "raw")}
    database = f"cmc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    try:
        url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{database}"
        results["PostgreSQL"] = measure(Warehouse(url), folder / "raw")
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    rows = []
    for backend, ((facts_1, marts_1, s1, u1), (facts_10, marts_10, s10, u10)) in results.items():
        rows.append(
            [
                backend,
                f"{facts_1:,}",
                f"{marts_1:,}",
                f"{s1:.2f} s",
                f"{u1:.2f} s",
                f"{s1 / u1:.1f}×",
                f"{facts_10:,}",
                f"{marts_10:,}",
                f"{s10:.2f} s",
                f"{u10:.2f} s",
                f"{s10 / u10:.1f}×",
                f"{s10 / s1:.1f}×",
            ]
        )
    duck_10, pg_10 = results["DuckDB"][1][2], results["PostgreSQL"][1][2]
    markdown = "\n".join(
        [
            "## Marts rebuild: bundled data and 10×, DuckDB and PostgreSQL",
            "",
            machine_line() + f" Median of {REPEATS} rebuilds of all four marts.",
            "",
            markdown_table(
                [
                    "backend",
                    "facts (1×)",
                    "indicator-mart rows",
                    "rebuild, checked",
                    "written unchecked",
                    "checked / unchecked",
                    "facts (10×)",
                    "indicator-mart rows",
                    "rebuild, checked",
                    "written unchecked",
                    "checked / unchecked",
                    "10× / 1×",
                ],
                rows,
            ),
            "",
            f"At 10×, PostgreSQL takes {pg_10 / duck_10:.1f}× DuckDB's time for the same marts. Each",
            "mart is computed inside the warehouse by one `SELECT`, then goes through the gate every",
            "table write goes through: every rule of its contract, evaluated by DuckDB, per country",
            "or area. The baseline writes the same rows without the rules (the gate replaced by a",
            "plain write); the ratio is what checking the marts costs.",
        ]
    )
    write_section("marts", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
