"""ILOSTAT end to end on the real files: the two label-form bulk downloads bundled in
sources/ilostat/snapshots/ and the ILO's SDMX code lists, read by the parser, mapped to
the core, imported by `cmc import ilostat`, and replayed to the live client from a local
HTTP server (pytest-httpserver) with the faults a real upstream shows."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cmc_pipeline.lib import core_tables, http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.ilostat import catalogue, codelists
from cmc_pipeline.sources.ilostat import load as ilostat_load
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.ilostat.client import IlostatClient
from cmc_pipeline.sources.ilostat.codelists import ilo_code_lists
from cmc_pipeline.sources.ilostat.parser import parse_bulk_csv, parse_response
from cmc_pipeline.sources.ilostat.resource import IlostatResource
from cmc_pipeline.steps.fetching import FetchedResponse

SNAPSHOTS = codelists.HERE / "snapshots"
EMPLOYMENT_BY_SECTOR = SNAPSHOTS / "EMP_TEMP_SEX_INS_NB_A-20240725T0039.csv"
INFORMAL_RATE = SNAPSHOTS / "EMP_NIFL_SEX_RT_A-20240726T0000.csv"
REAL_FILES = [EMPLOYMENT_BY_SECTOR, INFORMAL_RATE]
FAST_RETRIES = http.HttpSettings(retries=3, backoff_factor=0)
# The code-form rplumber answer (type=code) as the bulk API gives it; no real recording of
# this form is bundled, so this one line of Jamaica's labour force stands for it.
BULK_CODE_CSV = (
    '\ufeff"ref_area","source","indicator","sex","classif1","time","obs_value","obs_status",'
    '"note_classif","note_indicator","note_source"\n'
    '"JAM","BA:453","EAP_TEAP_SEX_AGE_NB","SEX_T","AGE_YTHADULT_YGE15","2019",1362.456,"","","","R1:3513"\n'
    '"JAM","BA:453","EAP_TEAP_SEX_AGE_NB","SEX_F","AGE_YTHADULT_YGE15","2019Q2",600.1,"P","","",""\n'
    '"X91","ILO","EAP_TEAP_SEX_AGE_NB","SEX_T","AGE_YTHADULT_YGE15","2019",9000,"","","",""\n'
).encode()


def indicator(indicator_id: str):
    return next(i for i in ilostat_indicators() if i.indicator_id == indicator_id)


def real_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def csv_bytes(header: list[str], rows: list[dict[str, str]], *, bom: bool = True) -> bytes:
    """Rows of a real file written back as ILOSTAT writes them (every field quoted)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: r.get(k, "") for k in header} for r in rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def header_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f))


# --- the ILO's code lists -----------------------------------------------------------------


def test_code_list_csv_is_derived_from_the_ilo_sdmx_structure_message():
    """ilo_codelists.csv is what the bundled XML gives; regenerate it when the XML changes."""
    assert codelists.CODE_LIST_FILE.read_text(encoding="utf-8") == codelists.derived_csv_text(), (
        "run `python -m cmc_pipeline.sources.ilostat.codelists`"
    )


def test_code_lists_have_every_country_breakdown_and_three_languages():
    codes = ilo_code_lists()
    for code in ("CBR_BRT_JAM", "CCT_CTZ_HTI", "CDS_DES_USA", "CPR_PRV_TTO", "CRS_RES_GBR"):
        assert codes.dimension_of(code) in {"cbr", "cct", "cds", "cpr", "crs"}, code
    assert codes.name("sex", "SEX_F", "fr") == "Femmes"
    assert codes.name("sex", "SEX_F", "es") == "Mujeres"
    assert codes.name("ins", "INS_SECTOR_PUB", "es") == "Público"
    assert codes.name("area", "JAM") == "Jamaica"
    # The ILO's lists lack a few countries (Sint Maarten, a CMC member); ISO 3166-1 completes them.
    assert codes.name("cbr", "CBR_BRT_SXM") == "Sint Maarten (Dutch part)"
    assert codes.name("crs", "CRS_RES_CUW", "fr") == "Curaçao"


