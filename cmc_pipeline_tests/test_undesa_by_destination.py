"""UN DESA International Migrant Stock by destination: the real Rev.2019 and Rev.2020
workbooks, read as published, loaded into the warehouse, imported by a user, and fetched
live from a local server replaying their bytes."""

from __future__ import annotations

import io
from datetime import datetime, time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from cmc_pipeline.cli import main
from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.sources.undesa import client as undesa
from cmc_pipeline.sources.undesa import load as undesa_load
from cmc_pipeline.sources.undesa import parser

SNAPSHOTS = Path(undesa.__file__).parent / "snapshots"
REV_2020 = SNAPSHOTS / "undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx"
REV_2019 = SNAPSHOTS / "undesa_pd_2019_migrant_stock_total_dataset.xlsx"
JAMAICA = 388


def published_value(path: Path, sheet: str, code: int, year: int, block: int = 0):
    """The cell a person reads in the workbook: the row whose location code is ``code``,
    the ``block``-th column headed ``year`` (0: both sexes). Found with pandas, not with
    the pipeline's reader."""
    table = pd.read_excel(path, sheet_name=sheet, header=None)
    code_column = next(
        c for c in table.columns if table[c].astype(str).str.strip().isin(["Code", "Location code"]).any()
    )
    row = table.index[table[code_column] == code][0]
    years = [(r, c) for r in table.index[:20] for c in table.columns if table.at[r, c] == year]
    header_row = years[0][0]
    column = [c for r, c in years if r == header_row][block]
    return table.at[row, column]


def _parse(path: Path) -> parser.ParsedWorkbook:
    return parser.parse_by_destination(parser.open_workbook(path.read_bytes(), path.name), origin=path.name)


@pytest.fixture(scope="module")
def rev_2020():
    return _parse(REV_2020)


@pytest.fixture(scope="module")
def rev_2019():
    return _parse(REV_2019)


# --- reading the real workbooks ------------------------------------------------------------


def test_both_revisions_give_every_cmc_country_in_every_table_with_nothing_held_back(rev_2019, rev_2020):
    for parsed, revision in ((rev_2019, "2019"), (rev_2020, "2020")):
        assert parsed.revision == revision
        assert parsed.held_back.empty
        assert parsed.countries_missing == {}
        by_measure = parsed.rows.groupby("measure")["country_iso3"].nunique()
        assert set(by_measure.index) == set(parser.UNITS)
        assert (by_measure == len(cmc_iso3_codes())).all()
        # The table titles come from the sheets, not from this code.
        assert parsed.tables["Table 1"].startswith("Table 1")
        assert "International migrant stock at mid-year by sex" in parsed.tables["Table 1"]


def test_the_2020_layout_and_the_2019_layout_give_the_published_figures(rev_2019, rev_2020):
    """2020: labels and years on one row, blocks three rows higher; 2019: years on the row
    below the labels, Table 2 without a Type of data column."""
    for parsed, path, last_year in ((rev_2020, REV_2020, 2020), (rev_2019, REV_2019, 2019)):
        rows = parsed.rows.set_index(["measure", "country_iso3", "year", "sex"])["value"]
        for sheet, measure, block, sex in (
            ("Table 1", "migrant_stock", 0, "both sexes"),
            ("Table 1", "migrant_stock", 2, "female"),
            ("Table 2", "total_population", 1, "male"),
            ("Table 3", "migrant_stock_pct_of_population", 0, "both sexes"),
            ("Table 4", "female_pct_of_migrant_stock", 0, "female"),
            ("Table 6", "refugees", 0, "both sexes"),
        ):
            expected = published_value(path, sheet, JAMAICA, last_year, block)
            assert rows[(measure, "JAM", last_year, sex)] == pytest.approx(float(expected)), (
                path.name,
                sheet,
            )


def test_regions_and_groups_are_skipped_and_counted_not_loaded(rev_2019, rev_2020):
    for parsed in (rev_2019, rev_2020):
        reasons = parsed.skipped
        assert reasons["regions and development or income groups (the warehouse sums countries itself)"] > 200
        assert reasons["countries and areas outside the CMC"] > 1000
        assert set(parsed.rows["country_iso3"]) == set(cmc_iso3_codes())
    assert "headings without a location code (UN development groups …)" in rev_2019.skipped


