"""The warehouse password of a shared deployment shows nowhere: not in the Dagster UI's
resource page, nor in a run's configuration, tags or event log, nor in the processes' logs.

The worst case is tested: a password written into ``CMC_WAREHOUSE`` itself (the README asks
for libpq's PGPASSWORD instead). PostgreSQL here trusts local connections, so the password
is carried everywhere the URL goes without being needed to connect.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline_tests.deployment import BIN, LocalDeployment, postgres_available

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RESOURCE = """
query {
  topLevelResourceDetailsOrError(resourceSelector: {
      repositoryLocationName: "cmc_pipeline", repositoryName: "__repository__", resourceName: "warehouse"}) {
    __typename
    ... on ResourceDetails { configuredValues { key value type } }
  }
}
"""
RUNS = """
query { runsOrError { ... on Runs { results { runId status runConfigYaml tags { key value } } } } }
"""
EVENTS = """
query Events($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message } } }
  }
}
"""


def graphql(deployment: LocalDeployment, query: str, **variables) -> dict:
    answer = requests.post(
        f"{deployment.ui_url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    answer.raise_for_status()
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def deployment_with_password(tmp_path):
    if not postgres_available():
        pytest.fail(
            "PostgreSQL is not reachable on 127.0.0.1:5432; start it (pg_ctlcluster <version> main start)"
        )
    secret = f"pw-{uuid.uuid4().hex}"
    deployed = LocalDeployment(tmp_path, postgres_warehouse=True).create()
    deployed.env["CMC_WAREHOUSE"] = deployed.warehouse_url.replace("postgres@", f"postgres:{secret}@")
    try:
        deployed.start_code_server()
        deployed.start_webserver()
        yield deployed, secret
    finally:
        deployed.stop()
        deployed.drop()


def test_the_warehouse_password_shows_nowhere_in_the_ui_runs_or_logs(deployment_with_password):
    deployment, secret = deployment_with_password
    materialised = deployment.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "--select",
            "core/dim_country",
            "-m",
            "cmc_pipeline.definitions",
        ],
        timeout=300,
    )
    assert materialised.returncode == 0, materialised.stderr[-3000:]
    # The run really used the URL: the dimension is in the PostgreSQL warehouse.
    countries = Warehouse(deployment.warehouse_url).query("SELECT count(*) AS n FROM core.dim_country")
    assert int(countries["n"].iloc[0]) == 25

    resource = graphql(deployment, RESOURCE)["topLevelResourceDetailsOrError"]
    assert {"key": "url", "value": "CMC_WAREHOUSE", "type": "ENV_VAR"} in resource["configuredValues"]
    runs = graphql(deployment, RUNS)["runsOrError"]["results"]
    assert [run["status"] for run in runs] == ["SUCCESS"]
    events = graphql(deployment, EVENTS, runId=runs[0]["runId"])["logsForRun"]["events"]
    assert len(events) > 10

    shown = json.dumps([resource, runs, events])
    assert secret not in shown
    assert secret not in materialised.stdout + materialised.stderr
    for log in deployment.logs.iterdir():
        assert secret not in log.read_text(errors="replace"), log.name