@pytest.mark.parametrize(
    ("label", "dimensions", "code"),
    [
        ("Sex: Total", {"sex"}, "SEX_T"),
        ("Total", {"sex"}, "SEX_T"),
        ("Institutional sector: Public", None, "INS_SECTOR_PUB"),
        ("Age (Youth, adults): 15+", None, "AGE_YTHADULT_YGE15"),
        ("Age (Aggregate bands): Total", None, "AGE_AGGREGATE_TOTAL"),
        ("Occupation (ISCO-08): 1. Managers", None, "OCU_ISCO08_1"),
        ("Edad (Jóvenes, adultos): 15+", None, "AGE_YTHADULT_YGE15"),
        ("Break in series", {"obs_status"}, "B"),
        ("Total", None, None),  # total of which classification? refused, never guessed
        ("Age: 15+", None, None),  # several age versions name an item 15+
    ],
)
def test_labels_match_the_code_lists_exactly(label, dimensions, code):
    allowed = frozenset(dimensions) if dimensions else None
    assert ilo_code_lists().code_for(label, allowed) == code


def test_every_label_in_the_real_downloads_maps_to_one_ilo_code():
    codes = ilo_code_lists()
    columns = {"sex.label": {"sex"}, "classif1.label": None, "obs_status.label": {"obs_status"}}
    for path in REAL_FILES:
        rows = real_rows(path)
        for column, dimensions in columns.items():
            labels = {r[column] for r in rows if r.get(column)}
            unmapped = [
                v for v in labels if codes.code_for(v, frozenset(dimensions) if dimensions else None) is None
            ]
            assert not unmapped, (path.name, column, unmapped)


# --- parsing the real label form ------------------------------------------------------------


def test_real_label_download_parses_with_its_bom_notes_and_words():
    rows = parse_bulk_csv(EMPLOYMENT_BY_SECTOR.read_bytes(), origin="test")
    assert len(rows) == 15839
    assert set(rows["file_format"]) == {"label"}
    assert rows.loc[0, "ref_area"] == "Afghanistan"  # no BOM left in the first column name
    assert rows.loc[0, "source_row_number"] == 2
    assert "Break in series" in set(rows["obs_status"])
    # Several notes stay joined as ILOSTAT wrote them.
    assert (
        rows.loc[0, "note_source"]
        == "Repository: ILO-STATISTICS - Micro data processing | Data reference period: First quarter"
    )


def test_label_download_without_bom_note_columns_or_sex_breakdown_still_parses():
    header = [c for c in header_of(INFORMAL_RATE) if not c.startswith("note_") and c != "sex.label"]
    jamaica = [
        r
        for r in real_rows(INFORMAL_RATE)
        if r["ref_area.label"] == "Jamaica" and r["sex.label"] == "Sex: Total"
    ]
    rows = parse_bulk_csv(csv_bytes(header, jamaica, bom=False), origin="test")
    assert len(rows) == len(jamaica) == 7
    assert set(rows["sex"]) == {""} and set(rows["note_source"]) == {""}


# --- snapshot mode: the real files are the bulk answers for their catalogue ids ---------------