def test_missing_and_protected_markers_are_kept_as_published(rev_2020):
    curacao_1990 = rev_2020.rows[
        (rev_2020.rows["country_iso3"] == "CUW")
        & (rev_2020.rows["year"] == 1990)
        & (rev_2020.rows["measure"] == "migrant_stock")
    ]
    assert curacao_1990["value"].isna().all()
    protected = rev_2020.rows[rev_2020.rows["value_marker"] == "~"]
    assert len(protected) and protected["value"].isna().all()
    assert set(protected["measure"]) <= {"refugees", "refugees_pct_of_migrant_stock"}


def _edited(path: Path, edit) -> bytes:
    workbook = load_workbook(path)
    edit(workbook)
    saved = io.BytesIO()
    workbook.save(saved)
    return saved.getvalue()


def _row_of(sheet, code: int) -> int:
    return next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 4).value == code)


@pytest.fixture(scope="module")
def with_unknowns() -> bytes:
    """The real 2020 workbook with Jamaica's code in Table 3 changed to one no list knows,
    and the males block of Table 1 relabelled to a sex the reader does not know."""

    def edit(workbook):
        table_3 = workbook["Table 3"]
        table_3.cell(_row_of(table_3, JAMAICA), 4).value = 9999
        workbook["Table 1"].cell(8, 13).value = "International migrant stock at mid-year, unspecified"

    return _edited(REV_2020, edit)


def test_an_unknown_code_or_sex_block_holds_back_only_its_values(with_unknowns):
    parsed = parser.parse_by_destination(parser.open_workbook(with_unknowns, "x.xlsx"), origin="x.xlsx")
    held = parsed.held_back
    code = held[held["column_name"] == "location_code"]
    assert code[["country_iso3", "value", "sheet", "column"]].values.tolist() == [
        ["", "9999 (Jamaica)", "Table 3", "D"]
    ]
    assert code["row"].iloc[0] == 224
    block = held[held["column_name"] == "block_label"]
    assert set(block["value"]) == {"International migrant stock at mid-year, unspecified"}
    assert set(block["sheet"]) == {"Table 1"} and set(block["row"]) == {11}
    assert len(block) == 7 * len(cmc_iso3_codes())  # 1990 … 2020 for every CMC country
    # Everything else loads: Jamaica's other tables, the both-sexes and female blocks.
    rows = parsed.rows
    assert not len(rows[(rows["sheet"] == "Table 1") & (rows["sex"] == "male")])
    assert len(rows[(rows["sheet"] == "Table 1") & (rows["sex"] == "female")]) == 7 * len(cmc_iso3_codes())
    assert not len(rows[(rows["sheet"] == "Table 3") & (rows["country_iso3"] == "JAM")])
    assert len(rows[(rows["sheet"] == "Table 2") & (rows["country_iso3"] == "JAM")]) == 21


# --- `cmc import undesa` -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "revision", "regions"), [(REV_2020, "2020", 294), (REV_2019, "2019", 288)], ids=["2020", "2019"]
)
def test_cmc_import_of_a_real_workbook_loads_its_stocks(data_dir, warehouse, path, revision, regions):
    result = CliRunner().invoke(main, ["import", "undesa", str(path)])

    assert result.exit_code == 0, result.output
    assert f"Loaded 2,100 rows from {path.name} into staging.undesa_stock_by_destination" in result.output
    assert f"skipped {regions} rows: regions and development or income groups" in result.output
    expected = published_value(path, "Table 1", JAMAICA, int(revision))
    facts = warehouse.query(
        "SELECT value, unit, source_series_id, demonstration_data FROM core.fact_observation "
        "WHERE country_iso3 = 'JAM' AND indicator_id = 'UNDESA_IMS_MIGRANT_STOCK' "
        f"AND period = '{revision}' AND sex = 'SEX_T'"
    )
    assert facts.values.tolist() == [
        [float(expected), "persons", f"IMS Rev.{revision} by destination, Table 1", False]
    ]


