"""Several machines, the part that runs here: steps executed by a Celery worker through the
machine's RabbitMQ, writing a PostgreSQL warehouse, with run history in PostgreSQL."""

from __future__ import annotations

import json
import socket
import uuid

import dagster as dg
import pytest

from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline_tests.deployment import BIN, LocalDeployment, postgres_available

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RABBITMQ = ("127.0.0.1", 5672)


def rabbitmq_available() -> bool:
    try:
        with socket.create_connection(RABBITMQ, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def celery_deployment(tmp_path):
    if not (postgres_available() and rabbitmq_available()):
        pytest.fail("needs PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672")
    queue = f"cmc_test_{uuid.uuid4().hex[:8]}"  # no other worker on this broker takes our steps
    deployed = LocalDeployment(
        tmp_path,
        postgres_warehouse=True,
        extra_env={
            "CMC_EXECUTOR": "celery",
            "CMC_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:5672//",
            "CMC_CELERY_BACKEND": "rpc://",
            "CMC_CELERY_QUEUE": queue,
        },
    ).create()
    try:
        deployed.start_celery_worker(queue)
        yield deployed
    finally:
        deployed.stop()
        deployed.drop()


def test_a_run_on_the_celery_executor_builds_the_postgres_warehouse(celery_deployment):
    tags = {"dagster/asset_partition_range_start": "JAM", "dagster/asset_partition_range_end": "LCA"}
    finished = celery_deployment.run(
        [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "cmc_pipeline.definitions",
            "-j",
            "build_warehouse",
            "--tags",
            json.dumps(tags),
        ],
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    warehouse = Warehouse(celery_deployment.warehouse_url)
    facts = warehouse.query("SELECT country_iso3, count(*) AS n FROM core.fact_observation GROUP BY 1")
    assert set(facts["country_iso3"]) == {"JAM", "KNA", "LCA", "MSR"}  # MSR: UN DESA stocks only

    instance = celery_deployment.instance()
    (record,) = instance.get_run_records()
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    events = [e.dagster_event for e in instance.all_logs(record.dagster_run.run_id) if e.dagster_event]

    def pids(event_type: dg.DagsterEventType) -> list[int]:
        return [e.pid for e in events if e.event_type == event_type]

    (launcher_pid,) = pids(dg.DagsterEventType.RUN_START)
    started, succeeded = pids(dg.DagsterEventType.STEP_START), pids(dg.DagsterEventType.STEP_SUCCESS)
    assert len(succeeded) == len(started) > 5  # every step of the build, staging to report
    assert launcher_pid not in pids(dg.DagsterEventType.STEP_START)  # each step ran in the worker
    assert "succeeded" in (celery_deployment.logs / "celery_worker.log").read_text()
