"""World Bank client against recorded bodies served by `responses`: the live
code path, its retries, and every way an upstream answer can be wrong."""

from __future__ import annotations

import json
import re

import pytest
import responses

from cmc_pipeline.lib import core_tables, http
from cmc_pipeline.lib.http import SourceError, SourceFormatError
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.worldbank import client as worldbank_client
from cmc_pipeline.sources.worldbank import load as worldbank_load
from cmc_pipeline.sources.worldbank.client import WorldBankClient
from cmc_pipeline.sources.worldbank.client import parse_bulk_csv as parse_wdi_bulk

FAST_RETRIES = http.HttpSettings(retries=3, backoff_factor=0)
WB = re.compile(r"https://api\.worldbank\.org/v2/country/.*")


# --- World Bank -------------------------------------------------------------------------


def wb_page(page: int, pages: int, rows: list[dict]) -> str:
    meta = {
        "page": page,
        "pages": pages,
        "per_page": 500,
        "total": 3,
        "sourceid": "2",
        "lastupdated": "2024-01-01",
    }
    return json.dumps([meta, rows])


def wb_row(iso3: str, iso2: str, date: str, value) -> dict:
    return {
        "indicator": {"id": "SP.POP.TOTL", "value": "Population, total"},
        "country": {"id": iso2, "value": "Jamaica"},
        "countryiso3code": iso3,
        "date": date,
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 0,
    }


@responses.activate
def test_worldbank_pages_until_the_last_page():
    responses.add(responses.GET, WB, body=wb_page(1, 2, [wb_row("JAM", "JM", "2020", 2_800_000)]))
    responses.add(responses.GET, WB, body=wb_page(2, 2, [wb_row("JAM", "JM", "2019", None)]))
    client = WorldBankClient(mode="live", http_settings=FAST_RETRIES)
    pages = client.fetch("SP.POP.TOTL", ["JAM", "TTO"])
    assert [p.page for p in pages] == [1, 2]
    assert "country/JAM;TTO/indicator/SP.POP.TOTL" in pages[0].url and pages[1].url.endswith("page=2")
    rows = worldbank_client.parse_api_pages(pages)
    assert rows["value"].isna().tolist() == [False, True]


@responses.activate
def test_worldbank_error_message_with_status_200_is_an_error():
    error = [
        {
            "message": [
                {"id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"}
            ]
        }
    ]
    responses.add(responses.GET, WB, status=200, json=error)
    with pytest.raises(SourceError, match="120 Invalid value"):
        WorldBankClient(mode="live", http_settings=FAST_RETRIES).fetch("NOT.AN.ID", ["JAM"])


def test_real_wdi_bulk_download_imports_caribbean_values(data_dir, warehouse):
    from cmc_pipeline import settings

    bulk = next((SOURCES_DIR / "worldbank" / "snapshots" / "bulk_2022").glob("API_BX.TRF.PWKR.DT.GD.ZS*.csv"))
    core_tables.build_dim_country(warehouse)
    core_tables.build_dim_indicator(warehouse)
    report = worldbank_load.import_worldbank_file(bulk, warehouse, settings.raw_dir(), uploader="test")
    assert "regional aggregates" in report.skipped  # CSS, LCN … are not countries
    assert "BHS" not in report.countries  # the Bahamas has no values in this vintage
    core_tables.build_fact_observations(warehouse, report.countries)
    haiti = warehouse.query(
        "SELECT value FROM core.fact_observation WHERE country_iso3 = 'HTI' AND period = '2020' "
        "AND indicator_id = 'BX.TRF.PWKR.DT.GD.ZS'"
    )
    assert haiti["value"].iloc[0] > 20  # Haiti's remittances exceed a fifth of GDP


def test_wdi_bulk_parser_refuses_other_files():
    with pytest.raises(SourceFormatError, match="not a World Bank bulk CSV"):
        parse_wdi_bulk(b"a,b\n1,2\n", origin="x.csv")


def test_snapshot_mode_needs_no_network_and_reports_missing_recordings(tmp_path):
    client = WorldBankClient(mode="snapshot", snapshots=SnapshotStore(tmp_path))
    with pytest.raises(SourceError, match="cmc snapshot record"):
        client.fetch("SP.POP.TOTL", ["JAM"])
