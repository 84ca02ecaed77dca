"""The inbox sensor and the loading job as Dagster runs them: one run per new file keyed
by its sha256, odd files set aside with a report instead of crashing the sensor, and a
refused file failing its run with the report in the failure's metadata; and what an
accepted upload makes rebuild (its mart and the report), through the daemon's automation
sensor or at once with `cmc upload --load`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest

from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.uploads.datasets import upload_dataset
from cmc_pipeline.settings import SNAPSHOT_DIR

DEMO = SNAPSHOT_DIR / "uploads" / "JAM__work_permits__demonstration.csv"


@pytest.fixture
def inbox(data_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CMC_INBOX_SETTLE_SECONDS", "0")  # files in a test are complete at once
    folder = data_dir / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def instance(data_dir):
    with dg.instance_for_test() as instance:
        yield instance


def put(inbox: Path, relative: str, body: bytes) -> Path:
    path = inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def tick(instance, cursor: str | None = None) -> dg.SensorResult:
    from cmc_pipeline.defs.uploads.sensors import upload_inbox

    return upload_inbox(dg.build_sensor_context(instance=instance, cursor=cursor))


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_one_run_per_new_file_keyed_by_its_sha256_and_none_on_the_next_tick(inbox, instance):
    body = DEMO.read_bytes()
    put(inbox, "JAM/work_permits/permits 2023.csv", body)

    first = tick(instance)
    (request,) = first.run_requests
    assert request.run_key == sha(body)
    assert (request.job_name, request.partition_key) == ("upload_work_permits", "JAM")
    assert request.run_config == {
        "ops": {"load_work_permits_upload": {"config": {"file": "JAM/work_permits/permits 2023.csv"}}}
    }
    assert list(json.loads(first.cursor)) == ["JAM/work_permits/permits 2023.csv"]

    again = tick(instance, first.cursor)
    assert not again.run_requests and again.skip_reason is not None


def test_two_files_of_one_country_become_two_runs_and_a_copy_in_the_same_tick_is_set_aside(inbox, instance):
    body = DEMO.read_bytes()
    put(inbox, "JAM/work_permits/a.csv", body)
    put(inbox, "JAM/work_permits/b.csv", body.replace(b"JAM,2023", b"JAM,2021"))
    put(inbox, "JAM__work_permits__a copy.csv", body)

    result = tick(instance)

    assert len(result.run_requests) == 2
    assert {r.partition_key for r in result.run_requests} == {"JAM"}
    assert len({r.run_key for r in result.run_requests}) == 2
    (duplicate_folder,) = (inbox / "duplicates").iterdir()
    assert "already received" in (duplicate_folder / "report.md").read_text(encoding="utf-8").lower()
    assert (duplicate_folder / "JAM__work_permits__a_copy.csv").read_bytes() == body


def test_odd_files_are_set_aside_with_a_report_and_never_stop_the_sensor(inbox, instance):
    put(inbox, "figures.csv", b"country,period\nJAM,2023\n")
    put(inbox, "JAM/work_permits/scan.pdf", b"%PDF-1.4")
    put(inbox, "JAM/work_permits/~$permits.xlsx", b"lock file Excel keeps while a workbook is open")
    binary = put(inbox, "JAM/work_permits/renamed.csv", b"\x00\x01binary" * 20)

    result = tick(instance)

    # The binary file has a place and a name: its run refuses it with a report.
    assert [
        r.run_config["ops"]["load_work_permits_upload"]["config"]["file"] for r in result.run_requests
    ] == [binary.relative_to(inbox).as_posix()]
    reports = {p.parent.name: p.read_text(encoding="utf-8") for p in (inbox / "rejected").glob("*/report.md")}
    assert len(reports) == 2
    assert any("does not say which country and dataset" in r for r in reports.values())
    assert any("'.pdf' is not accepted" in r for r in reports.values())
    assert (inbox / "JAM/work_permits/~$permits.xlsx").exists()  # an editor's file is left alone


def test_a_sensor_tick_survives_a_file_that_vanishes_or_cannot_be_read(inbox, instance, monkeypatch):
    from cmc_pipeline.defs.uploads import sensors

    put(inbox, "JAM/work_permits/a.csv", DEMO.read_bytes())
    put(inbox, "TTO/work_permits/b.csv", DEMO.read_bytes().replace(b"JAM", b"TTO"))
    real = sensors._sha256

    def flaky(path):
        if path.name == "a.csv":
            raise PermissionError("permission denied")
        return real(path)

    monkeypatch.setattr(sensors, "_sha256", flaky)
    result = tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["TTO"]


def run_upload(instance, relative: str, country: str = "JAM", tags: dict | None = None):
    from cmc_pipeline.defs.uploads.assets import upload_run_config
    from cmc_pipeline.orchestration import load_definitions

    job = load_definitions().resolve_job_def("upload_work_permits")
    return job.execute_in_process(
        instance=instance,
        partition_key=country,
        run_config=upload_run_config("work_permits", relative),
        tags=tags or {},
        raise_on_error=False,
    )


def test_the_job_loads_an_accepted_file_and_the_same_bytes_later_go_to_duplicates(inbox, instance, warehouse):
    from cmc_pipeline.defs.uploads.sensors import SHA_TAG

    core_tables.build_dim_country(warehouse)
    body = DEMO.read_bytes()
    put(inbox, "JAM/work_permits/a.csv", body)
    result = run_upload(instance, "JAM/work_permits/a.csv", tags={SHA_TAG: sha(body)})

    assert result.success
    assert warehouse.query("SELECT count(*) AS n FROM core.work_permits")["n"].iloc[0] == 144
    materializations = {
        m.asset_key.to_user_string(): m
        for m in result.asset_materializations_for_node("load_work_permits_upload")
    }
    assert set(materializations) == {"uploads/work_permits", "core/work_permits"}
    # The run says where the upload's time went, step by step.
    (steps,) = materializations["core/work_permits"].metadata["seconds_by_step"].value.values()
    assert list(steps) == ["land", "read", "tidy", "rules", "write"]
    failed = [(e.check_name, e.description) for e in result.get_asset_check_evaluations() if not e.passed]
    assert not failed, failed
    (accepted,) = (inbox / "accepted").iterdir()
    assert (accepted / "a.csv").read_bytes() == body

    put(inbox, "JAM/work_permits/a again.csv", body)
    assert not tick(instance).run_requests
    assert (inbox / "duplicates").exists()


def test_a_refused_file_fails_its_run_with_the_report_in_the_failure_metadata(inbox, instance, warehouse):
    core_tables.build_dim_country(warehouse)
    header = ",".join(upload_dataset("work_permits").file_columns)
    put(inbox, "JAM/work_permits/bad.csv", f"{header}\nJAM,2023,SEX_X,GUY,OCU_ISCO08_2,NEW,5,\n".encode())

    result = run_upload(instance, "JAM/work_permits/bad.csv")

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    metadata = failure.step_failure_data.user_failure_data.metadata
    report = Path(metadata["report"].value)
    assert report.parent.parent == inbox / "rejected" and report.exists()
    assert (
        "sex_code_known" in metadata["first_problems"].value and "SEX_X" in metadata["first_problems"].value
    )
    failed_checks = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed_checks == {"sex_code_known"}
    assert not warehouse.table_exists("core.work_permits") or (
        warehouse.query("SELECT count(*) AS n FROM core.work_permits")["n"].iloc[0] == 0
    )


def test_an_accepted_upload_makes_its_mart_and_the_report_rebuild_and_nothing_else(
    inbox, instance, warehouse
):
    """What the daemon's automation sensor requests after an inbox upload's run: the marts
    that read the dataset and the report, once; the marts of other datasets and of the open
    data stay as they are."""
    from cmc_pipeline.orchestration import load_definitions

    core_tables.build_dim_country(warehouse)
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["core", "dim_country"])))
    definitions = load_definitions()
    settled = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
    settled = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=settled.cursor)
    assert settled.total_requested == 0  # nothing has changed since the last evaluation

    body = DEMO.read_bytes()
    put(inbox, "JAM/work_permits/a.csv", body)
    assert run_upload(instance, "JAM/work_permits/a.csv").success
    after = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=settled.cursor)
    requested = {
        key.to_user_string()
        for key in definitions.resolve_asset_graph().get_all_asset_keys()
        if after.get_num_requested(key)
    }
    # The permits' mart, the mirror statistics that compare permits with departures, and the
    # report that shows both.
    assert requested == {"marts/work_permits", "marts/mirror_flows", "reports/regional_report"}


def test_cmc_upload_load_rebuilds_the_mart_with_the_new_figures(inbox, data_dir):
    from click.testing import CliRunner

    from cmc_pipeline.cli import main
    from cmc_pipeline.lib.warehouse import Warehouse

    # Jamaica's figures as a corrected file would give them: a thousand more permits granted
    # to Guyanese men in 2022 (the total and the men's row, so the total still adds up).
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    assert lines[1:3] == [
        "JAM,2022,SEX_T,GUY,OCU_ISCO08_2,NEW,149,170",
        "JAM,2022,SEX_M,GUY,OCU_ISCO08_2,NEW,133,144",
    ]
    lines[1:3] = [
        "JAM,2022,SEX_T,GUY,OCU_ISCO08_2,NEW,1149,1170",
        "JAM,2022,SEX_M,GUY,OCU_ISCO08_2,NEW,1133,1144",
    ]
    changed = data_dir / "jamaica.csv"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    typed = ["upload", str(changed), "--dataset", "work_permits", "--country", "JAM", "--load"]
    result = CliRunner().invoke(main, typed)
    assert result.exit_code == 0, result.output
    assert "Rebuilt what reads work_permits" in result.output
    warehouse = Warehouse(str(data_dir / "warehouse" / "cmc.duckdb"))
    mart = warehouse.query(
        "SELECT permits_granted FROM marts.work_permits WHERE area_code = 'JAM' AND period = '2022' "
        "AND sex = 'SEX_T' AND nationality_iso3 = 'GUY' AND occupation = 'OCU_ISCO08_2' "
        "AND permit_type = 'NEW'"
    )
    assert mart["permits_granted"].tolist() == [1149]
    # The report ran in the same run (this warehouse holds only the upload, so it says why
    # it wrote nothing rather than writing an empty report).
    run_id = result.output.split("run ")[-1].strip()
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        assert {k.to_user_string() for k in run.asset_selection} >= {
            "marts/work_permits",
            "reports/regional_report",
        }
        report_steps = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION
        ).records
    assert [r.event_log_entry.dagster_event.asset_key.to_user_string() for r in report_steps] == [
        "reports/regional_report"
    ]
