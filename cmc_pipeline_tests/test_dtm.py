"""IOM DTM API v3: keyed, restricted, served here by a local HTTP server.

The DTM licence forbids redistribution, so no real DTM answer is in the repository: every
body below is MADE UP for these tests, in the v3 envelope and with the record fields the
API sends (``admin0Pcode``, ``operation``, ``reportingDate``, ``roundNumber``,
``numPresentIdpInd``, ``numberMales``, ``numberFemales``, ``displacementReason``,
``idpOriginAdmin1Name``, ``idpOriginAdmin1Pcode``, ``assessmentType`` …). The figures are
invented; they are not DTM data."""

from __future__ import annotations

import json
import logging

import dagster as dg
import pytest

from cmc_pipeline import settings
from cmc_pipeline.defs.resources import DtmResource, RawStoreResource, WarehouseResource
from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.http import HttpSettings, SourceError, SourceFormatError
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.sources.dtm import client as dtm
from cmc_pipeline.sources.dtm import load as dtm_load
from cmc_pipeline.sources.dtm.assets import displacement, dtm_displacement
from cmc_pipeline.steps.facts import HarmonisationError

SECRET = "k3y-that-must-never-be-printed-0123456789"


def made_up_envelope(records, *, success=True, errors=(), status=200) -> str:
    """A MADE-UP answer in the DTM v3 envelope."""
    return json.dumps(
        {
            "result": records,
            "statusCode": status,
            "isSuccess": success,
            "errorMessages": list(errors),
            "totalRecordsCount": len(records),
        }
    )


def made_up_record(
    iso3: str,
    operation: str,
    date: str,
    round_number: int,
    idps: int,
    males=None,
    females=None,
    *,
    origin: tuple[str, str] | None = None,
    reason: str = "Disaster",
):
    """A MADE-UP country-level record with the fields of a real v3 admin 0 record."""
    return {
        "id": 1,
        "admin0Name": iso3,
        "admin0Pcode": iso3,
        "adminLevel": 0,
        "operation": operation,
        "reportingDate": f"{date}T00:00:00",
        "yearReportingDate": int(date[:4]),
        "monthReportingDate": int(date[5:7]),
        "roundNumber": round_number,
        "numPresentIdpInd": idps,
        "numberMales": males,
        "numberFemales": females,
        "displacementReason": reason,
        "idpOriginAdmin1Name": origin[0] if origin else None,
        "idpOriginAdmin1Pcode": origin[1] if origin else None,
        "assessmentType": "BA",
        "operationStatus": "Active",
    }


def made_up_country_list(*codes: str) -> str:
    return made_up_envelope([{"admin0Name": code, "admin0Pcode": code} for code in codes])


def made_up_operation_list(*pairs: tuple[str, str]) -> str:
    return made_up_envelope(
        [
            {"admin0Name": code, "admin0Pcode": code, "operation": name, "operationStatus": "Active"}
            for code, name in pairs
        ]
    )


def serve_lists(httpserver, countries=(), operations=()) -> None:
    httpserver.expect_request("/v3/displacement/country-list").respond_with_data(
        made_up_country_list(*countries), content_type="application/json"
    )
    httpserver.expect_request("/v3/displacement/operation-list").respond_with_data(
        made_up_operation_list(*operations), content_type="application/json"
    )


def serve_admin0(httpserver, iso3: str, body: str, status: int = 200) -> None:
    httpserver.expect_request(
        "/v3/displacement/admin0", query_string={"Admin0Pcode": iso3}
    ).respond_with_data(body, status=status, content_type="application/json")


def client(httpserver, **settings_) -> dtm.DtmClient:
    http_settings = HttpSettings(**{"retries": 0, "backoff_factor": 0, **settings_})
    return dtm.DtmClient(SECRET, base_url=httpserver.url_for("/v3"), http_settings=http_settings)


def admin0_requests(httpserver) -> list[str]:
    return [r.args["Admin0Pcode"] for r, _ in httpserver.log if r.path == "/v3/displacement/admin0"]


