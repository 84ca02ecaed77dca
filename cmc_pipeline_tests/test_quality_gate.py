"""Bad input in a recorded ILOSTAT response: the check names the rule and the rows, the
country is not promoted (its previous staging rows and facts stay exactly as they were),
and the other country of the same run still loads.

The runs cover Haiti and Jamaica (contiguous partitions, so one run). The row-level
defects are put in Jamaica's rows of the labour-force file, which covers both countries;
the column defects in the returned-nationals SDMX file, which covers Jamaica and not Haiti
(a response whose columns changed cannot be trusted for any country it covers).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cmc_pipeline.lib.snapshots import copy_bundled_snapshots

BATCH = ["HTI", "JAM"]
LABOUR_FORCE = "ilostat/EAP_TEAP_SEX_AGE_NB_A.csv"
RETURNED_NATIONALS = "ilostat/DF_POP_MNAR_SEX_CPR_NB.csv"
STAGING = "staging/ilostat_observations"


def _first_jamaica_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith('"JAM"'))


def _first_sdmx_jamaica_line(lines: list[str]) -> int:
    """The line Jamaica's rows start on: a changed column is reported there."""
    return next(i for i, line in enumerate(lines) if line.split(",")[1] == "JAM") + 1


def _set_field(lines: list[str], index: int, field: int, value: str) -> None:
    fields = lines[index].split(",")
    fields[field] = value
    lines[index] = ",".join(fields)


