"""IOM DTM API v3: keyed, restricted. Bodies below are written for these tests in the
documented envelope; no real DTM data is in the repository."""

from __future__ import annotations

import json
import logging

import dagster as dg
import pytest
import responses

from cmc_pipeline import settings
from cmc_pipeline.defs.resources import DtmResource, RawStoreResource, WarehouseResource
from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.http import HttpSettings, SourceError
from cmc_pipeline.sources.dtm import client as dtm
from cmc_pipeline.sources.dtm import load as dtm_load
from cmc_pipeline.sources.dtm.assets import displacement, dtm_displacement

BASE = "https://dtm.test/v3"
SECRET = "k3y-that-must-never-be-printed-0123456789"


def envelope(records, *, success=True, errors=(), status=200) -> str:
    return json.dumps(
        {
            "result": records,
            "statusCode": status,
            "isSuccess": success,
            "errorMessages": list(errors),
            "totalRecordsCount": len(records),
        }
    )


def record(iso3: str, operation: str, date: str, round_number: int, idps: int, males=None, females=None):
    return {
        "id": 1,
        "admin0Name": iso3,
        "admin0Pcode": iso3,
        "operation": operation,
        "reportingDate": f"{date}T00:00:00",
        "roundNumber": round_number,
        "numPresentIdpInd": idps,
        "numberMales": males,
        "numberFemales": females,
        "displacementReason": "Disaster",
        "assessmentType": "BA",
    }


def serve(iso3: str, body: str, status: int = 200) -> None:
    responses.add(responses.GET, f"{BASE}/displacement/admin0?Admin0Pcode={iso3}", body=body, status=status)


def client() -> dtm.DtmClient:
    return dtm.DtmClient(SECRET, base_url=BASE, http_settings=HttpSettings(retries=0))


@responses.activate
def test_figures_are_staged_and_harmonised_as_restricted_rows(warehouse, data_dir):
    serve("BHS", envelope([record("BHS", "Hurricane Dorian", "2019-09-20", 1, 1200, 650, 550)]))
    serve("HTI", envelope([record("HTI", "Haiti IDP", "2024-06-01", 7, 578000)]))
    serve("JAM", envelope([]))

    report = dtm_load.load_dtm(client(), warehouse, data_dir / "raw", ["BHS", "HTI", "JAM"])
    dtm_load.build_displacement(warehouse)

    assert report.countries == ["BHS", "HTI"] and report.countries_without_rows == ["JAM"]
    assert responses.calls[0].request.headers[dtm.KEY_HEADER] == SECRET
    staged = warehouse.query("SELECT DISTINCT dissemination_level FROM staging.dtm_displacement")
    assert staged["dissemination_level"].tolist() == ["restricted"]
    rows = warehouse.query(
        "SELECT country_iso3, sex, idps, dissemination_level FROM core.displacement "
        "ORDER BY country_iso3, sex"
    )
    assert rows.values.tolist() == [
        ["BHS", "SEX_F", 550.0, "restricted"],
        ["BHS", "SEX_M", 650.0, "restricted"],
        ["BHS", "SEX_T", 1200.0, "restricted"],
        ["HTI", "SEX_T", 578000.0, "restricted"],  # no sex split published: no M/F rows
    ]


@responses.activate
def test_is_success_false_is_an_error_quoting_the_api_messages(warehouse, data_dir):
    serve(
        "HTI", envelope([], success=False, errors=["Invalid Admin0Pcode", "No operation found"], status=400)
    )
    with pytest.raises(SourceError) as error:
        dtm_load.load_dtm(client(), warehouse, data_dir / "raw", ["HTI"])
    message = str(error.value)
    assert "isSuccess=false" in message and "Invalid Admin0Pcode; No operation found" in message
    assert not warehouse.table_exists("staging.dtm_displacement")