def test_snapshot_build_loads_the_real_figures_with_unit_and_labels(warehouse):
    from cmc_pipeline import settings

    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    report = ilostat_load.load_ilostat(
        IlostatClient(mode="snapshot"), warehouse, settings.raw_dir(), ["JAM", "DOM"]
    )
    assert not report.blocked
    assert report.skipped["areas outside the CMC"] > 0  # the files cover every country
    facts = core_tables.build_fact_observations(warehouse, ["JAM", "DOM"])
    assert not facts.blocked and (facts.unmapped is None or not len(facts.unmapped))

    # Jamaica's informal employment rate, 2016, both sexes, as the file says.
    published = next(
        r
        for r in real_rows(INFORMAL_RATE)
        if r["ref_area.label"] == "Jamaica" and r["time"] == "2016" and r["sex.label"] == "Sex: Total"
    )
    row = warehouse.query(
        "SELECT * FROM core.fact_observation WHERE country_iso3 = 'JAM' AND indicator_id = 'EMP_NIFL_SEX_RT' "
        "AND period = '2016' AND sex = 'SEX_T'"
    ).iloc[0]
    assert row.value == pytest.approx(float(published["obs_value"]))
    assert (row.unit, row.unit_multiplier, row.demonstration_data) == ("percent", 0, False)

    public = warehouse.query(
        "SELECT count(*) AS n, min(unit) AS unit, min(unit_multiplier) AS m FROM core.fact_observation "
        "WHERE country_iso3 = 'DOM' AND indicator_id = 'EMP_TEMP_SEX_INS_NB' "
        "AND breakdown_1 = 'INS_SECTOR_PUB'"
    ).iloc[0]
    assert public.n > 0 and (public.unit, public.m) == ("persons", 3)
    status = warehouse.query(
        "SELECT DISTINCT obs_status FROM core.fact_observation WHERE indicator_id = 'EMP_TEMP_SEX_INS_NB'"
    )
    assert set(status["obs_status"].dropna()) <= {"B", "U"}


def test_sdmx_rows_map_by_measure_code_and_an_unknown_one_holds_back_only_its_slice(
    data_dir, warehouse, monkeypatch
):
    """Real SDMX answers carry a CL_MEASURE code in MEASURE. One unknown value holds back
    that country × indicator; every other slice loads in the same run."""
    from cmc_pipeline import settings

    recordings = data_dir / "recordings"
    shutil.copytree(SNAPSHOTS, recordings / "ilostat")
    flow = recordings / "ilostat" / "DF_POP_MFLB_SEX_CBR_NB.csv"
    text = flow.read_text(encoding="utf-8")
    assert ",BRB,A,MFL_FPOP_NB," in text
    flow.write_text(text.replace(",BRB,A,MFL_FPOP_NB,", ",BRB,A,MFL_XXXX_NB,"), encoding="utf-8")
    client = IlostatClient(mode="snapshot", snapshots=SnapshotStore(recordings))

    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    ilostat_load.load_ilostat(client, warehouse, settings.raw_dir(), ["BRB", "ATG"])
    facts = core_tables.build_fact_observations(warehouse, ["BRB", "ATG"])
    review = facts.unmapped
    assert list(
        review[["country_iso3", "column_name", "value"]].drop_duplicates().itertuples(index=False)
    ) == [("BRB", "indicator", "MFL_XXXX_NB")]
    assert review["first_line"].iloc[0] > 1 and review["file"].iloc[0] == "DF_POP_MFLB_SEX_CBR_NB"
    loaded = warehouse.query(
        "SELECT country_iso3, indicator_id, count(*) AS n FROM core.fact_observation GROUP BY ALL"
    )
    by_slice = {(r.country_iso3, r.indicator_id): r.n for r in loaded.itertuples()}
    assert ("BRB", "MFL_FPOP_SEX_CBR_NB") not in by_slice
    assert by_slice[("ATG", "MFL_FPOP_SEX_CBR_NB")] > 0
    assert by_slice[("BRB", "MFL_NCIT_SEX_CCT_NB")] > 0 and by_slice[("BRB", "EMP_TEMP_SEX_INS_NB")] > 0


# --- cmc import ilostat ----------------------------------------------------------------------


def run_import(path: Path):
    from cmc_pipeline.cli import main

    return CliRunner().invoke(main, ["import", "ilostat", str(path)])


