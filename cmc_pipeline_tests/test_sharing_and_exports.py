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
from cmc_pipeline.lib.exports import export_marts
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


@pytest.fixture(scope="module")
def public_export(built_warehouse, tmp_path_factory):
    """One export of every format for the public, from a copy of the bundled build."""
    warehouse, _ = built_warehouse
    folder = tmp_path_factory.mktemp("public_export")
    shutil.copy(warehouse.url, folder / "cmc.duckdb")
    writable = Warehouse(str(folder / "cmc.duckdb"))
    result = export_marts(writable, folder / "public", audience="public", formats=ALL_FORMATS)
    return writable, folder / "public", result


def test_export_writes_every_mart_in_every_format_with_a_true_manifest(public_export):
    warehouse, folder, result = public_export
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["audience"] == "public" and "not official statistics" in manifest["note"]
    tables = {f["table"] for f in manifest["files"]}
    assert {"marts.labour_migration_indicators", "marts.remittances", "marts.data_coverage"} <= tables
    for item in [*manifest["files"], manifest["sdmx_structure"]]:
        data = (folder / item["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        assert item["built_at"]
    assert all(item["contract_version"] for item in manifest["files"])
    mart_rows = len(warehouse.query("SELECT * FROM marts.remittances"))
    assert pq.read_table(folder / "marts_remittances.parquet").num_rows == mart_rows
    assert len(pd.read_csv(folder / "marts_remittances.csv")) == mart_rows
    workbook = openpyxl.load_workbook(folder / "marts_remittances.xlsx", read_only=True)
    assert workbook.sheetnames == ["data", "about"]
    sdmx_csv = pd.read_csv(folder / "marts_remittances.sdmx.csv")
    assert sdmx_csv["OBS_VALUE"].notna().all() and set(sdmx_csv["FREQ"]) == {"A"}
    # SDMX-CSV carries observations of an area and a period; these marts are not shaped that way
    not_observations = {s["table"] for s in result.skipped if s.get("format") == "sdmx-csv"}
    assert not_observations == {"marts.data_coverage", "marts.governance_needs", "marts.migration_corridors"}


def test_every_exported_table_names_its_licence_attribution_citation_and_source_releases(public_export):
    _, folder, _ = public_export
    tables = json.loads((folder / "manifest.json").read_text())["tables"]
    remittances = tables["marts.remittances"]
    assert remittances["contract_version"] and remittances["dissemination_level"] == "public"
    world_bank = next(s for s in remittances["sources"] if s["name"] == "worldbank")
    assert world_bank["licence"] == "CC BY 4.0" and world_bank["licence_url"].startswith(
        "https://creativecommons.org"
    )
    assert "World Bank" in remittances["attribution"] and "World Bank" in remittances["citation"]
    # the real WDI downloads bundled are the releases loaded, each with its provenance
    real = [r for r in world_bank["releases"] if not r["demonstration_data"]]
    assert real and all(r["sha256"] and r["retrieved_at"] and r["location"] for r in real)
    uploads = tables["marts.work_permits"]["sources"]
    assert [s["name"] for s in uploads] == ["uploads"]
    assert uploads[0]["releases"] and {r["dataset"] for r in uploads[0]["releases"]} == {"work_permits"}
    for table in tables.values():
        assert table["licence"] and table["citation"] and table["sources"], table["table"]


def test_the_datapackage_lets_a_tool_read_the_export_without_our_code(public_export):
    """What a Frictionless reader does: find each file, check its hash and size, and read
    the CSV files with the schema the descriptor gives (names, types, missing values)."""
    _, folder, _ = public_export
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["profile"] == "data-package" and package["licenses"] and package["resources"]
    assert any(
        lic.get("path") == "https://creativecommons.org/licenses/by/4.0/" for lic in package["licenses"]
    )
    names = [r["name"] for r in package["resources"]]
    assert len(names) == len(set(names))
    for entry in package["resources"]:
        data = (folder / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        if entry["profile"] != "tabular-data-resource":
            continue
        assert entry["licenses"] and entry["sources"], entry["name"]
        frame = pd.read_csv(
            folder / entry["path"], dtype=str, keep_default_na=False, encoding=entry["encoding"]
        )
        fields = entry["schema"]["fields"]
        assert [f["name"] for f in fields] == list(frame.columns), entry["name"]
        missing = set(entry["schema"]["missingValues"])
        for field in fields:
            values = frame[field["name"]][~frame[field["name"]].isin(missing)]
            if field["type"] == "integer":
                assert values.str.fullmatch(r"-?\d+").all(), (entry["name"], field["name"])
            elif field["type"] == "number":
                assert pd.to_numeric(values, errors="coerce").notna().all(), (entry["name"], field["name"])
            elif field["type"] == "boolean":
                assert values.isin(["True", "False", "true", "false"]).all(), (entry["name"], field["name"])
        for key in entry["schema"].get("primaryKey", []):
            assert key in frame.columns


def test_sdmx_structure_is_read_back_by_sdmx1_and_every_sdmx_csv_fits_it(public_export):
    import sdmx

    _, folder, _ = public_export
    message = sdmx.read_sdmx(folder / "sdmx-structure.xml")
    # the ILO's own code lists where ILO codes are used
    assert message.codelist["CL_SEX"].maintainer.id == "ILO"
    assert message.codelist["CL_OCU"].maintainer.id == "ILO"
    assert message.codelist["CL_AREA"].maintainer.id == "CMC"
    files = sorted(folder.glob("*.sdmx.csv"))
    assert {f.name for f in files} >= {"marts_remittances.sdmx.csv", "marts_work_permits.sdmx.csv"}
    for path in files:
        data = pd.read_csv(path, dtype=str, keep_default_na=False)
        (reference,) = data["DATAFLOW"].unique()
        flow = message.dataflow[reference.split(":")[1].split("(")[0]]
        assert reference.endswith(f"({flow.version})")
        structure = flow.structure
        dimensions = [d.id for d in structure.dimensions.components]
        attributes = [a.id for a in structure.attributes.components]
        assert list(data.columns) == ["DATAFLOW", *dimensions, "OBS_VALUE", *attributes]
        assert dimensions[-1] == "TIME_PERIOD"
        for component in [*structure.dimensions.components, *structure.attributes.components]:
            representation = component.local_representation
            if representation is None or representation.enumerated is None:
                continue
            unknown = set(data[component.id]) - {""} - set(representation.enumerated.items)
            assert not unknown, (path.name, component.id, sorted(unknown)[:5])


def test_csv_and_xlsx_put_labels_beside_codes(public_export):
    _, folder, _ = public_export
    permits = pd.read_csv(folder / "marts_work_permits.csv", keep_default_na=False)
    columns = list(permits.columns)
    for coded in ("sex", "nationality_iso3", "occupation", "permit_type"):
        assert columns[columns.index(coded) + 1] == f"{coded}_label"
    labels = dict(zip(permits["sex"], permits["sex_label"], strict=True))
    assert labels["SEX_T"] == "Total" and labels["SEX_F"] == "Female"
    assert (
        dict(zip(permits["nationality_iso3"], permits["nationality_iso3_label"], strict=True))["GUY"]
        == "Guyana"
    )
    assert "area_code_label" not in columns  # area_name already says it
    sheet = openpyxl.load_workbook(folder / "marts_work_permits.xlsx", read_only=True)["data"]
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    assert "occupation_label" in header
    # Parquet keeps codes only, typed, for tools that join their own labels
    assert "sex_label" not in pq.read_schema(folder / "marts_work_permits.parquet").names


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