def test_only_countries_in_the_dtm_lists_are_asked_for_and_the_others_are_named(
    httpserver, warehouse, data_dir
):
    serve_lists(
        httpserver, countries=["HTI", "BHS", "SDN"], operations=[("HTI", "Haiti IDP"), ("DMA", "Maria")]
    )
    serve_admin0(
        httpserver,
        "BHS",
        made_up_envelope([made_up_record("BHS", "Hurricane Dorian", "2019-09-20", 1, 1200, 650, 550)]),
    )
    serve_admin0(
        httpserver, "HTI", made_up_envelope([made_up_record("HTI", "Haiti IDP", "2024-06-01", 7, 578000)])
    )
    serve_admin0(httpserver, "DMA", made_up_envelope([]))

    report = dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", cmc_iso3_codes())
    dtm_load.build_displacement(warehouse)

    assert sorted(admin0_requests(httpserver)) == ["BHS", "DMA", "HTI"]  # not the other CMC countries
    assert report.countries == ["BHS", "HTI"] and report.countries_without_rows == ["DMA"]
    (reason, count), *_ = report.skipped.items()
    others = [c for c in cmc_iso3_codes() if c not in ("BHS", "DMA", "HTI")]
    assert reason.startswith("CMC countries DTM publishes no figures for") and count == len(others)
    assert ", ".join(others) in reason
    assert all(request.headers[dtm.KEY_HEADER] == SECRET for request, _ in httpserver.log)
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


def test_records_split_by_department_of_origin_are_kept_not_refused_as_duplicates(
    httpserver, warehouse, data_dir
):
    same = ("HTI", "Haiti IDP", "2024-06-01", 7)
    serve_lists(httpserver, countries=["HTI"])
    serve_admin0(
        httpserver,
        "HTI",
        made_up_envelope(
            [
                made_up_record(*same, 310000, reason="Conflict", origin=("Ouest", "HT01")),
                made_up_record(*same, 120000, reason="Conflict", origin=("Artibonite", "HT05")),
                made_up_record(*same, 4000, reason="Conflict", origin=("Centre", "HT06")),
                made_up_record(*same, 900, reason="Disaster"),  # no split published
            ]
        ),
    )

    dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])
    dtm_load.build_displacement(warehouse)

    rows = warehouse.query(
        "SELECT displacement_reason, idp_origin_admin1_pcode, "
        "coalesce(idp_origin_admin1_name, '') AS name, idps "
        "FROM core.displacement ORDER BY displacement_reason, idp_origin_admin1_pcode"
    )
    assert rows.values.tolist() == [
        ["Conflict", "HT01", "Ouest", 310000.0],
        ["Conflict", "HT05", "Artibonite", 120000.0],
        ["Conflict", "HT06", "Centre", 4000.0],
        ["Disaster", "not stated", "", 900.0],
    ]
    staged = warehouse.query("SELECT idp_origin_admin1_pcode FROM staging.dtm_displacement ORDER BY 1")
    assert staged["idp_origin_admin1_pcode"].tolist()[:3] == ["HT01", "HT05", "HT06"]


def test_a_record_repeated_with_the_same_origin_is_still_refused(httpserver, warehouse, data_dir):
    record = made_up_record("HTI", "Haiti IDP", "2024-06-01", 7, 10, origin=("Ouest", "HT01"))
    serve_lists(httpserver, countries=["HTI"])
    serve_admin0(httpserver, "HTI", made_up_envelope([record, record]))
    dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])

    with pytest.raises(HarmonisationError, match=r"department of origin .* origin HT01"):
        dtm_load.build_displacement(warehouse)


def test_no_cmc_country_in_the_dtm_lists_is_an_explained_empty_load(httpserver, warehouse, data_dir):
    serve_lists(httpserver, countries=["SDN", "UKR"])

    report = dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI", "JAM"])
    dtm_load.build_displacement(warehouse)

    assert admin0_requests(httpserver) == [] and report.rows_written == 0
    assert report.skipped == {
        "CMC countries DTM publishes no figures for (not in its country and operation lists): HTI, JAM": 2
    }
    assert warehouse.query("SELECT count(*) AS n FROM core.displacement")["n"].iloc[0] == 0