def test_import_of_the_real_downloads_says_what_this_file_loaded(data_dir, warehouse):
    first = run_import(INFORMAL_RATE)
    assert first.exit_code == 0, first.output
    assert "Loaded 135 rows from EMP_NIFL_SEX_RT_A-20240726T0000.csv" in first.output
    assert "This file now gives 135 rows of core.fact_observation (EMP_NIFL_SEX_RT: 135)." in first.output
    assert "areas outside the CMC" in first.output

    second = run_import(EMPLOYMENT_BY_SECTOR)
    assert second.exit_code == 0, second.output
    in_file = sum(1 for r in real_rows(EMPLOYMENT_BY_SECTOR) if r["ref_area.label"] in CMC_LABELS)
    assert f"Loaded {in_file} rows from EMP_TEMP_SEX_INS_NB_A-20240725T0039.csv" in second.output
    # Counted for this file only: never the informal-rate rows loaded before.
    gives = warehouse.query(
        "SELECT count(*) AS n FROM core.fact_observation WHERE source_series_id = "
        "'file:EMP_TEMP_SEX_INS_NB_A-20240725T0039.csv'"
    )["n"].iloc[0]
    assert (
        f"This file now gives {gives} rows of core.fact_observation (EMP_TEMP_SEX_INS_NB: {gives})."
        in second.output
    )
    assert "harmonised rows now in core.fact_observation" not in second.output
    total = warehouse.query("SELECT count(*) AS n FROM core.fact_observation")["n"].iloc[0]
    assert total == gives + 135


CMC_LABELS = {
    "Anguilla", "Antigua and Barbuda", "Aruba", "Bahamas", "Barbados", "Belize", "Bermuda",
    "British Virgin Islands", "Cayman Islands", "Cuba", "Curaçao", "Dominica", "Dominican Republic",
    "Grenada", "Guyana", "Haiti", "Jamaica", "Montserrat", "Saint Kitts and Nevis", "Saint Lucia",
    "Saint Vincent and the Grenadines", "Sint Maarten (Dutch part)", "Suriname", "Trinidad and Tobago",
    "Turks and Caicos Islands",
}  # fmt: skip


def test_import_of_a_file_with_no_cmc_rows_fails_and_says_so(data_dir, warehouse):
    elsewhere = [r for r in real_rows(INFORMAL_RATE) if r["ref_area.label"] in ("Afghanistan", "Angola")]
    path = data_dir / "EMP_NIFL_SEX_RT_A-20240726T0000.csv"
    path.write_bytes(csv_bytes(header_of(INFORMAL_RATE), elsewhere))
    result = run_import(path)
    assert result.exit_code == 1
    assert (
        f"Nothing loaded from {path.name}: it has no rows for a CMC country ({len(elsewhere)} rows skipped)."
        in (result.output)
    )
    assert "Traceback" not in result.output


def test_imported_indicator_not_in_the_catalogue_gets_its_unit_and_a_dim_indicator_row(
    data_dir, warehouse, monkeypatch
):
    """Any indicator ILOSTAT publishes imports: here the catalogue does not list the
    informal employment rate, so its id comes from the file name and its unit from the
    label's "(%)"."""
    import yaml

    entries = yaml.safe_load(catalogue.CATALOGUE.read_text(encoding="utf-8"))
    entries["indicators"] = [e for e in entries["indicators"] if e["indicator_id"] != "EMP_NIFL_SEX_RT"]
    smaller = data_dir / "indicators.yaml"
    smaller.write_text(yaml.safe_dump(entries), encoding="utf-8")
    monkeypatch.setattr(catalogue, "CATALOGUE", smaller)
    catalogue.ilostat_indicators.cache_clear()
    try:
        result = run_import(INFORMAL_RATE)
        assert result.exit_code == 0, result.output
        row = warehouse.query("SELECT * FROM core.dim_indicator WHERE indicator_id = 'EMP_NIFL_SEX_RT'").iloc[
            0
        ]
        assert (row.label, row.unit, row.unit_multiplier, row.topic) == (
            "Informal employment rate by sex",
            "percent",
            0,
            "imported",
        )
        facts = warehouse.query("SELECT DISTINCT unit, unit_multiplier FROM core.fact_observation")
        assert facts.values.tolist() == [["percent", 0]]
    finally:
        catalogue.ilostat_indicators.cache_clear()


