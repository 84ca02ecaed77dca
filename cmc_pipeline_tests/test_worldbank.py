"""The World Bank source: its real downloads (the 2023 Excel files, the 2021–22 bulk CSVs)
read as published, the newer vintage winning in core, `cmc import worldbank`, and the
Indicators API's live path against a local HTTP server replaying bodies."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cmc_pipeline import settings
from cmc_pipeline.cli import main as cmc
from cmc_pipeline.lib import core_tables, http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.worldbank import demonstration, load, parser, to_core
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.client import WorldBankClient, parse_response
from cmc_pipeline.sources.worldbank.resource import WorldBankResource

SNAPSHOTS = Path(load.__file__).parent / "snapshots"
EXCEL = SNAPSHOTS / "excel_2023"
RECEIVED_XLS = EXCEL / "personal-remittances-received.xls"
PAID_XLS = EXCEL / "personal-remittances-paid.xls"
COST_FROM_XLS = EXCEL / "sending-cost-from-country.xls"
SHARE_CSV = SNAPSHOTS / "bulk_csv" / "API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014.csv"  # CRLF, no BOM
PAID_CSV = SNAPSHOTS / "bulk_csv" / "API_BM.TRF.PWKR.CD.DT_DS2_en_csv_v2_3012027.csv"  # BOM, LF
METADATA_CSV = SNAPSHOTS / "bulk_csv" / "Metadata_Indicator_API_SI.RMT.COST.IB.ZS_DS2_en_csv_v2_3692955.csv"
# Real values of the 2022-02-15 bulk CSV in the API's JSON shape (see recorded/worldbank/README.md).
API_STAND_IN = (
    Path(__file__).parent
    / "recorded"
    / "worldbank"
    / "stand-in_api_v2_page_of_real_2022-02-15_values_BX.TRF.PWKR.DT.GD.ZS.json"
)
FAST_RETRIES = http.HttpSettings(retries=3, backoff_factor=0)

# Read from the files themselves (xlrd / a text editor), and asserted against the warehouse.
JAMAICA_2022_RECEIVED_USD = 3_419_000_000.0  # personal-remittances-received.xls, sheet Data, row 122
DOMINICAN_2020_PAID_USD_2021_VINTAGE = 627_000_000.0  # API_BM…3012027.csv (2021-09-15)
DOMINICAN_2020_PAID_USD_2023_VINTAGE = 837_300_000.0  # personal-remittances-paid.xls (2023-05-10)


def one(frame, **where):
    for column, value in where.items():
        frame = frame[frame[column] == value]
    assert len(frame) == 1, where
    return frame.iloc[0]


# --- the downloads, as the World Bank writes them ---------------------------------------


def test_excel_download_is_read_with_its_vintage_and_row_numbers():
    rows = parser.parse_download(RECEIVED_XLS.read_bytes(), name=RECEIVED_XLS.name)
    jamaica = one(rows, country_code="JAM", date="2022")
    assert jamaica.value == JAMAICA_2022_RECEIVED_USD
    assert jamaica.indicator_id == "BX.TRF.PWKR.CD.DT"
    assert jamaica.indicator_name == "Personal remittances, received (current US$)"
    # The Last Updated Date is an Excel date cell (45056) in the file.
    assert (jamaica.vintage, jamaica.file_format, jamaica.source_row_number) == (
        "2023-05-10",
        "excel-xls",
        122,
    )
    assert not rows["value"].isna().any()  # empty cells are years with no figure, not rows


def test_every_bundled_download_holds_the_series_and_vintage_the_manifest_names():
    manifest = json.loads((SNAPSHOTS / "manifest.json").read_text(encoding="utf-8"))
    downloads = [e for e in manifest["entries"] if e["api"] in ("worldbank_bulk", "worldbank_xls")]
    assert {e["dataset"] for e in downloads} == {
        "BX.TRF.PWKR.CD.DT",
        "BM.TRF.PWKR.CD.DT",
        "BX.TRF.PWKR.DT.GD.ZS",
        "SI.RMT.COST.IB.ZS",
        "SI.RMT.COST.OB.ZS",
    }
    readme = (SNAPSHOTS / "README.md").read_text(encoding="utf-8")
    for entry in downloads:
        body = (SNAPSHOTS / entry["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() in readme  # provenance: the README names every file
        rows = parser.parse_download(body, name=Path(entry["file"]).name)
        assert set(rows["indicator_id"]) == {entry["dataset"]}
        assert not entry["demonstration"] and f"Last Updated Date {rows['vintage'].iloc[0]}" in entry["note"]


def test_bulk_csv_with_bom_and_lf_and_without_bom_with_crlf_read_alike():
    with_bom = PAID_CSV.read_bytes()
    assert with_bom.startswith(b"\xef\xbb\xbf") and b"\r\n" not in with_bom
    without_bom_crlf = with_bom[3:].replace(b"\n", b"\r\n")
    a = parser.parse_download(with_bom, name=PAID_CSV.name)
    b = parser.parse_download(without_bom_crlf, name=PAID_CSV.name)
    assert a.equals(b)
    dominican = one(a, country_code="DOM", date="2020")
    assert dominican.value == DOMINICAN_2020_PAID_USD_2021_VINTAGE
    assert dominican.vintage == "2021-09-15" and dominican.file_format == "bulk-csv"

    crlf = SHARE_CSV.read_bytes()
    assert b"\r\n" in crlf and not crlf.startswith(b"\xef\xbb\xbf")
    share = parser.parse_download(crlf, name=SHARE_CSV.name)
    haiti = one(share, country_code="HTI", date="2020")
    assert haiti.value > 20 and haiti.vintage == "2022-02-15"
    # The line a person opens the file at: the header is line 5, after the preamble's blank lines.
    assert crlf.decode().split("\r\n")[haiti.source_row_number - 1].startswith('"Haiti","HTI"')


def test_the_zip_the_world_bank_serves_is_read_like_the_csv_inside_it():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(SHARE_CSV.name, SHARE_CSV.read_bytes())
        archive.writestr(METADATA_CSV.name, METADATA_CSV.read_bytes())
    from_zip = parser.parse_download(
        buffer.getvalue(), name="API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014.zip"
    )
    assert from_zip.equals(parser.parse_download(SHARE_CSV.read_bytes(), name=SHARE_CSV.name))


def test_a_download_parsed_once_is_kept_and_read_the_same_again(tmp_path, monkeypatch):
    """Every build parses the same bundled downloads: the rows are kept under the file's
    digest and come back with the same values and types; a kept file that cannot be read
    is parsed again, and a file that fails to parse is refused every time."""
    monkeypatch.setenv("CMC_CACHE_DIR", str(tmp_path))
    body = RECEIVED_XLS.read_bytes()
    first = parser.parse_download(body, name=RECEIVED_XLS.name)
    (kept,) = (tmp_path / "worldbank").glob("*.parquet")
    again = parser.parse_download(body, name=RECEIVED_XLS.name)
    assert again.equals(first) and list(again.dtypes) == list(first.dtypes)
    kept.write_bytes(b"PAR1 not a table")
    assert parser.parse_download(body, name=RECEIVED_XLS.name).equals(first)
    for _ in range(2):
        with pytest.raises(SourceFormatError, match="not a World Bank bulk CSV"):
            parser.parse_download(b"a,b\n1,2\n", name="x.csv")
    assert len(list((tmp_path / "worldbank").glob("*.parquet"))) == 1


def test_files_that_are_not_wdi_data_are_refused_with_what_they_are():
    with pytest.raises(SourceFormatError, match="indicator's metadata file"):
        parser.parse_download(METADATA_CSV.read_bytes(), name=METADATA_CSV.name)
    with pytest.raises(SourceFormatError, match="not a World Bank bulk CSV"):
        parser.parse_download(b"a,b\n1,2\n", name="x.csv")
    with pytest.raises(SourceFormatError, match=r"not a readable \.xls"):
        parser.parse_download(RECEIVED_XLS.read_bytes()[:4096], name="cut.xls")


def test_a_file_without_its_last_updated_date_is_refused():
    body = SHARE_CSV.read_bytes().replace(b'"Last Updated Date","2022-02-15",', b"")
    with pytest.raises(SourceFormatError, match=r'no "Last Updated Date".*vintage'):
        parser.parse_download(body, name=SHARE_CSV.name)


def test_a_cell_that_is_not_a_number_is_named_by_line_and_year():
    body = SHARE_CSV.read_bytes()
    jamaica = re.search(rb'"Jamaica","JAM",[^\r\n]*', body).group(0)
    damaged = jamaica.replace(b'"22.2037295552885"', b'"22,2"')
    assert damaged != jamaica
    with pytest.raises(SourceFormatError, match=r"line \d+, column '2020': '22,2' is not a number"):
        parser.parse_download(body.replace(jamaica, damaged), name=SHARE_CSV.name)


# --- snapshot mode: the real files through the import's parser ---------------------------


def test_snapshot_mode_serves_the_real_downloads_and_demonstration_pages_only_without_one():
    client = WorldBankClient(mode="snapshot")
    real = {i: client.fetch(i, ["JAM"]) for i in ("BX.TRF.PWKR.CD.DT", "SI.RMT.COST.OB.ZS")}
    assert all(not r.demonstration and r.api == "worldbank_xls" for rs in real.values() for r in rs)
    received = parse_response(real["BX.TRF.PWKR.CD.DT"][0])
    assert one(received, country_code="JAM", date="2022").value == JAMAICA_2022_RECEIVED_USD
    for series in demonstration.MODELS:
        pages = client.fetch(series, ["JAM"])
        assert pages and all(p.demonstration and p.api == "worldbank_v2" for p in pages)


def test_two_vintages_are_staged_and_the_newer_wins_in_core(warehouse):
    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    report = load.load_worldbank(
        WorldBankClient(mode="snapshot"), warehouse, settings.raw_dir(), ["DOM", "MSR"]
    )
    assert report.countries_without_rows == ["MSR"]  # Montserrat is not a World Bank economy
    staged = warehouse.query(
        "SELECT vintage, file_format, value FROM staging.worldbank_observations "
        "WHERE country_iso3 = 'DOM' AND indicator_id = 'BM.TRF.PWKR.CD.DT' AND date = '2020' ORDER BY vintage"
    )
    assert staged.to_dict("records") == [
        {"vintage": "2021-09-15", "file_format": "bulk-csv", "value": DOMINICAN_2020_PAID_USD_2021_VINTAGE},
        {"vintage": "2023-05-10", "file_format": "excel-xls", "value": DOMINICAN_2020_PAID_USD_2023_VINTAGE},
    ]
    core_tables.build_fact_observations(warehouse, ["DOM"])
    fact = warehouse.query(
        "SELECT value, demonstration_data FROM core.fact_observation WHERE country_iso3 = 'DOM' "
        "AND indicator_id = 'BM.TRF.PWKR.CD.DT' AND period = '2020'"
    ).iloc[0]
    assert fact.value == DOMINICAN_2020_PAID_USD_2023_VINTAGE and not fact.demonstration_data


def test_the_newer_vintage_wins_whatever_order_the_rows_were_loaded_in():
    import pandas as pd

    staged = pd.DataFrame(
        {
            "country_iso3": ["DOM", "DOM"],
            "indicator_id": ["BM.TRF.PWKR.CD.DT"] * 2,
            "date": ["2020", "2020"],
            "value": [DOMINICAN_2020_PAID_USD_2023_VINTAGE, DOMINICAN_2020_PAID_USD_2021_VINTAGE],
            "obs_status": ["", ""],
            "vintage": ["2023-05-10", "2021-09-15"],
            "file_format": ["excel-xls", "bulk-csv"],
            "source_row_number": [0, 0],
            "raw_sha256": ["new", "old"],
            "demonstration_data": [False, False],
            # the older vintage was imported last
            "loaded_at": pd.to_datetime(["2026-01-01", "2026-06-01"], utc=True),
        }
    )
    facts = to_core.worldbank_to_facts(staged).facts
    assert facts["value"].tolist() == [DOMINICAN_2020_PAID_USD_2023_VINTAGE]


def test_a_real_figure_wins_over_a_demonstration_one_of_a_later_invented_vintage():
    import pandas as pd

    staged = pd.DataFrame(
        {
            "country_iso3": ["JAM", "JAM"],
            "indicator_id": ["BX.TRF.PWKR.CD.DT"] * 2,
            "date": ["2022", "2022"],
            # the real figure, and the kind of generated one the bundle used to carry
            "value": [JAMAICA_2022_RECEIVED_USD, 3_900_000_000.0],
            "obs_status": ["", ""],
            "vintage": ["2023-05-10", "2026-10-28"],  # the demonstration pages' invented date
            "file_format": ["excel-xls", "api-json"],
            "source_row_number": [122, 1],
            "raw_sha256": ["real", "demo"],
            "demonstration_data": [False, True],
            "loaded_at": pd.to_datetime(["2026-01-01", "2026-06-01"], utc=True),
        }
    )
    (fact,) = to_core.worldbank_to_facts(staged).facts.itertuples()
    assert (fact.value, fact.demonstration_data) == (JAMAICA_2022_RECEIVED_USD, False)


def test_bundled_demonstration_pages_are_what_the_generator_writes_and_are_labelled():
    files = demonstration.demonstration_files()
    assert {e["dataset"] for e, _ in files.values()} == {
        "SM.POP.TOTL",
        "SM.POP.NETM",
        "SL.TLF.TOTL.IN",
        "SP.POP.TOTL",
    }
    for file, (entry, body) in files.items():
        assert (SNAPSHOTS / file).read_bytes() == body, file
        assert entry["demonstration"] and "demonstration data — not official statistics" in entry["note"]
    manifest = json.loads((SNAPSHOTS / "manifest.json").read_text(encoding="utf-8"))
    bundled_demo = sorted(e["file"] for e in manifest["entries"] if e["demonstration"])
    assert bundled_demo == sorted(files)
    catalogue = {i.indicator_id for i in worldbank_indicators()}
    assert catalogue == {e["dataset"] for e in manifest["entries"]}  # every series is served


# --- cmc import worldbank FILE ------------------------------------------------------------


def run_import(path: Path):
    return CliRunner().invoke(cmc, ["import", "worldbank", str(path)])


def test_import_of_the_excel_download_says_what_it_loaded(data_dir, warehouse):
    result = run_import(RECEIVED_XLS)
    assert result.exit_code == 0, result.output
    assert "Loaded" in result.output and "BX.TRF.PWKR.CD.DT (vintage 2023-05-10)" in result.output
    assert re.search(r"skipped \d+ figures \(area × year\): regional aggregates", result.output)
    jamaica = warehouse.query(
        "SELECT value FROM core.fact_observation WHERE country_iso3 = 'JAM' "
        "AND indicator_id = 'BX.TRF.PWKR.CD.DT' AND period = '2022'"
    )
    assert jamaica["value"].tolist() == [JAMAICA_2022_RECEIVED_USD]
    staged = int(re.search(r"Loaded (\d+) rows", result.output).group(1))
    in_core = int(re.search(r"(\d+) of them are now figures", result.output).group(1))
    assert staged == in_core > 0


def test_an_older_vintage_imported_after_a_newer_one_stays_in_staging_only(data_dir, warehouse):
    assert run_import(PAID_XLS).exit_code == 0
    result = run_import(PAID_CSV)
    assert result.exit_code == 0, result.output
    assert "BM.TRF.PWKR.CD.DT (vintage 2021-09-15)" in result.output
    assert "kept in staging only: a newer vintage" in result.output
    fact = warehouse.query(
        "SELECT value FROM core.fact_observation WHERE country_iso3 = 'DOM' "
        "AND indicator_id = 'BM.TRF.PWKR.CD.DT' AND period = '2020'"
    )
    assert fact["value"].tolist() == [DOMINICAN_2020_PAID_USD_2023_VINTAGE]
    vintages = warehouse.query("SELECT DISTINCT vintage FROM staging.worldbank_observations ORDER BY 1")
    assert vintages["vintage"].tolist() == ["2021-09-15", "2023-05-10"]


def test_a_file_with_no_cmc_rows_exits_non_zero_and_says_so(data_dir, tmp_path):
    lines = SHARE_CSV.read_bytes().split(b"\r\n")
    header_at = next(n for n, line in enumerate(lines) if line.startswith(b'"Country Name"'))
    # The real file's preamble and header, and only its rows for areas outside the CMC.
    others = [line for line in lines[header_at + 1 :] if re.match(rb'"[^"]*","(ARG|BRA|CHL|WLD|LCN)"', line)]
    path = tmp_path / "API_BX.TRF.PWKR.DT.GD.ZS_south_america.csv"
    path.write_bytes(b"\r\n".join([*lines[: header_at + 1], *others, b""]))
    result = run_import(path)
    assert result.exit_code == 1
    assert "no rows for a CMC country" in result.output and "nothing was loaded" in result.output
    # Argentina, Brazil and Chile are named as outside the CMC; the world and Latin America
    # as aggregates.
    assert re.search(r"skipped \d+ figures \(area × year\): areas outside the CMC", result.output)
    assert re.search(r"skipped \d+ figures \(area × year\): regional aggregates", result.output)
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_a_damaged_file_exits_non_zero_with_the_reason_and_changes_nothing(data_dir, tmp_path):
    path = tmp_path / "damaged.xls"
    path.write_bytes(RECEIVED_XLS.read_bytes()[:4096])
    result = run_import(path)
    assert result.exit_code == 1
    assert (
        "was not loaded; the warehouse is unchanged" in result.output
        and "not a readable .xls" in result.output
    )


def test_a_series_outside_the_catalogue_is_staged_and_held_back_from_core_for_review(
    data_dir, warehouse, monkeypatch
):
    # As if SI.RMT.COST.OB.ZS were not in indicators.yaml yet: a real file of a real series.
    known = tuple(i for i in worldbank_indicators() if i.indicator_id != "SI.RMT.COST.OB.ZS")
    monkeypatch.setattr(to_core, "worldbank_indicators", lambda: known)
    result = run_import(COST_FROM_XLS)
    assert result.exit_code == 1, result.output
    assert "0 of them are now figures" in result.output
    assert "held back" in result.output and "'SI.RMT.COST.OB.ZS'" in result.output
    assert "sending-cost-from-country.xls" in result.output  # the file a person opens
    review = warehouse.query("SELECT * FROM quality.unmapped_values WHERE slice = 'SI.RMT.COST.OB.ZS'")
    assert len(review) > 0 and (review["first_line"] > 4).all()
    staged = warehouse.query(
        "SELECT count(*) AS n FROM staging.worldbank_observations WHERE indicator_id = 'SI.RMT.COST.OB.ZS'"
    )
    assert staged["n"].iloc[0] == int(re.search(r"Loaded (\d+) rows", result.output).group(1)) > 0


# --- the live path: the Indicators API v2 on a local HTTP server --------------------------


def stand_in_pages(pages: int) -> list[bytes]:
    """The stand-in page split into ``pages`` pages, with the meta the API would send."""
    meta, rows = json.loads(API_STAND_IN.read_bytes())
    size = -(-len(rows) // pages)
    return [
        json.dumps([{**meta, "page": n + 1, "pages": pages}, rows[n * size : (n + 1) * size]]).encode()
        for n in range(pages)
    ]


def live(httpserver, **kwargs) -> WorldBankClient:
    return WorldBankClient(
        mode="live", http_settings=FAST_RETRIES, base_url=httpserver.url_for("/v2"), **kwargs
    )


PATH = "/v2/country/JAM;HTI/indicator/BX.TRF.PWKR.DT.GD.ZS"


def test_live_pages_until_the_last_page(httpserver):
    first, second = stand_in_pages(2)
    httpserver.expect_ordered_request(
        PATH, query_string={"format": "json", "date": "2000:2024", "per_page": "500", "page": "1"}
    ).respond_with_data(first)
    httpserver.expect_ordered_request(
        PATH, query_string={"format": "json", "date": "2000:2024", "per_page": "500", "page": "2"}
    ).respond_with_data(second)
    pages = live(httpserver).fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])
    assert [p.page for p in pages] == [1, 2]
    rows = parser.parse_api_pages(pages)
    assert len(rows) == len(json.loads(API_STAND_IN.read_bytes())[1])
    jamaica = one(rows, country_code="JAM", date="2020")
    assert abs(jamaica.value - 22.2037295552885) < 1e-12 and jamaica.vintage == "2022-02-15"
    assert rows["source_row_number"].max() > 500 - 1  # rows of page 2 are numbered after page 1's
    httpserver.check_assertions()


def test_the_base_url_setting_reaches_the_client_and_never_changes_the_mode(httpserver, monkeypatch):
    monkeypatch.setenv("CMC_WORLDBANK_URL", httpserver.url_for("/v2"))
    resource = WorldBankResource.from_environment("snapshot")
    assert resource.client().mode == "snapshot" and resource.client().base_url == httpserver.url_for("/v2")
    httpserver.expect_request(PATH).respond_with_data(API_STAND_IN.read_bytes())
    client = WorldBankResource.from_environment("live").client()
    client.http_settings = FAST_RETRIES
    assert client.fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])[0].body == API_STAND_IN.read_bytes()


def test_an_error_message_with_status_200_is_an_error(httpserver):
    # The API's documented answer to a bad parameter, with HTTP status 200.
    error = [
        {
            "message": [
                {"id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"}
            ]
        }
    ]
    httpserver.expect_request("/v2/country/JAM/indicator/NOT.AN.ID").respond_with_json(error)
    with pytest.raises(SourceError, match="120 Invalid value"):
        live(httpserver).fetch("NOT.AN.ID", ["JAM"])


def test_429_is_retried_then_succeeds(httpserver):
    httpserver.expect_ordered_request(PATH).respond_with_data("Too Many Requests", status=429)
    httpserver.expect_ordered_request(PATH).respond_with_data(API_STAND_IN.read_bytes())
    pages = live(httpserver).fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])
    assert pages[0].body == API_STAND_IN.read_bytes()
    httpserver.check_assertions()


def test_5xx_until_retries_run_out_names_url_and_status(httpserver):
    httpserver.expect_request(PATH).respond_with_data("Service Unavailable", status=503)
    with pytest.raises(SourceHTTPError) as error:
        live(httpserver).fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])
    assert error.value.status == 503 and "indicator/BX.TRF.PWKR.DT.GD.ZS?format=json" in str(error.value)
    assert len(httpserver.log) == 1 + FAST_RETRIES.retries


def test_an_html_page_is_never_parsed_as_data(httpserver):
    page = b"<!DOCTYPE html><html><head><title>World Bank - Access Denied</title></head></html>"
    httpserver.expect_request(PATH).respond_with_data(page, status=200, content_type="text/html")
    with pytest.raises(SourceFormatError, match="HTML page instead of JSON"):
        live(httpserver).fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])


def test_an_empty_answer_is_a_clear_error(httpserver):
    httpserver.expect_request(PATH).respond_with_data(b"")
    with pytest.raises(SourceFormatError, match="empty answer"):
        live(httpserver).fetch("BX.TRF.PWKR.DT.GD.ZS", ["JAM", "HTI"])


def test_a_query_matching_nothing_is_an_explained_empty_result(httpserver, warehouse):
    meta = json.loads(API_STAND_IN.read_bytes())[0]
    nothing = json.dumps([{**meta, "total": 0}, None]).encode()  # the API's answer: rows null
    httpserver.expect_request(re.compile("/v2/country/MSR/indicator/.*")).respond_with_data(nothing)
    report = load.load_worldbank(live(httpserver), warehouse, settings.raw_dir(), ["MSR"])
    assert report.rows_written == 0 and report.countries_without_rows == ["MSR"]
    assert len(report.raw_files) == len(worldbank_indicators())  # every answer kept raw


def test_snapshot_mode_needs_no_network_and_reports_missing_recordings(tmp_path):
    client = WorldBankClient(mode="snapshot", snapshots=SnapshotStore(tmp_path))
    with pytest.raises(SourceError, match="cmc snapshot record"):
        client.fetch("SP.POP.TOTL", ["JAM"])


# --- the bundled build ----------------------------------------------------------------------


def test_the_bundled_build_holds_the_real_world_bank_figures(built_warehouse):
    warehouse, _ = built_warehouse
    facts = warehouse.query(
        "SELECT country_iso3, indicator_id, period, value, demonstration_data FROM core.fact_observation "
        "WHERE source = 'World Bank WDI'"
    )
    jamaica = one(facts, country_iso3="JAM", indicator_id="BX.TRF.PWKR.CD.DT", period="2022")
    assert jamaica.value == JAMAICA_2022_RECEIVED_USD and not jamaica.demonstration_data
    dominican = one(facts, country_iso3="DOM", indicator_id="BM.TRF.PWKR.CD.DT", period="2020")
    assert dominican.value == DOMINICAN_2020_PAID_USD_2023_VINTAGE
    real = {
        "BX.TRF.PWKR.CD.DT",
        "BM.TRF.PWKR.CD.DT",
        "BX.TRF.PWKR.DT.GD.ZS",
        "SI.RMT.COST.IB.ZS",
        "SI.RMT.COST.OB.ZS",
    }
    by_series = facts.groupby("indicator_id")["demonstration_data"].agg(["all", "any"])
    assert not by_series.loc[sorted(real), "any"].any()
    assert by_series.drop(index=sorted(real))["all"].all()  # the rest: demonstration data, labelled