def test_cmc_import_holds_back_an_unknown_code_and_says_where(tmp_path, data_dir, warehouse, with_unknowns):
    workbook = tmp_path / "undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx"
    workbook.write_bytes(with_unknowns)
    result = CliRunner().invoke(main, ["import", "undesa", str(workbook)])

    assert result.exit_code == 0, result.output
    assert "held back" in result.output and "'9999 (Jamaica)'" in result.output
    assert "first at line 224" in result.output and "sheet Table 3" in result.output
    review = warehouse.query("SELECT * FROM quality.unmapped_values WHERE value = '9999 (Jamaica)'")
    assert review["first_line"].tolist() == [224]
    loaded = warehouse.query(
        "SELECT DISTINCT indicator_id FROM core.fact_observation WHERE country_iso3 = 'JAM' ORDER BY 1"
    )["indicator_id"].tolist()
    assert "UNDESA_IMS_MIGRANT_STOCK" in loaded and "UNDESA_IMS_MIGRANT_STOCK_PCT_POP" not in loaded


def test_a_workbook_with_no_cmc_row_exits_non_zero_saying_so(tmp_path, data_dir, warehouse):
    cmc_codes = {
        int(c)
        for c in pd.read_csv(Path(parser.__file__).parents[2] / "reference" / "countries.csv", dtype=str)[
            "m49"
        ]
    }

    def drop_cmc_rows(workbook):
        for sheet in workbook.worksheets:
            for row in range(sheet.max_row, 0, -1):
                if sheet.cell(row, 4).value in cmc_codes:
                    sheet.delete_rows(row)

    workbook = tmp_path / "world_without_the_caribbean.xlsx"
    workbook.write_bytes(_edited(REV_2020, drop_cmc_rows))
    result = CliRunner().invoke(main, ["import", "undesa", str(workbook)])

    assert result.exit_code != 0
    assert "no row for a CMC country" in result.output and "nothing was loaded" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


# --- live mode against a local server replaying the real bytes ------------------------------

FAST = http.HttpSettings(retries=2, backoff_factor=0, read_timeout=30)


def _live(httpserver) -> undesa.UndesaClient:
    return undesa.UndesaClient(mode="live", base_url=httpserver.url_for("/files"), http_settings=FAST)