def test_imported_indicator_unit_from_label_or_id():
    by_label = catalogue.imported_indicator(
        "Employment by sex and age (thousands)", "EMP_TEMP_SEX_AGE_NB_Q-20240101T0000.csv"
    )
    assert (by_label.indicator_id, by_label.unit, by_label.unit_multiplier, by_label.frequency) == (
        "EMP_TEMP_SEX_AGE_NB",
        "persons",
        3,
        "Q",
    )
    by_id = catalogue.imported_indicator("UNE_DEAP_SEX_AGE_RT", "download.csv")
    assert (by_id.indicator_id, by_id.unit, by_id.unit_multiplier) == ("UNE_DEAP_SEX_AGE_RT", "percent", 0)


# --- live mode against a local server replaying real bodies ----------------------------------


def live(httpserver, **kwargs) -> IlostatClient:
    base = httpserver.url_for("").rstrip("/")
    return IlostatClient(
        mode="live", http_settings=FAST_RETRIES, bulk_base_url=base, sdmx_base_url=base + "/rest", **kwargs
    )


def test_base_urls_come_from_the_environment_and_never_change_the_mode(monkeypatch):
    monkeypatch.setenv("CMC_ILOSTAT_BULK_URL", "http://127.0.0.1:9/mirror/")
    monkeypatch.setenv("CMC_ILOSTAT_SDMX_URL", "http://127.0.0.1:9/sdmx")
    resource = IlostatResource.from_environment("live")
    client = resource.client()
    assert (client.mode, client.bulk_base_url, client.sdmx_base_url) == (
        "live",
        "http://127.0.0.1:9/mirror",
        "http://127.0.0.1:9/sdmx",
    )
    assert IlostatResource.from_environment("snapshot").client().mode == "snapshot"


def test_real_body_served_at_the_bulk_path_is_parsed_like_the_snapshot(httpserver):
    body = INFORMAL_RATE.read_bytes()
    httpserver.expect_request("/data/indicator/").respond_with_data(body, content_type="text/csv")
    response = live(httpserver).fetch(indicator("EMP_NIFL_SEX_RT"), ["JAM", "DOM"])
    assert response.body == body and response.api == "ilostat_bulk"
    request, _ = httpserver.log[0]
    assert request.args["id"] == "EMP_NIFL_SEX_RT_A" and "ref_area=JAM+DOM&" in request.url
    rows = parse_response(response, indicator("EMP_NIFL_SEX_RT"))
    assert len(rows) == 3559


def test_429_is_retried_then_the_real_body_arrives(httpserver):
    body = INFORMAL_RATE.read_bytes()
    httpserver.expect_ordered_request("/data/indicator/").respond_with_data("slow down", status=429)
    httpserver.expect_ordered_request("/data/indicator/").respond_with_data(body, content_type="text/csv")
    response = live(httpserver).fetch(indicator("EMP_NIFL_SEX_RT"), ["JAM"])
    assert response.body == body
    assert [r.status_code for _, r in httpserver.log] == [429, 200]


def test_500_until_retries_run_out_names_url_and_status_and_keeps_the_partition(
    data_dir, warehouse, httpserver
):
    from cmc_pipeline import settings

    before = ilostat_load.load_ilostat(IlostatClient(mode="snapshot"), warehouse, settings.raw_dir(), ["JAM"])
    assert before.rows_written > 0
    httpserver.expect_request("/data/indicator/").respond_with_data("Internal error", status=500)
    with pytest.raises(SourceHTTPError) as error:
        ilostat_load.load_ilostat(live(httpserver), warehouse, settings.raw_dir(), ["JAM"])
    assert error.value.status == 500
    assert f"{httpserver.url_for('/data/indicator/')}?id=" in str(error.value) and "500" in str(error.value)
    assert len(httpserver.log) == 1 + FAST_RETRIES.retries
    after = warehouse.query("SELECT count(*) AS n FROM staging.ilostat_observations")
    assert int(after["n"].iloc[0]) == before.rows_written


