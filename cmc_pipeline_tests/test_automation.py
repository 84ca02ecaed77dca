"""Schedules, freshness checks and the failure sensor, as the daemon would run them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from cmc_pipeline.lib.contracts import SlaPeriod, all_contracts
from cmc_pipeline.lib.reference import cmc_iso3_codes


@pytest.fixture
def definitions(data_dir):
    from cmc_pipeline.cli import prepare_dagster_home
    from cmc_pipeline.orchestration import load_definitions

    prepare_dagster_home()
    return load_definitions()


def notices(data_dir) -> list[dict]:
    log = data_dir / "logs" / "notifications.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --- schedules --------------------------------------------------------------------------


def test_every_warehouse_table_contract_promises_a_cadence():
    # quality.check_results is written with every table the gate checks: their cadence is its.
    missing = [
        t
        for t, c in all_contracts().items()
        if c.service_levels is None and "written_with" not in c.custom_properties
    ]
    assert not missing, f"add slaProperties frequency and latency to the contracts of {missing}"


def test_every_table_with_a_cadence_is_an_asset_its_freshness_check_can_watch(definitions):
    from cmc_pipeline.defs.automation.freshness import asset_key, contracts_with_cadence

    assets = definitions.resolve_asset_graph().materializable_asset_keys
    missing = [c.table for c in contracts_with_cadence() if asset_key(c) not in assets]
    assert not missing, f"contracts with slaProperties but no asset of that name: {missing}"


def test_the_open_data_refresh_runs_monthly_in_the_working_groups_time_zone(definitions):
    schedule = definitions.resolve_schedule_def("refresh_open_data_schedule")
    assert schedule.cron_schedule == "0 2 2 * *"  # the contracts say monthly; 02:00 on the 2nd
    assert schedule.execution_timezone == "America/Port_of_Spain"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize(
    ("period", "cron"),
    [
        (SlaPeriod(1, "day"), "30 4 * * *"),
        (SlaPeriod(3, "day"), "30 4 */3 * *"),
        (SlaPeriod(1, "week"), "30 4 * * 2"),
        (SlaPeriod(1, "month"), "30 4 2 * *"),
        (SlaPeriod(3, "month"), "30 4 2 */3 *"),
        (SlaPeriod(1, "year"), "30 4 2 1 *"),
    ],
)
def test_the_cron_follows_the_contracts_cadence(period, cron):
    from cmc_pipeline.defs.automation.schedules import refresh_cron

    assert refresh_cron(period, day=2, at="04:30") == cron


def test_a_refresh_of_a_table_without_a_cadence_says_what_to_add_to_its_contract(monkeypatch):
    import dataclasses

    from cmc_pipeline.defs.automation.schedules import Refresh

    contract = all_contracts()["staging.worldbank_observations"]
    monkeypatch.setitem(
        all_contracts(), "staging.worldbank_observations", dataclasses.replace(contract, service_levels=None)
    )
    with pytest.raises(ValueError, match=r"staging.worldbank_observations .* no slaProperties frequency"):
        _ = Refresh("refresh_worldbank", ("staging.worldbank_observations",)).cron


def test_a_scheduled_refresh_loads_every_country_in_one_run(definitions, warehouse):
    """The schedule's run request, launched as the daemon would: one run, all 25 countries."""
    schedule = definitions.resolve_schedule_def("refresh_open_data_schedule")
    tick = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "ATG"
    assert request.tags["dagster/asset_partition_range_end"] == "SXM"
    assert request.run_key == tick.isoformat()

    job = definitions.resolve_job_def("refresh_open_data")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), tags=request.tags)
    assert result.success
    facts = warehouse.query("SELECT DISTINCT country_iso3 FROM core.fact_observation")
    # Anguilla is the one country none of these sources publishes a figure for.
    assert set(cmc_iso3_codes()) - set(facts["country_iso3"]) == {"AIA"}
    assert warehouse.table_exists("core.dim_country")


# --- freshness --------------------------------------------------------------------------


def test_freshness_names_the_countries_left_behind(definitions, data_dir):
    """After loading two countries, the daily check reports the other 23 as never loaded and
    sends a notice; forty days on, the two loaded ones are overdue too."""
    from cmc_pipeline.defs.automation.freshness import evaluate, last_refreshes
    from cmc_pipeline.orchestration import build_warehouse

    assert build_warehouse(["JAM", "TTO"]).success
    instance = dg.DagsterInstance.get()
    result = definitions.resolve_job_def("check_freshness").execute_in_process(instance=instance)
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}

    fact = evaluations["core/fact_observation"]
    assert not fact.passed and fact.severity == dg.AssetCheckSeverity.WARN
    never = fact.metadata["never_loaded"].value.split(", ")
    assert len(never) == 23 and "JAM" not in never and "BRB" in never
    assert evaluations["core/dim_country"].passed  # unpartitioned, and just built
    (notice,) = notices(data_dir)
    assert notice["subject"] == "[cmc-pipeline] stale warehouse tables"
    assert "core.fact_observation: stale" in notice["body"]

    contract = all_contracts()["core.fact_observation"]
    later = datetime.now(UTC) + timedelta(days=40)
    aged = evaluate(contract, last_refreshes(instance, contract), later.timestamp())
    assert aged.metadata["overdue"].value == "JAM, TTO"
    assert aged.metadata["expected_cadence"].value == "every 1 month, at most 7 days late"


# --- failure notices --------------------------------------------------------------------


def test_a_failed_run_is_notified_with_its_step_and_error(
    definitions, data_dir, monkeypatch, hold_duckdb_lock
):
    """Another process holds the warehouse: the run waits, fails clearly, and the sensor
    writes a notice naming the run, the countries and the lock."""
    from cmc_pipeline import settings
    from cmc_pipeline.defs.automation.notifications import notify_on_run_failure
    from cmc_pipeline.defs.resources import notifier_from_environment
    from cmc_pipeline.orchestration import load_definitions

    monkeypatch.setenv("CMC_WAREHOUSE_LOCK_TIMEOUT", "1")
    monkeypatch.setenv("CMC_DAGSTER_URL", "http://127.0.0.1:3000/")
    hold_duckdb_lock(settings.data_dir() / "warehouse" / "cmc.duckdb")
    instance = dg.DagsterInstance.get()
    result = (
        load_definitions()
        .resolve_job_def("refresh_open_data")
        .execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": "ATG", "dagster/asset_partition_range_end": "BRB"},
            raise_on_error=False,
        )
    )
    assert not result.success

    with dg.build_run_status_sensor_context(
        sensor_name="notify_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"notifier": notifier_from_environment()},
    ) as context:
        notify_on_run_failure(context.for_run_failure())

    (notice,) = notices(data_dir)
    assert notice["subject"] == "[cmc-pipeline] refresh_open_data failed"
    assert f"Run {result.run_id} of job refresh_open_data failed." in notice["body"]
    assert "Countries ATG to BRB." in notice["body"]
    assert "is locked by another process" in notice["body"]
    assert notice["link"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
