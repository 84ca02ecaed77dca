"""Sharing rules and `cmc export`: what an audience receives, and in which shape."""

from __future__ import annotations

import hashlib
import json
import shutil

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cmc_pipeline.lib import exports
from cmc_pipeline.lib.exports import SDMX_HEADER, export_marts
from cmc_pipeline.lib.sharing import SharingSettings, neutralise_formulas, rows_for_audience
from cmc_pipeline.lib.warehouse import Warehouse

ALL_FORMATS = ("parquet", "csv", "xlsx", "sdmx-csv")


def test_a_country_can_keep_a_dataset_to_members():
    settings = SharingSettings(
        small_count_threshold=5, country_levels={"JAM": {"remittances": "cmc_members"}}
    )
    frame = pd.DataFrame({"country_iso3": ["JAM", "TTO"], "value": [1, 2]})
    public, withheld = rows_for_audience(frame, dataset="remittances", audience="public", settings=settings)
    assert public["country_iso3"].tolist() == ["TTO"] and withheld == 1
    members, withheld = rows_for_audience(frame, dataset="remittances", audience="members", settings=settings)
    assert len(members) == 2 and withheld == 0


def test_rows_from_restricted_sources_are_never_exported():
    settings = SharingSettings(small_count_threshold=5, country_levels={})
    frame = pd.DataFrame({"country_iso3": ["HTI", "HTI"], "dissemination_level": ["public", "restricted"]})
    for audience in ("public", "members"):
        kept, withheld = rows_for_audience(frame, dataset="x", audience=audience, settings=settings)
        assert withheld == 1 and kept["dissemination_level"].tolist() == ["public"]


def test_formulas_are_neutralised_but_numbers_and_plain_text_kept():
    frame = pd.DataFrame({"name": ['=HYPERLINK("http://x","click")', "+1-2", "Saint Lucia"], "n": [-1, 2, 3]})
    safe = neutralise_formulas(frame)
    assert safe["name"].tolist() == ['\'=HYPERLINK("http://x","click")', "'+1-2", "Saint Lucia"]
    assert safe["n"].tolist() == [-1, 2, 3]


@pytest.fixture
def writable_warehouse(built_warehouse, tmp_path):
    warehouse, _ = built_warehouse
    copy = tmp_path / "cmc.duckdb"
    shutil.copy(warehouse.url, copy)
    return Warehouse(str(copy))


def test_export_writes_every_mart_in_every_format_with_a_true_manifest(writable_warehouse, tmp_path):
    folder = tmp_path / "public"
    result = export_marts(writable_warehouse, folder, audience="public", formats=ALL_FORMATS)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["audience"] == "public" and "not official statistics" in manifest["note"]
    tables = {f["table"] for f in manifest["files"]}
    assert {"marts.labour_migration_indicators", "marts.remittances", "marts.data_coverage"} <= tables
    for item in manifest["files"]:
        data = (folder / item["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        assert item["contract_version"] and item["built_at"]
    mart_rows = len(writable_warehouse.query("SELECT * FROM marts.remittances"))
    assert pq.read_table(folder / "marts_remittances.parquet").num_rows == mart_rows
    assert len(pd.read_csv(folder / "marts_remittances.csv")) == mart_rows
    workbook = openpyxl.load_workbook(folder / "marts_remittances.xlsx", read_only=True)
    assert workbook.sheetnames == ["data", "about"]
    sdmx = pd.read_csv(folder / "marts_remittances.sdmx.csv")
    assert list(sdmx.columns) == SDMX_HEADER
    assert sdmx["OBS_VALUE"].notna().all() and set(sdmx["FREQ"]) == {"A"}
    # SDMX-CSV carries area × year observations; these marts are not shaped that way
    not_observations = {s["table"] for s in result.skipped if s.get("format") == "sdmx-csv"}
    assert not_observations == {
        "marts.data_coverage",
        "marts.governance_needs",
        "marts.migration_corridors",
        # national uploads: area × period × breakdown rows, periods not only years
        "marts.work_permits",
        "marts.csme_skills_certificates",
        "marts.seasonal_workers",
        "marts.recruitment_agencies",
    }


def test_export_csv_neutralises_a_formula_that_reached_a_mart(writable_warehouse, tmp_path):
    with writable_warehouse.connect() as connection:
        connection.execute(
            'UPDATE marts.remittances SET country_name = \'=HYPERLINK("http://evil","x")\' '
            "WHERE country_iso3 = 'JAM'"
        )
    export_marts(writable_warehouse, tmp_path / "out", formats=("csv", "xlsx"))
    csv_names = pd.read_csv(tmp_path / "out" / "marts_remittances.csv")["country_name"]
    assert csv_names[csv_names.str.contains("HYPERLINK")].str.startswith("'=").all()
    sheet = openpyxl.load_workbook(tmp_path / "out" / "marts_remittances.xlsx")["data"]
    cells = [
        c.value
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, str) and "HYPERLINK" in c.value
    ]
    assert cells and all(c.startswith("'=") for c in cells)
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_tables_above_the_audience_level_are_left_out(writable_warehouse, tmp_path, monkeypatch):
    contracts = exports.published_contracts()
    members_only = [
        type(c)(
            **{
                **c.__dict__,
                "custom_properties": {**c.custom_properties, "dissemination_level": "cmc_members"},
            }
        )
        if c.table == "marts.remittances"
        else c
        for c in contracts
    ]
    monkeypatch.setattr(exports, "published_contracts", lambda: members_only)
    public = export_marts(writable_warehouse, tmp_path / "public", audience="public")
    assert "marts.remittances" not in {f["table"] for f in public.files}
    assert any(s["table"] == "marts.remittances" for s in public.skipped)
    members = export_marts(writable_warehouse, tmp_path / "members", audience="members")
    assert "marts.remittances" in {f["table"] for f in members.files}


def test_cmc_export_command_reports_what_it_wrote(built_warehouse, tmp_path, monkeypatch):
    from cmc_pipeline.cli import main

    warehouse, _ = built_warehouse
    monkeypatch.setenv("CMC_WAREHOUSE", warehouse.url)
    result = CliRunner().invoke(main, ["export", "--format", "csv", "--output", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert "marts_labour_migration_indicators.csv" in result.output and "manifest.json" in result.output
