"""How long suppression and a members' export take, on the bundled build and with the
two disclosure-controlled marts at 10× their rows.

- Export: ``cmc export --audience members`` in all four formats (suppression, labels,
  attribution, datapackage.json, the SDMX structure message), against the baseline of
  writing the same marts to Parquet, CSV and XLSX with pandas and nothing else.
- Suppression: protecting ``marts.trafficking_cases`` and ``marts.work_permits``
  (relations, primary and secondary suppression, the exact audit), at 1× and at 10×: the
  country rows copied under ten times as many reporting countries, the counts jittered
  (small counts stay small), and the regional rows summed again.

Each figure is the median of three runs, each with an empty release ledger (a first
release). Run: ``python benchmarks/export_benchmark.py`` (writes the "exports" section
of docs/benchmarks.md).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from benchmarks.report import machine_line, markdown_table, write_section

REPEATS = 3
FACTOR = 10
CONTROLLED = ("marts.trafficking_cases", "marts.work_permits")


def median_seconds(action) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(folder: Path):
    os.environ["CMC_DATA_DIR"] = str(folder)
    os.environ["DAGSTER_HOME"] = str(folder / "dagster_home")
    from cmc_pipeline.cli import prepare_dagster_home
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.orchestration import build_warehouse

    prepare_dagster_home()
    outcome = build_warehouse()
    assert outcome.success, outcome.failures
    return Warehouse(str(folder / "warehouse" / "cmc.duckdb"))


def scaled(frame: pd.DataFrame, count: str, factor: int, rng: random.Random) -> pd.DataFrame:
    """The mart with its country rows copied under ``factor`` times as many countries."""
    from cmc_pipeline.lib.reference import countries

    countries_rows = frame[frame["area_type"] == "country"]
    reporting = sorted(set(countries_rows["area_code"]))
    others = [c.iso3 for c in countries() if c.iso3 not in reporting]
    copies = [countries_rows]
    # the other CMC countries first, then made-up codes (X01 …) once they run out
    names = iter(others + [f"X{i:02d}" for i in range(1, factor * len(reporting))])
    for _ in range(factor - 1):
        for iso3 in reporting:
            new = next(names)
            part = countries_rows[countries_rows["area_code"] == iso3].copy()
            part[["area_code", "country_iso3", "countries"]] = new
            part[count] = [max(0, int(v) + rng.randint(-2, 2)) if pd.notna(v) else v for v in part[count]]
            copies.append(part)
    country_rows = pd.concat(copies, ignore_index=True)
    # keep the sex totals true after the jitter, so the relations still hold
    keys = [k for k in ("area_code", "period", "exploitation", "case_stage", "citizenship_iso3",
                        "nationality_iso3", "occupation", "permit_type") if k in frame.columns]  # fmt: skip
    parts = country_rows[country_rows["sex"] != "SEX_T"]
    totals = parts.groupby(keys, as_index=False)[count].sum()
    country_rows = country_rows.merge(totals, on=keys, how="left", suffixes=("", "_sum"))
    is_total = country_rows["sex"] == "SEX_T"
    country_rows.loc[is_total, count] = country_rows.loc[is_total, f"{count}_sum"]
    country_rows = country_rows.drop(columns=f"{count}_sum")
    regional = frame[frame["area_type"] == "region"].drop(columns=[count, "countries"])
    sums = (
        country_rows[country_rows["frequency"] == "A"]
        .groupby([k for k in keys if k != "area_code"] + ["sex"], as_index=False)
        .agg(**{count: (count, "sum"), "countries": ("area_code", lambda s: " ".join(sorted(set(s))))})
    )
    regional = regional.merge(sums, on=[k for k in keys if k != "area_code"] + ["sex"], how="left")
    return pd.concat([country_rows, regional[frame.columns]], ignore_index=True)[frame.columns]


def protect_seconds(warehouse, table: str, frame: pd.DataFrame) -> tuple[float, int]:
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.disclosure import ReleaseLedger
    from cmc_pipeline.lib.exports import apply_disclosure_control
    from cmc_pipeline.lib.sharing import sharing_settings

    contract = contract_for(table)
    hidden = 0

    def run():
        nonlocal hidden
        with tempfile.TemporaryDirectory() as ledger:
            _, hidden, _ = apply_disclosure_control(
                frame, contract, sharing_settings(), audience="members", ledger=ReleaseLedger(Path(ledger))
            )

    return median_seconds(run), hidden


def main() -> None:
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.disclosure import ReleaseLedger
    from cmc_pipeline.lib.exports import FORMATS, export_marts, published_contracts

    with tempfile.TemporaryDirectory(prefix="cmc-export-bench-") as tmp:
        folder = Path(tmp)
        warehouse = build(folder / "data")
        rng = random.Random(2026)

        def export(target: Path, wh) -> None:
            shutil.rmtree(target, ignore_errors=True)
            export_marts(
                wh, target, audience="members", formats=FORMATS, ledger=ReleaseLedger(target / "ledger")
            )

        def plain(target: Path, wh) -> None:
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for contract in published_contracts():
                if contract.custom_properties.get("dissemination_level") == "restricted":
                    continue
                if not wh.table_exists(contract.table):
                    continue
                frame = wh.query(f"SELECT * FROM {contract.table}")
                name = contract.table.replace(".", "_")
                frame.to_parquet(target / f"{name}.parquet", index=False)
                frame.to_csv(target / f"{name}.csv", index=False)
                for column in frame.columns:
                    if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                        frame[column] = frame[column].dt.tz_localize(None)
                frame.to_excel(target / f"{name}.xlsx", index=False)

        rows = []
        suppression_rows = []
        scaled_warehouse = None
        for factor in (1, FACTOR):
            if factor == 1:
                wh = warehouse
            else:
                shutil.copy(warehouse.url, folder / "scaled.duckdb")
                from cmc_pipeline.lib.warehouse import Warehouse

                wh = scaled_warehouse = Warehouse(str(folder / "scaled.duckdb"))
                for table in CONTROLLED:
                    count = contract_for(table).custom_properties["disclosure_control"]["count_columns"][0]
                    bigger = scaled(wh.query(f"SELECT * FROM {table}"), count, factor, rng)
                    with wh.connect() as connection:
                        connection.execute(f"DELETE FROM {table}")
                        connection.register("bigger", bigger)
                        connection.execute(f"INSERT INTO {table} SELECT * FROM bigger")
            export_s = median_seconds(lambda wh=wh, f=factor: export(folder / f"export{f}", wh))
            plain_s = median_seconds(lambda wh=wh, f=factor: plain(folder / f"plain{f}", wh))
            rows.append([f"{factor}×", f"{export_s:.2f} s", f"{plain_s:.2f} s", f"{export_s / plain_s:.1f}×"])
            for table in CONTROLLED:
                frame = wh.query(f"SELECT * FROM {table}")
                seconds, hidden = protect_seconds(wh, table, frame)
                suppression_rows.append(
                    [table, f"{factor}×", f"{len(frame):,}", f"{hidden:,}", f"{seconds:.2f} s"]
                )
        assert scaled_warehouse is not None

    one = {r[0]: float(r[4].split()[0]) for r in suppression_rows if r[1] == "1×"}
    ten = {r[0]: float(r[4].split()[0]) for r in suppression_rows if r[1] == f"{FACTOR}×"}
    scaling = ", ".join(f"{t}: {ten[t] / one[t]:.1f}×" for t in CONTROLLED)
    write_section(
        "exports",
        "\n\n".join(
            [
                "## Exports: suppression and a members' export, bundled build and 10×",
                machine_line() + " Median of 3 runs, each a first release (empty ledger).",
                "Export of every published mart to members in Parquet, CSV, XLSX and SDMX-CSV "
                "(suppression, labels, attribution, datapackage.json, SDMX structure), against "
                "writing the same marts with pandas alone (the baseline):",
                markdown_table(["controlled marts", "cmc export", "pandas alone", "ratio"], rows),
                "Suppression (relations, primary and secondary cells, the exact audit) per controlled mart:",
                markdown_table(["table", "rows", "rows in table", "cells hidden", "time"], suppression_rows),
                f"Suppression at {FACTOR}× / 1×: {scaling}. The audit solves each connected group "
                "of cells linked by totals on its own; with ten times the countries each regional "
                "total links ten times the cells, so the time grows about in proportion to the rows.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