@pytest.mark.parametrize("status", [200, 403])
def test_html_challenge_page_is_never_parsed_as_data(httpserver, status):
    challenge = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    httpserver.expect_request("/data/indicator/").respond_with_data(
        challenge, status=status, content_type="text/html"
    )
    with pytest.raises(SourceError, match=r"HTML|403"):
        live(httpserver).fetch(indicator("EMP_NIFL_SEX_RT"), ["JAM"])


def serve_everything(httpserver, bulk_body: bytes) -> None:
    """Every bulk id answers ``bulk_body``; SDMX has no data for any key (its 404)."""
    httpserver.expect_request("/data/indicator/").respond_with_data(bulk_body, content_type="text/csv")
    httpserver.expect_request(re.compile(r"^/rest/data/ILO,DF_\w+/[A-Z+]+\.A\.+$")).respond_with_data(
        "NoRecordsFound: No data is found for the query", status=404
    )


def test_empty_answer_header_only_is_an_explained_skip(data_dir, warehouse, httpserver):
    from cmc_pipeline import settings

    header_only = INFORMAL_RATE.read_bytes().split(b"\n")[0] + b"\n"
    serve_everything(httpserver, header_only)
    client = live(httpserver)
    only_bulk = [i for i in ilostat_indicators() if i.fetch_order[0] == "bulk"]
    report = ilostat_load.load_ilostat(client, warehouse, settings.raw_dir(), ["MSR"])
    assert report.rows_written == 0
    assert report.countries_without_rows == ["MSR"]
    assert len(report.raw_files) >= len(only_bulk)  # every answer kept, even empty


def test_answer_with_only_non_cmc_areas_is_an_explained_skip_not_a_crash(data_dir, warehouse, httpserver):
    """Live: a bulk answer whose rows are all for areas outside the CMC once crashed the
    load (ArrowTypeError null vs string). It is a normal outcome: nothing for the batch,
    the rows counted as skipped and why."""
    from cmc_pipeline import settings

    elsewhere = [r for r in real_rows(INFORMAL_RATE) if r["ref_area.label"] in ("Afghanistan", "Angola")]
    serve_everything(httpserver, csv_bytes(header_of(INFORMAL_RATE), elsewhere))
    report = ilostat_load.load_ilostat(live(httpserver), warehouse, settings.raw_dir(), ["JAM", "HTI"])
    assert report.rows_written == 0 and not report.blocked
    bulk_answers = sum(1 for i in ilostat_indicators() if i.fetch_order[0] == "bulk")
    assert report.skipped == {"areas outside the CMC": len(elsewhere) * bulk_answers}
    assert sorted(report.countries_without_rows) == ["HTI", "JAM"]


def test_retired_bulk_id_falls_back_to_the_sdmx_generation(httpserver):
    retired = {"error": "deprecated or invalid dataset id=MST_TEAP_SEX_AGE_CBR_NB_A"}
    httpserver.expect_request("/data/indicator/").respond_with_data(
        json.dumps(retired), status=400, content_type="application/json"
    )
    # The SDMX answer replayed is the bundled demonstration recording (no real one exists).
    sdmx_body = (SNAPSHOTS / "DF_EAP_TEAP_SEX_AGE_CBR_NB.csv").read_bytes()
    httpserver.expect_request("/rest/data/ILO,DF_EAP_TEAP_SEX_AGE_CBR_NB/BRB.A....").respond_with_data(
        sdmx_body
    )
    labour_force = indicator("MST_TEAP_SEX_AGE_CBR_NB")
    bulk_first = type(labour_force)(**{**labour_force.__dict__, "fetch_order": ("bulk", "sdmx")})
    response = live(httpserver).fetch(bulk_first, ["BRB"])
    assert response.api == "ilostat_sdmx"
    assert "/ILO,DF_EAP_TEAP_SEX_AGE_CBR_NB/BRB.A....?startPeriod=2000" in response.url
    rows = parse_response(response, labour_force)
    assert set(rows["indicator"]) == {"EAP_TEAP_NB"}  # a CL_MEASURE code, not the bulk id