def test_is_success_false_is_an_error_quoting_the_api_messages(httpserver, warehouse, data_dir):
    serve_lists(httpserver, countries=["HTI"])
    serve_admin0(
        httpserver,
        "HTI",
        made_up_envelope([], success=False, errors=["Invalid Admin0Pcode", "No operation found"], status=400),
    )
    with pytest.raises(SourceError) as error:
        dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])
    message = str(error.value)
    assert "isSuccess=false" in message and "Invalid Admin0Pcode; No operation found" in message
    assert not warehouse.table_exists("staging.dtm_displacement")


def test_an_html_page_with_status_200_is_a_clear_error(httpserver, warehouse, data_dir):
    httpserver.expect_request("/v3/displacement/country-list").respond_with_data(
        "<!DOCTYPE html><html><body>Request blocked by the gateway</body></html>", content_type="text/html"
    )
    with pytest.raises(SourceFormatError, match=r"country-list .* got an HTML page instead of JSON"):
        dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])


def test_a_429_is_retried_and_a_5xx_until_retries_run_out_names_url_and_status(httpserver):
    httpserver.expect_ordered_request("/v3/displacement/country-list").respond_with_data(
        "rate limited", status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request("/v3/displacement/country-list").respond_with_data(
        made_up_country_list("HTI"), content_type="application/json"
    )
    assert dtm_load.parser.country_codes(client(httpserver, retries=2).fetch_country_list()) == {"HTI"}

    httpserver.clear()
    httpserver.expect_request("/v3/displacement/operation-list").respond_with_data("gateway down", status=502)
    with pytest.raises(SourceError) as error:
        client(httpserver, retries=2).fetch_operation_list()
    assert "HTTP 502" in str(error.value) and "/v3/displacement/operation-list" in str(error.value)
    assert len(httpserver.log) == 3 and SECRET not in str(error.value)


def test_a_refused_key_is_explained_without_ever_showing_the_key(httpserver, warehouse, data_dir, caplog):
    # Even if the API echoed the key back, it must not reach the user.
    body = json.dumps(
        {"statusCode": 401, "message": f"Access denied due to invalid subscription key {SECRET}."}
    )
    httpserver.expect_request("/v3/displacement/country-list").respond_with_data(body, status=401)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(dtm.DtmKeyError) as error:
        dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])

    message = str(error.value)
    assert "HTTP 401" in message and "DTM_API_KEY" in message and "<hidden>" in message
    assert SECRET not in message
    assert SECRET not in caplog.text
    assert SECRET not in repr(client(httpserver))
    assert not warehouse.table_exists("staging.dtm_displacement")


# --- the Dagster assets and the resource's settings ------------------------------------


def _materialize(
    data_dir, resource: DtmResource, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dtm_displacement, displacement],
        resources={
            "dtm": resource,
            "warehouse": WarehouseResource(url=settings.warehouse_url()),
            "raw_store": RawStoreResource(root=str(data_dir / "raw")),
        },
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def serve_every_cmc_country(httpserver) -> None:
    serve_lists(httpserver, countries=["DMA"], operations=[("DMA", "Hurricane Maria")])
    serve_admin0(
        httpserver,
        "DMA",
        made_up_envelope([made_up_record("DMA", "Hurricane Maria", "2017-10-15", 1, 3000, 1400, 1600)]),
    )


def test_without_a_key_the_assets_are_skipped_with_the_reason(data_dir, monkeypatch):
    monkeypatch.delenv("DTM_API_KEY", raising=False)
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


def test_in_snapshot_mode_nothing_is_fetched_or_faked(data_dir, monkeypatch):
    monkeypatch.delenv("CMC_SOURCE_MODE", raising=False)
    result = _materialize(data_dir, DtmResource(mode="snapshot", api_key=SECRET))
    assert result.success and result.get_asset_materialization_events() == []
    reason = next(e for e in result.all_events if e.is_asset_observation).asset_observation_data
    assert "never bundled" in reason.asset_observation.metadata["skipped"].value


