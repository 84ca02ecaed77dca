"""IOM Missing Migrants Project: Caribbean incidents from the yearly JSON into the warehouse."""

from __future__ import annotations

import json

import pytest
import responses

from cmc_pipeline.lib.http import HttpSettings, SourceFormatError
from cmc_pipeline.sources.missing_migrants import client as missing_migrants
from cmc_pipeline.sources.missing_migrants import load as missing_migrants_load
from cmc_pipeline.steps.facts import HarmonisationError

BASE = "https://mmp.test/global-figures"


def incident(incident_id: str, **fields: str) -> dict[str, str]:
    """A record as the project publishes it: flat, every value a string."""
    record = {
        "Incident ID": incident_id,
        "Region of Incident": "Caribbean",
        "Incident Date": "2021-03-05",
        "Incident Year": incident_id[:4],
        "Number of Dead": "2",
        "Minimum Estimated Number of Missing": "3",
        "Total Number of Dead and Missing": "5",
        "Number of Survivors": "10",
        "Country of Origin": "Haiti",
        "Cause of Death": "Drowning",
        "Country of Incident": "Bahamas",
        "Migration Route": "Caribbean to US",
        "Location of Incident": "Off Bimini",
        "Coordinates": "25.7, -79.3",
        "Source Quality": "3",
    }
    record.update(fields)
    return record


def live_client() -> missing_migrants.MissingMigrantsClient:
    return missing_migrants.MissingMigrantsClient(
        mode="live", first_year=2021, last_year=2022, base_url=BASE, http_settings=HttpSettings(retries=0)
    )


def serve(year: int, records) -> None:
    responses.add(responses.GET, f"{BASE}/{year}/json", body=json.dumps(records), status=200)


@responses.activate
def test_caribbean_incidents_are_staged_and_other_regions_left_out(warehouse, data_dir):
    serve(2021, [incident("2021.1"), incident("2021.2", **{"Region of Incident": "Mediterranean"})])
    serve(2022, [incident("2022.1", **{"Country of Incident": "", "Migration Route": ""})])

    report = missing_migrants_load.load_missing_migrants(live_client(), warehouse, data_dir / "raw")
    incidents = missing_migrants_load.build_migrant_incidents(warehouse)

    assert report.rows_written == 2
    assert report.skipped == {"incidents outside the Caribbean region": 1}
    rows = warehouse.query("SELECT * FROM core.migrant_incident ORDER BY incident_id")
    assert rows["incident_id"].tolist() == ["2021.1", "2022.1"]
    assert rows["country_iso3"].tolist()[0] == "BHS" and rows["country_iso3"].isna().tolist()[1]
    assert rows["route_code"].tolist() == ["MMP_RTE_CARIBBEAN_US", "MMP_RTE_NOT_STATED"]
    assert rows["dead_and_missing"].tolist() == [5, 5]
    assert incidents.skipped == {"incidents at sea or outside the CMC countries (kept, no country facts)": 1}


@responses.activate
def test_a_year_with_an_empty_list_loads_and_is_named_in_the_report(warehouse, data_dir):
    serve(2021, [incident("2021.1")])
    serve(2022, [])

    report = missing_migrants_load.load_missing_migrants(live_client(), warehouse, data_dir / "raw")

    assert report.rows_written == 1
    assert report.skipped == {"years with an empty incident list (2022)": 1}
    assert [f["dataset"] for f in report.raw_files] == ["2021", "2022"]  # both answers kept raw


@responses.activate
def test_a_record_missing_a_field_is_refused_naming_year_record_incident_and_field(warehouse, data_dir):
    serve(2021, [incident("2021.1")])
    missing_migrants_load.load_missing_migrants(
        missing_migrants.MissingMigrantsClient(mode="live", first_year=2021, last_year=2021, base_url=BASE),
        warehouse,
        data_dir / "raw",
    )
    responses.reset()
    broken = incident("2022.7")
    del broken["Cause of Death"]
    serve(2021, [incident("2021.1", **{"Total Number of Dead and Missing": "9"})])
    serve(2022, [incident("2022.1"), broken])

    with pytest.raises(SourceFormatError) as error:
        missing_migrants_load.load_missing_migrants(live_client(), warehouse, data_dir / "raw")

    message = str(error.value)
    assert f"{BASE}/2022/json" in message and "record 2" in message and "incident 2022.7" in message
    assert "'Cause of Death'" in message
    # Nothing was written: the first load's rows are still there, unchanged.
    kept = warehouse.query(
        "SELECT incident_id, total_dead_and_missing FROM staging.missing_migrants_incidents"
    )
    assert kept.values.tolist() == [["2021.1", 5.0]]


@responses.activate
def test_a_field_that_is_not_a_number_is_named():
    serve(2021, [incident("2021.1", **{"Number of Dead": "two"})])
    client = missing_migrants.MissingMigrantsClient(
        mode="live", first_year=2021, last_year=2021, base_url=BASE
    )
    with pytest.raises(SourceFormatError, match=r"incident 2021\.1\), field 'Number of Dead': 'two'"):
        missing_migrants.parse_year(client.fetch_year(2021))


@responses.activate
def test_older_field_names_are_read_too():
    older = {
        "Web ID": "51234",
        "Region": "Caribbean",
        "Reported Date": "Tue, 05/14/2019 - 12:00",
        "Reported Year": "2019",
        "Number Dead": "1",
        "Minimum Estimated Number of Missing": "",
        "Total Dead and Missing": "1",
        "Cause of Death": "Drowning",
        "Country of Incident": "Turks and Caicos Islands",
        "Migration Route": "",
    }
    serve(2019, [older])
    client = missing_migrants.MissingMigrantsClient(
        mode="live", first_year=2019, last_year=2019, base_url=BASE
    )
    rows, _ = missing_migrants.parse_year(client.fetch_year(2019))
    assert rows[["incident_id", "incident_year", "total_dead_and_missing"]].values.tolist() == [
        ["51234", "2019", 1.0]
    ]


@responses.activate
def test_an_unknown_cause_stops_the_core_table_and_names_the_value(warehouse, data_dir):
    serve(2021, [incident("2021.1"), incident("2021.2", **{"Cause of Death": "Shark attack"})])
    serve(2022, [])
    missing_migrants_load.load_missing_migrants(live_client(), warehouse, data_dir / "raw")

    with pytest.raises(HarmonisationError) as error:
        missing_migrants_load.build_migrant_incidents(warehouse)
    assert "'Shark attack' in 1 row(s), first at line 2 of 2021" in str(error.value)
    assert not warehouse.table_exists("core.migrant_incident")


@responses.activate
def test_an_html_page_instead_of_json_is_a_clear_error():
    responses.add(responses.GET, f"{BASE}/2021/json", body="<!DOCTYPE html><html>Blocked</html>", status=200)
    client = missing_migrants.MissingMigrantsClient(
        mode="live", first_year=2021, last_year=2021, base_url=BASE
    )
    with pytest.raises(SourceFormatError, match="got an HTML page instead of JSON"):
        missing_migrants.parse_year(client.fetch_year(2021))


def test_the_bundled_years_are_read_in_snapshot_mode():
    responses_by_year = missing_migrants.MissingMigrantsClient().fetch_all()
    assert [r.dataset_id for r in responses_by_year] == [str(y) for y in range(2019, 2025)]
    assert all(r.demonstration for r in responses_by_year)
    rows, elsewhere = missing_migrants.parse_year(responses_by_year[0])
    assert len(rows) > 0 and elsewhere == 3
    assert set(rows["region"]) == {"Caribbean"}