@responses.activate
def test_a_refused_key_is_explained_without_ever_showing_the_key(warehouse, data_dir, caplog):
    body = json.dumps(
        {"statusCode": 401, "message": f"Access denied due to invalid subscription key {SECRET}."}
    )  # even if the API echoed the key back, it must not reach the user
    serve("HTI", body, status=401)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(dtm.DtmKeyError) as error:
        dtm_load.load_dtm(client(), warehouse, data_dir / "raw", ["HTI"])

    message = str(error.value)
    assert "HTTP 401" in message and "DTM_API_KEY" in message and "<hidden>" in message
    assert SECRET not in message
    assert SECRET not in caplog.text
    assert SECRET not in repr(client())
    assert not warehouse.table_exists("staging.dtm_displacement")


def _materialize(data_dir, resource: DtmResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dtm_displacement, displacement],
        resources={
            "dtm": resource,
            "warehouse": WarehouseResource(url=settings.warehouse_url()),
            "raw_store": RawStoreResource(root=str(data_dir / "raw")),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_without_a_key_the_assets_are_skipped_with_the_reason(data_dir):
    result = _materialize(data_dir, DtmResource(mode="live", api_key=None))

    assert result.success
    assert result.get_asset_materialization_events() == []
    observations = [
        e.asset_observation_data.asset_observation for e in result.all_events if e.is_asset_observation
    ]
    assert len(observations) == 1
    reason = observations[0].metadata["skipped"].value
    assert "DTM_API_KEY is not set" in reason
    assert any(e.is_step_skipped and "displacement" in e.step_key for e in result.all_events)


def test_in_snapshot_mode_nothing_is_fetched_or_faked(data_dir):
    result = _materialize(data_dir, DtmResource(mode="snapshot", api_key=SECRET))
    assert result.success and result.get_asset_materialization_events() == []
    reason = next(e for e in result.all_events if e.is_asset_observation).asset_observation_data
    assert "never bundled" in reason.asset_observation.metadata["skipped"].value


@responses.activate
def test_with_a_key_the_assets_materialise_and_no_event_mentions_the_key(data_dir, monkeypatch):
    from cmc_pipeline.lib.reference import cmc_iso3_codes

    for iso3 in cmc_iso3_codes():
        records = (
            [record("DMA", "Hurricane Maria", "2017-10-15", 1, 3000, 1400, 1600)] if iso3 == "DMA" else []
        )
        serve(iso3, envelope(records))
    monkeypatch.setenv("DTM_API_KEY", SECRET)

    result = _materialize(data_dir, DtmResource(mode="live", api_key=dg.EnvVar("DTM_API_KEY"), base_url=BASE))

    assert result.success
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {"staging/dtm_displacement", "core/displacement"}
    metadata = result.asset_materializations_for_node("core__displacement")[0].metadata
    assert metadata["dissemination_level"].value == "restricted"
    for event in result.all_events:
        assert SECRET not in str(event)


@responses.activate
def test_displacement_mart_is_readable_but_never_exported(warehouse, data_dir):
    from cmc_pipeline.lib import marts
    from cmc_pipeline.lib.exports import export_marts

    serve("HTI", envelope([record("HTI", "Haiti IDP", "2024-06-01", 7, 578000)]))
    dtm_load.load_dtm(client(), warehouse, data_dir / "raw", ["HTI"])
    dtm_load.build_displacement(warehouse)
    core_tables.build_dim_country(warehouse)
    assert marts.build_displacement(warehouse).rows_written == 1
    marked = warehouse.query("SELECT dissemination_level, licence FROM marts.displacement").iloc[0]
    assert marked.dissemination_level == "restricted" and "no redistribution" in marked.licence

    for audience in ("public", "members"):
        result = export_marts(warehouse, data_dir / audience, audience=audience, formats=("csv",))
        assert "marts.displacement" not in {f["table"] for f in result.files}
        assert {"table": "marts.displacement", "reason": "dissemination level restricted"} in result.skipped
        assert not list((data_dir / audience).glob("*displacement*"))
