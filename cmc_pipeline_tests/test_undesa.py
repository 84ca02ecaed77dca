"""UN DESA International Migrant Stock: reading the official workbook layout, mapping M49
codes, and what a user sees when the workbook is not what it should be."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from cmc_pipeline.lib.http import SourceFormatError
from cmc_pipeline.lib.snapshots import SnapshotEntry, SnapshotStore
from cmc_pipeline.sources.undesa import client as undesa
from cmc_pipeline.sources.undesa import load as undesa_load
from cmc_pipeline.sources.undesa import parser

YEARS = (1990, 1995, 2000, 2005, 2010, 2015, 2020, 2024)
# (destination name, destination code, origin name, origin code, both sexes in 1990)
ROWS = [
    ("World", 900, "Jamaica", 388, 1000),
    ("Jamaica", 388, "World", 900, 300),
    ("Jamaica", 388, "Latin America and the Caribbean", 1830, 200),
    ("Jamaica", 388, "Trinidad and Tobago", 780, 50),
    ("United States of America", 840, "Jamaica", 388, 700),
    ("United States of America", 840, "Canada", 124, 900),  # no CMC country: left out
]


def ims_workbook(
    *,
    title_rows: int = 10,
    sheet: str = "Table 1",
    rows=ROWS,
    merge_titles: bool = True,
    block_labels: bool = True,
    value=None,
) -> bytes:
    """A small workbook in the layout of the official destination-and-origin file."""
    workbook = Workbook()
    table = workbook.active
    table.title = sheet
    width = 7 + 3 * len(YEARS)
    for number in range(1, title_rows - 1):
        table.cell(number, 1, f"International Migrant Stock 2024, title line {number}")
        if merge_titles:
            table.merge_cells(start_row=number, start_column=1, end_row=number, end_column=width)
    header = title_rows
    if block_labels:
        for block, label in enumerate(("both sexes", "males", "females")):
            first = 8 + block * len(YEARS)
            table.cell(header - 1, first, f"International migrant stocks at mid-year ({label})")
            table.merge_cells(
                start_row=header - 1, start_column=first, end_row=header - 1, end_column=first + 7
            )
    labels = [
        "Index",
        "Region, development group, country or area of destination",
        "Coverage",
        "Location code of destination",
        "Data type",
        "Region, development group, country or area of origin",
        "Location code of origin",
        *YEARS * 3,
    ]
    for column, label in enumerate(labels, start=1):
        table.cell(header, column, label)
    for index, (dest, dest_code, origin, origin_code, base) in enumerate(rows, start=1):
        both = [base + 10 * i for i in range(len(YEARS))]
        male = [v // 2 for v in both]
        female = [b - m for b, m in zip(both, male, strict=True)]
        values = [*both, *male, *female]
        if value is not None:
            values[0] = value
        table.append([index, dest, "", dest_code, "B", origin, origin_code, *values])
    saved = io.BytesIO()
    workbook.save(saved)
    return saved.getvalue()


def test_the_header_row_is_found_wherever_the_title_rows_end():
    at_row_10, _ = parser.parse_workbook(ims_workbook(title_rows=10), origin="a.xlsx")
    at_row_16, _ = parser.parse_workbook(ims_workbook(title_rows=16), origin="b.xlsx")

    assert len(at_row_10) == len(at_row_16) == 5 * len(YEARS) * 3
    columns = ["destination_code", "origin_code", "year", "sex", "value"]
    assert at_row_10[columns].equals(at_row_16[columns])
    assert at_row_16["source_row_number"].min() == 17  # the first data row after the moved header


def test_codes_map_to_iso3_and_aggregates_are_recognised_not_guessed():
    rows, skipped = parser.parse_workbook(ims_workbook(), origin="a.xlsx")

    kinds = rows.drop_duplicates(["destination_code", "origin_code"])
    ends = (
        kinds["destination_kind"],
        kinds["destination_iso3"].fillna("-"),
        kinds["origin_iso3"].fillna("-"),
    )
    pairs = set(zip(*ends, strict=True))
    assert ("world", "-", "JAM") in pairs
    assert ("country", "JAM", "-") in pairs
    assert ("country", "USA", "JAM") in pairs
    assert set(kinds["origin_kind"]) == {"country", "world", "sdg_region"}
    assert skipped == {"pairs without a CMC country": 1}


def test_sex_blocks_come_from_the_merged_labels_or_else_from_the_order_of_the_years():
    labelled, _ = parser.parse_workbook(ims_workbook(), origin="a.xlsx")
    unlabelled, _ = parser.parse_workbook(ims_workbook(block_labels=False), origin="b.xlsx")

    for frame in (labelled, unlabelled):
        jamaica_2024 = frame[(frame["destination_code"] == "900") & (frame["year"] == 2024)]
        by_sex = dict(zip(jamaica_2024["sex"], jamaica_2024["value"], strict=True))
        assert by_sex["both sexes"] == by_sex["male"] + by_sex["female"] == 1070


def test_merged_title_cells_do_not_disturb_reading():
    merged, _ = parser.parse_workbook(ims_workbook(merge_titles=True), origin="a.xlsx")
    plain, _ = parser.parse_workbook(ims_workbook(merge_titles=False), origin="b.xlsx")
    assert merged.equals(plain)


def test_no_estimate_marker_is_a_missing_value():
    rows, _ = parser.parse_workbook(ims_workbook(value=".."), origin="a.xlsx")
    first = rows[(rows["source_row_number"] == 11) & (rows["year"] == 1990) & (rows["sex"] == "both sexes")]
    assert first["value"].isna().all()


def test_a_text_value_is_refused_naming_row_column_and_year():
    with pytest.raises(SourceFormatError) as error:
        parser.parse_workbook(ims_workbook(value="about 1000"), origin="ims.xlsx")
    message = str(error.value)
    assert "ims.xlsx" in message and "row 11" in message and "column H" in message
    assert "1990" in message and "'about 1000'" in message


def test_a_renamed_sheet_is_reported_with_the_sheets_found():
    with pytest.raises(SourceFormatError) as error:
        parser.parse_workbook(ims_workbook(sheet="Destination and origin"), origin="ims.xlsx")
    message = str(error.value)
    assert "ims.xlsx" in message and "'Table 1'" in message and "Destination and origin" in message


def test_an_m49_code_that_is_neither_country_nor_aggregate_fails_naming_code_and_row():
    rows = [*ROWS, ("Jamaica", 388, "Atlantis", 999, 10)]
    with pytest.raises(SourceFormatError) as error:
        parser.parse_workbook(ims_workbook(rows=rows), origin="ims.xlsx")
    message = str(error.value)
    assert "location code 999 ('Atlantis') of origin" in message
    assert "row 17" in message and "m49_aggregates.csv" in message


def test_a_workbook_without_the_header_row_says_what_it_looked_for():
    workbook = Workbook()
    workbook.active.title = "Table 1"
    workbook.active.append(["Some other table"])
    saved = io.BytesIO()
    workbook.save(saved)
    with pytest.raises(SourceFormatError, match=r"no header row.*Location code of destination"):
        parser.parse_workbook(saved.getvalue(), origin="other.xlsx")


def test_an_unreadable_file_is_not_a_workbook():
    with pytest.raises(SourceFormatError, match=r"ims\.xlsx: not a readable \.xlsx workbook"):
        parser.parse_workbook(b"Index,Region\n1,World\n", origin="ims.xlsx")


def _client_serving(folder, body: bytes, *, demonstration: bool) -> undesa.UndesaClient:
    """A snapshot-mode client whose recorded workbook is ``body``."""
    (folder / "undesa").mkdir(parents=True, exist_ok=True)
    (folder / "undesa" / "ims.xlsx").write_bytes(body)
    store = SnapshotStore(folder)
    store._entries = [
        SnapshotEntry("undesa", undesa.DATASET_ID, undesa.API, 1, "ims.xlsx", "https://example.org/ims.xlsx",
                      "2026-11-24T00:00:00Z", demonstration)
    ]  # fmt: skip
    return undesa.UndesaClient(snapshots=store)


def test_a_bad_workbook_leaves_the_warehouse_unchanged(tmp_path, warehouse, data_dir):
    good = _client_serving(tmp_path / "good", ims_workbook(), demonstration=True)
    undesa_load.load_undesa(good, warehouse, data_dir / "raw")
    before = warehouse.query("SELECT count(*) AS n, sum(value) AS total FROM staging.undesa_migrant_stock")

    bad = _client_serving(
        tmp_path / "bad", ims_workbook(rows=[*ROWS, ("Jamaica", 388, "X", 999, 1)]), demonstration=True
    )
    with pytest.raises(SourceFormatError):
        undesa_load.load_undesa(bad, warehouse, data_dir / "raw")

    after = warehouse.query("SELECT count(*) AS n, sum(value) AS total FROM staging.undesa_migrant_stock")
    assert before.equals(after)


def test_an_imported_official_workbook_survives_the_next_demonstration_build(tmp_path, warehouse, data_dir):
    official = tmp_path / "undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx"
    official.write_bytes(ims_workbook())
    undesa_load.import_undesa_file(official, warehouse, data_dir / "raw", uploader="test")

    demo_rows = [("Jamaica", 388, "World", 900, 5)]
    report = undesa_load.load_undesa(
        _client_serving(tmp_path / "demo", ims_workbook(rows=demo_rows), demonstration=True),
        warehouse,
        data_dir / "raw",
    )

    assert report.rows_written == 0
    assert "demonstration rows not loaded over an imported official workbook" in report.skipped
    kept = warehouse.query(
        "SELECT bool_or(demonstration_data) AS demo, count(*) AS n FROM staging.undesa_migrant_stock"
    )
    assert not kept["demo"].iloc[0] and kept["n"].iloc[0] == 5 * len(YEARS) * 3


def test_cmc_import_undesa_loads_the_workbook_and_rebuilds_the_facts(tmp_path, data_dir, warehouse):
    from click.testing import CliRunner

    from cmc_pipeline.cli import main

    workbook = tmp_path / "undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx"
    workbook.write_bytes(ims_workbook())
    result = CliRunner().invoke(main, ["import", "undesa", str(workbook)])

    assert result.exit_code == 0, result.output
    assert "Loaded 120 rows from" in result.output and "into staging.undesa_migrant_stock" in result.output
    assert "skipped 1 rows: pairs without a CMC country" in result.output
    facts = warehouse.query(
        "SELECT country_iso3, indicator_id, breakdown_1, value FROM core.fact_observation "
        "WHERE period = '1990' AND sex = 'SEX_T' ORDER BY 1, 2, 3"
    )
    assert facts.values.tolist() == [
        ["JAM", "UNDESA_IMS_EMIGRANT_STOCK", "CRS_RES_TOTAL", 1000.0],
        ["JAM", "UNDESA_IMS_EMIGRANT_STOCK", "CRS_RES_USA", 700.0],
        ["JAM", "UNDESA_IMS_IMMIGRANT_STOCK", "CBR_BIR_FOREIGN", 300.0],
        ["JAM", "UNDESA_IMS_IMMIGRANT_STOCK", "CBR_BRT_TTO", 50.0],
        ["TTO", "UNDESA_IMS_EMIGRANT_STOCK", "CRS_RES_JAM", 50.0],
    ]


def test_cmc_import_undesa_refuses_a_bad_workbook_clearly(tmp_path, data_dir):
    from click.testing import CliRunner

    from cmc_pipeline.cli import main

    workbook = tmp_path / "ims.xlsx"
    workbook.write_bytes(ims_workbook(sheet="Sheet1"))
    result = CliRunner().invoke(main, ["import", "undesa", str(workbook)])

    assert result.exit_code != 0
    assert f"{workbook} was not loaded; the warehouse is unchanged." in result.output
    assert "no sheet named 'Table 1'" in result.output and "Sheet1" in result.output
