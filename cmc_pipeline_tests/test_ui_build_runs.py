"""What a data engineer sees in the Dagster UI after `cmc build` (`make dev`): the build's
run on the build_warehouse job's page, and each check's status per country, read by the
real webserver over GraphQL from the local SQLite run history."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cmc_pipeline.settings import PROJECT_DIR
from cmc_pipeline_tests.deployment import free_port

JOB_RUNS = """{ pipelineOrError(params: {repositoryLocationName: "cmc_pipeline",
  repositoryName: "__repository__", pipelineName: "build_warehouse"}) {
  ... on Pipeline { runs(limit: 5) { runId status } } ... on PythonError { message } } }"""
FRESHNESS = """{ assetNodeOrError(assetKey: {path: ["core", "fact_observation"]}) {
  ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name
  executionForLatestMaterialization { runId status }
  partitionStatuses { ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions } }
  } } } } } }"""


@pytest.mark.slow
def test_the_build_run_is_on_its_job_page_and_freshness_is_evaluated(tmp_path: Path):
    env = {
        **os.environ,
        "CMC_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "data" / "dagster_home"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "GX_ANALYTICS_ENABLED": "False",
    }
    env.pop("CMC_WAREHOUSE", None)
    cmc = str(Path(sys.executable).parent / "cmc")
    built = subprocess.run(
        [cmc, "build", "--countries", "JAM"], env=env, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    run_id = built.stdout.split("Dagster run ", 1)[1].split(";", 1)[0]
    assert "Freshness:" in built.stdout
    port = free_port()
    webserver = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", str(PROJECT_DIR / "workspace.yaml")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = requests.post(url, json={"query": JOB_RUNS}, timeout=10).json()
                if "runs" in (answer.get("data", {}).get("pipelineOrError") or {}):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the webserver did not answer"
            time.sleep(1)
        runs = answer["data"]["pipelineOrError"]["runs"]
        assert {"runId": run_id, "status": "SUCCESS"} in runs
        checks = requests.post(url, json={"query": FRESHNESS}, timeout=10).json()
        node = checks["data"]["assetNodeOrError"]["assetChecksOrError"]["checks"]
        freshness = next(c for c in node if c["name"] == "freshness")
        # evaluated (not "Not evaluated"): only Jamaica was built, so the others are overdue
        assert freshness["executionForLatestMaterialization"]["status"] == "FAILED"
        # Each contract rule's status per country, as the check's Partitions tab shows it:
        # Jamaica, the country built, has one; no other country has.
        for check in (c for c in node if c["name"] != "freshness"):
            statuses = check["partitionStatuses"]
            assert statuses["succeededPartitions"] + statuses["failedPartitions"] == ["JAM"], check
    finally:
        webserver.terminate()
        webserver.wait(timeout=30)