def test_with_a_key_the_assets_materialise_and_no_event_mentions_the_key(httpserver, data_dir, monkeypatch):
    serve_every_cmc_country(httpserver)
    monkeypatch.setenv("DTM_API_KEY", SECRET)

    result = _materialize(
        data_dir,
        DtmResource(mode="live", api_key=dg.EnvVar("DTM_API_KEY"), base_url=httpserver.url_for("/v3")),
    )

    assert result.success
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {"staging/dtm_displacement", "core/displacement"}
    metadata = result.asset_materializations_for_node("core__displacement")[0].metadata
    assert metadata["dissemination_level"].value == "restricted"
    for event in result.all_events:
        assert SECRET not in str(event)
    assert SECRET not in json.dumps(result.dagster_run.run_config)


def test_setting_only_the_base_url_in_run_config_keeps_the_live_mode_and_the_key(
    httpserver, data_dir, monkeypatch
):
    """Setting only base_url in run config once fell back to snapshot mode and dropped the key."""
    serve_every_cmc_country(httpserver)
    monkeypatch.setenv("DTM_API_KEY", SECRET)
    monkeypatch.setenv("CMC_SOURCE_MODE", "live")
    monkeypatch.delenv("CMC_DTM_URL", raising=False)
    resource = DtmResource(mode="live", api_key=dg.EnvVar("DTM_API_KEY"))
    run_config = {"resources": {"dtm": {"config": {"base_url": httpserver.url_for("/v3")}}}}

    result = _materialize(data_dir, resource, run_config)

    assert result.success and not [e for e in result.all_events if e.is_asset_observation]
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "staging/dtm_displacement",
        "core/displacement",
    }
    assert admin0_requests(httpserver) == ["DMA"]
    assert all(request.headers[dtm.KEY_HEADER] == SECRET for request, _ in httpserver.log)
    assert SECRET not in json.dumps(result.dagster_run.run_config)


def test_the_base_url_setting_points_the_resource_at_another_server_and_keeps_mode_and_key(
    httpserver, monkeypatch
):
    monkeypatch.setenv("CMC_DTM_URL", httpserver.url_for("/v3"))
    monkeypatch.setenv("DTM_API_KEY", SECRET)
    monkeypatch.setenv("CMC_SOURCE_MODE", "live")
    from cmc_pipeline.defs.resources import default_resources

    resource = default_resources()["dtm"]
    serve_lists(httpserver, countries=["HTI"])

    assert resource.skip_reason() is None
    assert dtm_load.parser.country_codes(resource.client().fetch_country_list()) == {"HTI"}
    assert httpserver.log[0][0].headers[dtm.KEY_HEADER] == SECRET
    assert SECRET not in repr(resource.client())


def test_displacement_mart_is_readable_but_never_exported(httpserver, warehouse, data_dir):
    from cmc_pipeline.lib import marts
    from cmc_pipeline.lib.exports import export_marts

    serve_lists(httpserver, countries=["HTI"])
    serve_admin0(
        httpserver,
        "HTI",
        made_up_envelope(
            [made_up_record("HTI", "Haiti IDP", "2024-06-01", 7, 578000, origin=("Ouest", "HT01"))]
        ),
    )
    dtm_load.load_dtm(client(httpserver), warehouse, data_dir / "raw", ["HTI"])
    dtm_load.build_displacement(warehouse)
    core_tables.build_dim_country(warehouse)
    assert marts.build_displacement(warehouse).rows_written == 1
    marked = warehouse.query(
        "SELECT dissemination_level, licence, idp_origin_admin1_pcode FROM marts.displacement"
    ).iloc[0]
    assert marked.dissemination_level == "restricted" and "no redistribution" in marked.licence
    assert marked.idp_origin_admin1_pcode == "HT01"

    for audience in ("public", "members"):
        result = export_marts(warehouse, data_dir / audience, audience=audience, formats=("csv",))
        assert "marts.displacement" not in {f["table"] for f in result.files}
        assert {"table": "marts.displacement", "reason": "dissemination level restricted"} in result.skipped
        assert not list((data_dir / audience).glob("*displacement*"))