def test_unknown_indicator_id_in_every_generation_is_a_clear_error(httpserver):
    httpserver.expect_request("/data/indicator/").respond_with_data(
        json.dumps({"error": "deprecated or invalid dataset id=X_A"}), status=400
    )
    only_bulk = type(indicator("EMP_NIFL_SEX_RT"))(
        **{**indicator("EMP_NIFL_SEX_RT").__dict__, "fetch_order": ("bulk",)}
    )
    with pytest.raises(SourceError, match="deprecated or invalid dataset id"):
        live(httpserver).fetch(only_bulk, ["JAM"])


# --- other formats and refusals --------------------------------------------------------------


def test_bulk_code_csv_keeps_published_values_and_line_numbers():
    rows = parse_bulk_csv(BULK_CODE_CSV, origin="test")
    assert list(rows["ref_area"]) == ["JAM", "JAM", "X91"]
    assert rows["obs_value"].tolist()[:2] == ["1362.456", "600.1"]
    assert rows["source_row_number"].tolist() == [2, 3, 4]
    assert set(rows["file_format"]) == {"code"}


def test_sdmx_csv_states_its_multiplier_and_places_breakdowns():
    body = (SNAPSHOTS / "DF_EAP_TEAP_SEX_AGE_CBR_NB.csv").read_bytes()
    response = FetchedResponse(
        source="ilostat",
        api="ilostat_sdmx",
        dataset_id="DF_EAP_TEAP_SEX_AGE_CBR_NB",
        url="u",
        body=body,
        retrieved_at="t",
        demonstration=True,
        suffix=".csv",
    )
    rows = parse_response(response, indicator("MST_TEAP_SEX_AGE_CBR_NB"))
    assert rows.loc[0, "classif1"].startswith("AGE_")
    assert rows.loc[0, "classif2"].startswith("CBR_")
    assert rows.loc[0, "unit_multiplier"] == 3


def test_truncated_real_file_is_refused_with_the_line():
    body = INFORMAL_RATE.read_bytes()
    cut = body[: body.index(b"86.395") + 3]  # inside the first data row
    with pytest.raises(SourceFormatError, match="line 2 has"):
        parse_bulk_csv(cut, origin="test")


def test_a_file_that_is_not_ilostat_says_which_columns_are_missing():
    with pytest.raises(
        SourceFormatError, match=r"not an ILOSTAT CSV: columns \['indicator', 'ref_area', 'time'\]"
    ):
        parse_bulk_csv(b"country,year,value\nJAM,2019,1\n", origin="my.csv")


def test_snapshot_mode_without_recordings_says_how_to_record(tmp_path):
    client = IlostatClient(mode="snapshot", snapshots=SnapshotStore(tmp_path))
    with pytest.raises(SourceError, match="cmc snapshot record"):
        client.fetch(indicator("EMP_NIFL_SEX_RT"), ["JAM"])


def test_staging_frame_matches_contract_columns():
    from cmc_pipeline.lib.contracts import contract_for

    rows = parse_bulk_csv(INFORMAL_RATE.read_bytes(), origin="t")
    staged = set(rows.columns) | {
        "country_iso3",
        "dataset_id",
        "api_generation",
        "raw_sha256",
        "demonstration_data",
        "loaded_at",
    }
    assert staged == set(contract_for("staging.ilostat_observations").column_names)
    assert isinstance(rows, pd.DataFrame)
