"""ILOSTAT clients against recorded bodies served by `responses`: the live
code path, its retries, and every way an upstream answer can be wrong."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import responses

from cmc_pipeline.lib import core_tables, http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.sources.ilostat import client as ilostat_client
from cmc_pipeline.sources.ilostat import load as ilostat_load
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.ilostat.client import IlostatClient, parse_bulk_csv

FAST_RETRIES = http.HttpSettings(retries=3, backoff_factor=0)
BULK = re.compile(r"https://rplumber\.ilo\.org/data/indicator/.*")
SDMX = re.compile(r"https://sdmx\.ilo\.org/rest/data/.*")

BULK_CSV = (
    '\ufeff"ref_area","source","indicator","sex","classif1","time","obs_value","obs_status",'
    '"note_classif","note_indicator","note_source"\n'
    '"JAM","BA:453","EAP_TEAP_SEX_AGE_NB","SEX_T","AGE_YTHADULT_YGE15","2019",1362.456,"","","","R1:3513"\n'
    '"JAM","BA:453","EAP_TEAP_SEX_AGE_NB","SEX_F","AGE_YTHADULT_YGE15","2019Q2",600.1,"P","","",""\n'
    '"X91","ILO","EAP_TEAP_SEX_AGE_NB","SEX_T","AGE_YTHADULT_YGE15","2019",9000,"","","",""\n'
).encode()
SDMX_HEADER = (
    "DATAFLOW,REF_AREA,FREQ,MEASURE,SEX,AGE,CBR,TIME_PERIOD,OBS_VALUE,OBS_STATUS,UNIT_MEASURE_TYPE,"
    "UNIT_MEASURE,UNIT_MULT,SOURCE,NOTE_SOURCE,NOTE_INDICATOR,NOTE_CLASSIF,DECIMALS,UPPER_BOUND,LOWER_BOUND\n"
)
SDMX_ROW = (
    "ILO:DF_EAP_TEAP_SEX_AGE_CBR_NB(1.0),BRB,A,MST_TEAP_SEX_AGE_CBR_NB,SEX_T,AGE_YTHADULT_YGE15,"
    "CBR_BIR_FOREIGN,2010,15.2,,NB,PS,3,Population census,,,,3,,\n"
)


def indicator(indicator_id: str):
    return next(i for i in ilostat_indicators() if i.indicator_id == indicator_id)


def live_ilostat(**kwargs) -> IlostatClient:
    return IlostatClient(mode="live", http_settings=FAST_RETRIES, **kwargs)


# --- parsing ----------------------------------------------------------------------------


def test_bulk_code_csv_keeps_published_values_and_line_numbers():
    rows = parse_bulk_csv(BULK_CSV, origin="test")
    assert list(rows["ref_area"]) == ["JAM", "JAM", "X91"]
    # values stay as published text until the contract has checked them
    assert rows["obs_value"].tolist()[:2] == ["1362.456", "600.1"]
    assert rows["source_row_number"].tolist() == [2, 3, 4]
    assert set(rows["file_format"]) == {"code"}


def test_label_download_is_harmonised_to_the_same_codes_as_the_code_download(data_dir):
    label_csv = (
        '\ufeff"ref_area.label","source.label","indicator.label","sex.label","classif1.label","time",'
        '"obs_value","obs_status.label","note_indicator.label","note_source.label"\n'
        '"St. Lucia","LFS","Labour force by sex and age (thousands)","Sex: Female",'
        '"Age (Youth, adults): 15+","2021",45.5,"Provisional","",""\n'
    ).encode()
    path = data_dir / "ilostat_labels.csv"
    path.write_bytes(label_csv)
    from cmc_pipeline import settings
    from cmc_pipeline.lib.warehouse import Warehouse

    warehouse = Warehouse(settings.warehouse_url())
    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    report = ilostat_load.import_ilostat_file(path, warehouse, settings.raw_dir(), uploader="test")
    assert report.countries == ["LCA"]
    facts = core_tables.build_fact_observations(warehouse, ["LCA"])
    assert facts.rows_written == 1
    row = warehouse.query("SELECT * FROM core.fact_observation").iloc[0]
    assert (row.country_iso3, row.indicator_id, row.sex, row.age, row.period, row.obs_status) == (
        "LCA",
        "EAP_TEAP_SEX_AGE_NB",
        "SEX_F",
        "AGE_YTHADULT_YGE15",
        "2021",
        "P",
    )
    assert row.unit_multiplier == 3  # the bulk form does not say; the catalogue does


def test_sdmx_csv_states_its_multiplier_and_places_breakdowns():
    response = ilostat_client.FetchedResponse(
        source="ilostat",
        api="ilostat_sdmx",
        dataset_id="DF_EAP_TEAP_SEX_AGE_CBR_NB",
        url="u",
        body=(SDMX_HEADER + SDMX_ROW).encode(),
        retrieved_at="t",
        demonstration=False,
        suffix=".csv",
    )
    rows = ilostat_client.parse_response(response, indicator("MST_TEAP_SEX_AGE_CBR_NB"))
    assert rows.loc[0, "classif1"] == "AGE_YTHADULT_YGE15"
    assert rows.loc[0, "classif2"] == "CBR_BIR_FOREIGN"
    assert rows.loc[0, "unit_multiplier"] == 3


def test_truncated_csv_is_refused_with_the_line():
    truncated = BULK_CSV[: BULK_CSV.index(b"1362.456") + 4]  # cut inside a row
    with pytest.raises(SourceFormatError, match="line 2 has 7 fields"):
        parse_bulk_csv(truncated, origin="test")


def test_cut_inside_a_quoted_field_is_refused_as_truncated():
    with pytest.raises(SourceFormatError, match="truncated"):
        parse_bulk_csv(BULK_CSV[: BULK_CSV.index(b"R1:35")], origin="test")


def test_a_file_that_is_not_ilostat_says_which_columns_are_missing():
    with pytest.raises(
        SourceFormatError, match=r"not an ILOSTAT CSV: columns \['indicator', 'ref_area', 'time'\]"
    ):
        parse_bulk_csv(b"country,year,value\nJAM,2019,1\n", origin="my.csv")


def test_ilostat_file_with_a_code_outside_the_code_lists_changes_nothing(data_dir, warehouse):
    from cmc_pipeline import settings

    bad = BULK_CSV.replace(b'"SEX_F"', b'"SEX_X"')
    path = data_dir / "bad.csv"
    path.write_bytes(bad)
    report = ilostat_load.import_ilostat_file(path, warehouse, settings.raw_dir(), uploader="test")
    assert report.blocked == ["JAM"] and report.rows_written == 0
    message = "\n".join(report.validation.report_lines())
    assert "'sex'" in message and "'SEX_X'" in message and "line 3" in message
    assert warehouse.query("SELECT count(*) AS n FROM staging.ilostat_observations")["n"].iloc[0] == 0


# --- live ILOSTAT faults ----------------------------------------------------------------


@responses.activate
def test_429_is_retried_then_succeeds():
    responses.add(responses.GET, BULK, status=429, body="slow down")
    responses.add(responses.GET, BULK, status=200, body=BULK_CSV, content_type="text/csv")
    response = live_ilostat().fetch(indicator("EAP_TEAP_SEX_AGE_NB"), ["JAM"])
    assert response.body == BULK_CSV
    assert len(responses.calls) == 2
    assert "ref_area=JAM&" in responses.calls[0].request.url  # literal '+' joins, never %2B


@responses.activate
def test_500_until_retries_run_out_names_url_and_status():
    responses.add(responses.GET, BULK, status=500, body="Internal error")
    with pytest.raises(SourceHTTPError) as error:
        live_ilostat().fetch(indicator("EAP_TEAP_SEX_AGE_NB"), ["JAM", "BRB"])
    assert error.value.status == 500
    assert "rplumber.ilo.org/data/indicator/?id=EAP_TEAP_SEX_AGE_NB_A&ref_area=JAM+BRB" in str(error.value)
    assert len(responses.calls) == 1 + FAST_RETRIES.retries


@responses.activate
def test_cdn_challenge_page_is_never_parsed_as_data():
    challenge = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    responses.add(responses.GET, BULK, status=200, body=challenge, content_type="text/html")
    with pytest.raises(SourceFormatError, match="HTML page instead of CSV"):
        live_ilostat().fetch(indicator("EAP_TEAP_SEX_AGE_NB"), ["JAM"])


@responses.activate
def test_retired_bulk_id_falls_back_to_the_sdmx_generation():
    responses.add(
        responses.GET,
        BULK,
        status=400,
        json={"error": "deprecated or invalid dataset id=MST_TEAP_SEX_AGE_CBR_NB_A"},
    )
    responses.add(responses.GET, SDMX, status=200, body=SDMX_HEADER + SDMX_ROW)
    retired_first = indicator("MST_TEAP_SEX_AGE_CBR_NB")
    bulk_first = type(retired_first)(**{**retired_first.__dict__, "fetch_order": ("bulk", "sdmx")})
    response = live_ilostat().fetch(bulk_first, ["BRB"])
    assert response.api == "ilostat_sdmx"
    assert "/ILO,DF_EAP_TEAP_SEX_AGE_CBR_NB/BRB.A....?startPeriod=2000" in response.url


@responses.activate
def test_unknown_indicator_id_in_every_generation_is_a_clear_error():
    responses.add(responses.GET, BULK, status=400, json={"error": "deprecated or invalid dataset id=X_A"})
    only_bulk = type(indicator("EAP_TEAP_SEX_AGE_NB"))(
        **{**indicator("EAP_TEAP_SEX_AGE_NB").__dict__, "fetch_order": ("bulk",)}
    )
    with pytest.raises(SourceError, match="deprecated or invalid dataset id"):
        live_ilostat().fetch(only_bulk, ["JAM"])


@responses.activate
def test_empty_result_is_an_explained_skip_not_an_error(data_dir, warehouse):
    from cmc_pipeline import settings

    header_only = BULK_CSV.split(b"\n")[0] + b"\n"
    responses.add(responses.GET, BULK, status=200, body=header_only)
    responses.add(responses.GET, SDMX, status=404, body="No data is found for the query")
    report = ilostat_load.load_ilostat(live_ilostat(), warehouse, settings.raw_dir(), ["MSR"])
    assert report.rows_written == 0
    assert report.countries_without_rows == ["MSR"]
    assert len(report.raw_files) == len(ilostat_indicators())  # every answer kept, even empty


@responses.activate
def test_a_failing_indicator_leaves_the_partition_as_it_was(data_dir, warehouse):
    from cmc_pipeline import settings

    before = ilostat_load.load_ilostat(IlostatClient(mode="snapshot"), warehouse, settings.raw_dir(), ["JAM"])
    assert before.rows_written > 0
    responses.add(responses.GET, BULK, status=200, body=BULK_CSV)
    responses.add(responses.GET, SDMX, status=500, body="ORA-00942: table or view does not exist")
    with pytest.raises(SourceHTTPError, match="HTTP 500"):
        ilostat_load.load_ilostat(live_ilostat(), warehouse, settings.raw_dir(), ["JAM"])
    after = warehouse.query("SELECT count(*) AS n FROM staging.ilostat_observations")
    assert int(after["n"].iloc[0]) == before.rows_written


def test_staging_frame_matches_contract_columns():
    from cmc_pipeline.lib.contracts import contract_for

    rows = parse_bulk_csv(BULK_CSV, origin="t")
    staged_columns = set(rows.columns) | {
        "country_iso3",
        "dataset_id",
        "api_generation",
        "raw_sha256",
        "demonstration_data",
        "loaded_at",
    }
    assert staged_columns == set(contract_for("staging.ilostat_observations").column_names)
    assert isinstance(rows, pd.DataFrame)