def test_live_mode_downloads_the_workbook_from_the_base_url(httpserver, warehouse, data_dir):
    httpserver.expect_request(f"/files/{undesa.DESTINATION_2020.file_name}").respond_with_data(
        REV_2020.read_bytes(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    report = undesa_load.load_stock_by_destination(_live(httpserver), warehouse, data_dir / "raw")

    # Rev.2020 came from the server; Rev.2019, a past revision, from the bundled copy.
    urls = [f["url"] for f in report.raw_files]
    assert urls[1] == httpserver.url_for(f"/files/{undesa.DESTINATION_2020.file_name}")
    assert report.rows_written == 2 * 2100 and not report.demonstration
    staged = warehouse.query(
        "SELECT value FROM staging.undesa_stock_by_destination "
        "WHERE revision = '2020' AND country_iso3 = 'JAM' AND measure = 'migrant_stock' "
        "AND year = 2020 AND sex = 'both sexes'"
    )
    assert staged["value"].tolist() == [float(published_value(REV_2020, "Table 1", JAMAICA, 2020))]


def test_live_mode_waits_out_a_429_then_reads_the_workbook(httpserver):
    path = f"/files/{undesa.DESTINATION_2020.file_name}"
    httpserver.expect_ordered_request(path).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request(path).respond_with_data(REV_2020.read_bytes())

    response = _live(httpserver).fetch(undesa.DESTINATION_2020)
    assert response.body == REV_2020.read_bytes()


def test_live_mode_gives_up_on_5xx_after_the_retries_naming_the_url(httpserver):
    path = f"/files/{undesa.DESTINATION_2020.file_name}"
    httpserver.expect_request(path).respond_with_data("upstream down", status=503)

    with pytest.raises(SourceHTTPError) as error:
        _live(httpserver).fetch(undesa.DESTINATION_2020)
    assert error.value.status == 503 and path in str(error.value) and "upstream down" in str(error.value)
    assert len(httpserver.log) == FAST.retries + 1


@pytest.mark.parametrize("status", [200, 403])
def test_live_mode_refuses_an_html_page_instead_of_a_workbook(httpserver, status):
    path = f"/files/{undesa.DESTINATION_2020.file_name}"
    page = b"<!DOCTYPE html><html><body>Please enable JavaScript</body></html>"
    httpserver.expect_request(path).respond_with_data(page, status=status, content_type="text/html")

    with pytest.raises((SourceFormatError, SourceHTTPError)) as error:
        _live(httpserver).fetch(undesa.DESTINATION_2020)
    assert "Please enable JavaScript" in str(error.value)


def test_live_mode_refuses_an_empty_answer(httpserver):
    httpserver.expect_request(f"/files/{undesa.DESTINATION_2020.file_name}").respond_with_data(b"")

    with pytest.raises(SourceFormatError, match="empty body"):
        _live(httpserver).fetch(undesa.DESTINATION_2020)


def test_the_base_url_comes_from_cmc_undesa_url_and_keeps_the_mode(monkeypatch):
    from cmc_pipeline.defs.resources import default_resources

    monkeypatch.setenv("CMC_UNDESA_URL", "http://127.0.0.1:9/mirror")
    resource = default_resources()["undesa"]
    client = resource.client()
    assert (
        client.url(undesa.DESTINATION_2020)
        == f"http://127.0.0.1:9/mirror/{undesa.DESTINATION_2020.file_name}"
    )
    assert client.mode == resource.mode


# --- the bundled build -----------------------------------------------------------------------


def test_the_built_warehouse_holds_the_published_2020_stocks_and_the_2020_revision_wins(built_warehouse):
    warehouse, _ = built_warehouse
    expected = published_value(REV_2020, "Table 1", JAMAICA, 2020)
    jamaica = warehouse.query(
        "SELECT period, value, source_series_id, demonstration_data FROM core.fact_observation "
        "WHERE country_iso3 = 'JAM' AND indicator_id = 'UNDESA_IMS_MIGRANT_STOCK' AND sex = 'SEX_T' "
        "ORDER BY period"
    ).set_index("period")
    assert jamaica.at["2020", "value"] == float(expected)
    assert not jamaica["demonstration_data"].any()
    # 2005 is in both revisions (2020: 24,284; 2019: 24,314): the 2020 figure is in core,
    # both are in staging.
    assert jamaica.at["2005", "value"] == float(published_value(REV_2020, "Table 1", JAMAICA, 2005))
    assert jamaica.at["2005", "source_series_id"] == "IMS Rev.2020 by destination, Table 1"
    # The series is Rev.2020's throughout: Rev.2019's own 2019 estimate stays in staging.
    assert "2019" not in jamaica.index
    staged = warehouse.query(
        "SELECT revision, value FROM staging.undesa_stock_by_destination WHERE country_iso3 = 'JAM' "
        "AND measure = 'migrant_stock' AND year = 2005 AND sex = 'both sexes' ORDER BY revision"
    )
    assert staged.values.tolist() == [
        ["2019", float(published_value(REV_2019, "Table 1", JAMAICA, 2005))],
        ["2020", float(published_value(REV_2020, "Table 1", JAMAICA, 2005))],
    ]
    # Every CMC country has its 2020 stock, and the corridors mart still has rows.
    countries = warehouse.query(
        "SELECT count(DISTINCT country_iso3) AS n FROM core.fact_observation "
        "WHERE indicator_id = 'UNDESA_IMS_MIGRANT_STOCK' AND period = '2020' AND NOT demonstration_data"
    )
    assert countries["n"].iloc[0] == len(cmc_iso3_codes())
    corridors = warehouse.query("SELECT count(*) AS n FROM marts.migration_corridors")
    assert corridors["n"].iloc[0] > 0


def test_a_workbook_read_once_is_kept_and_read_the_same_again(tmp_path, monkeypatch):
    """Every build reads the same workbooks: the rows openpyxl read are kept under the
    file's digest and come back identical; a kept file that cannot be read is ignored."""
    monkeypatch.setenv("CMC_CACHE_DIR", str(tmp_path))
    body = REV_2019.read_bytes()
    first = parser.open_workbook(body, REV_2019.name)
    (kept,) = (tmp_path / "workbooks").glob("*.json")
    assert parser.open_workbook(body, REV_2019.name) == first
    kept.write_text("{ not the rows", encoding="utf-8")
    assert parser.open_workbook(body, REV_2019.name) == first
    assert parser._decode_rows(parser._encode_rows({"s": [(None, 1, 2.5, "x", True)]})) == {
        "s": [(None, 1, 2.5, "x", True)]
    }
    when = datetime(2020, 7, 1, 12, 30)
    assert parser._decode_rows(parser._encode_rows({"s": [(when,)]})) == {"s": [(when,)]}
    with pytest.raises(TypeError):
        parser._encode_rows({"s": [(time(12, 30),)]})