def wrong_code(folder: Path) -> int:
    lines = (folder / LABOUR_FORCE).read_text(encoding="utf-8-sig").splitlines()
    index = _first_jamaica_line(lines)
    _set_field(lines, index, 3, '"SEX_X"')
    (folder / LABOUR_FORCE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def negative_count(folder: Path) -> int:
    lines = (folder / LABOUR_FORCE).read_text(encoding="utf-8-sig").splitlines()
    index = _first_jamaica_line(lines)
    _set_field(lines, index, 6, "-12.5")
    (folder / LABOUR_FORCE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def type_change(folder: Path) -> int:
    lines = (folder / LABOUR_FORCE).read_text(encoding="utf-8-sig").splitlines()
    index = _first_jamaica_line(lines)
    _set_field(lines, index, 6, '"12,5"')  # a decimal comma: text where a number is due
    (folder / LABOUR_FORCE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def duplicated_key(folder: Path) -> int:
    lines = (folder / LABOUR_FORCE).read_text(encoding="utf-8-sig").splitlines()
    index = _first_jamaica_line(lines)
    lines.append(lines[index])
    (folder / LABOUR_FORCE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def missing_column(folder: Path) -> int:
    lines = (folder / RETURNED_NATIONALS).read_text(encoding="utf-8").splitlines()
    position = lines[0].split(",").index("SEX")
    rows = [line.split(",") for line in lines]
    for row in rows:
        del row[position]
    (folder / RETURNED_NATIONALS).write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return _first_sdmx_jamaica_line(lines)


def extra_column(folder: Path) -> int:
    lines = (folder / RETURNED_NATIONALS).read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",OBS_CONFIDENTIALITY"] + [line + ",F" for line in lines[1:]]
    (folder / RETURNED_NATIONALS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _first_sdmx_jamaica_line(lines)


CASES = {
    "negative count": (negative_count, "no_negative_values", "-12.5"),
    "duplicated key": (duplicated_key, "observation_key_unique", "EAP_TEAP_SEX_AGE_NB"),
    "missing column": (missing_column, "columns_match_contract", "column 'sex': '(column missing)'"),
    "extra column": (extra_column, "columns_match_contract", "column 'OBS_CONFIDENTIALITY'"),
    "type change": (type_change, "values_match_types", "column 'obs_value': '12,5' — expected a number"),
}


@pytest.fixture(scope="module")
def good_load(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Haiti and Jamaica built once from the bundled snapshots: the 'previous load'."""
    folder = tmp_path_factory.mktemp("good")
    with _environment(folder, copy_bundled_snapshots(folder / "snapshots")):
        outcome = _build()
    assert outcome.success, outcome.failures
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_blocks_the_country_and_keeps_its_previous_data(case, good_load, tmp_path):
    damage, rule_id, shown = CASES[case]
    snapshots = tmp_path / "snapshots"
    copy_bundled_snapshots(snapshots)
    line = damage(snapshots)
    data = tmp_path / "data"
    shutil.copytree(good_load / "warehouse", data / "warehouse")
    before = _rows(data)

    with _environment(data, snapshots):
        outcome = _build()
        from cmc_pipeline import settings

        gx_results = sorted((settings.quality_dir() / "staging.ilostat_observations").glob("*.json"))

    # The run goes on for the others; the failed check names the rule, the country, the rows.
    assert outcome.success, outcome.failures
    failed = [c for c in outcome.checks if not c.passed and c.asset == STAGING]
    assert [(c.check, c.partition, c.severity) for c in failed] == [(rule_id, "JAM", "ERROR")]
    assert failed[0].failing_rows >= 1
    assert f"line {line}" in failed[0].first_offending_row
    assert shown in failed[0].first_offending_row

    # Jamaica's ILOSTAT rows were not promoted: its staging rows and the facts made from them
    # are exactly the previous ones (its World Bank rows passed and were loaded).
    after = _rows(data)
    assert after["staging JAM"].equals(before["staging JAM"])
    assert after["facts JAM"].equals(before["facts JAM"])
    # Haiti, in the same run, was loaded afresh.
    assert after["staging HTI loaded_at"] > before["staging HTI loaded_at"]

    # The Great Expectations validation result of the run is kept as a file.
    assert gx_results and json.loads(gx_results[-1].read_text())["results"]


def test_unknown_code_holds_back_only_its_country_and_indicator(good_load, tmp_path):
    """A code no ILO code list knows (SEX_X in Jamaica's labour force) is staged as
    published and stops only Jamaica × that indicator in the core: its previous facts stay,
    the value is listed with its count, file and line, and Jamaica's other indicators load."""
    snapshots = tmp_path / "snapshots"
    copy_bundled_snapshots(snapshots)
    line = wrong_code(snapshots)
    data = tmp_path / "data"
    shutil.copytree(good_load / "warehouse", data / "warehouse")
    before = _rows(data)

    with _environment(data, snapshots):
        outcome = _build()
    assert outcome.success, outcome.failures

    from cmc_pipeline.lib.warehouse import Warehouse

    warehouse = Warehouse(str(data / "warehouse" / "cmc.duckdb"))
    review = warehouse.query("SELECT * FROM quality.unmapped_values WHERE source = 'ILOSTAT'")
    assert list(
        review[["country_iso3", "slice", "column_name", "value", "row_count"]].itertuples(index=False)
    ) == [("JAM", "EAP_TEAP_SEX_AGE_NB", "sex", "SEX_X", 1)]
    assert review["first_line"].iloc[0] == line and review["file"].iloc[0] == "EAP_TEAP_SEX_AGE_NB_A"

    after = _rows(data)
    held = "indicator_id == 'EAP_TEAP_SEX_AGE_NB'"
    assert (
        after["facts JAM"]
        .query(held)
        .reset_index(drop=True)
        .equals(before["facts JAM"].query(held).reset_index(drop=True))
    )
    others = after["facts JAM"].query(f"not ({held})")
    assert len(others) and others["loaded_at"].min() > before["facts JAM"]["loaded_at"].max()


def test_a_warning_is_recorded_and_does_not_block(built_warehouse):
    warehouse, outcome = built_warehouse
    warnings = [c for c in outcome.checks if not c.passed]
    assert warnings and all(c.severity == "WARN" for c in warnings)
    jumps = {c.partition for c in warnings if c.check == "year_on_year_jump"}
    assert jumps  # real WDI remittance shares jump more than threefold in some years
    loaded = warehouse.query(
        "SELECT DISTINCT country_iso3 FROM core.fact_observation WHERE indicator_id = 'BX.TRF.PWKR.DT.GD.ZS'"
    )["country_iso3"].tolist()
    assert jumps <= set(loaded)


# --- helpers ------------------------------------------------------------------------------


class _environment:
    """Point the pipeline at one data folder and one snapshot folder for a build."""

    def __init__(self, data: Path, snapshots: Path):
        self.values = {
            "CMC_DATA_DIR": str(data),
            "DAGSTER_HOME": str(data / "dagster_home"),
            "CMC_SNAPSHOT_DIR": str(snapshots),
        }

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in [*self.values, "CMC_WAREHOUSE", "CMC_QUALITY_DIR"]}
        os.environ.update(self.values)
        os.environ.pop("CMC_WAREHOUSE", None)
        os.environ.pop("CMC_QUALITY_DIR", None)
        from cmc_pipeline.cli import prepare_dagster_home

        prepare_dagster_home()
        return self

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _build():
    from cmc_pipeline.orchestration import build_warehouse

    return build_warehouse(BATCH)


def _rows(data: Path) -> dict:
    from cmc_pipeline.lib.warehouse import Warehouse

    warehouse = Warehouse(str(data / "warehouse" / "cmc.duckdb"))
    staging = warehouse.query(
        "SELECT * FROM staging.ilostat_observations WHERE country_iso3 = 'JAM' "
        "ORDER BY dataset_id, source_row_number"
    )
    facts = warehouse.query(
        "SELECT * FROM core.fact_observation WHERE country_iso3 = 'JAM' AND source = 'ILOSTAT' "
        "ORDER BY period, indicator_id, sex, age, breakdown_1, breakdown_2, source"
    )
    haiti = warehouse.query(
        "SELECT max(loaded_at) AS t FROM staging.ilostat_observations WHERE country_iso3 = 'HTI'"
    )["t"].iloc[0]
    assert len(staging) and len(facts)
    return {"staging JAM": staging, "facts JAM": facts, "staging HTI loaded_at": haiti}
