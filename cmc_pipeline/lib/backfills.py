"""Starting and following a backfill through the Dagster webserver's GraphQL API, as the
UI's "Launch backfill" button does, so the daemon runs it with the assets' batching
policy: a selection of countries becomes one run, not one run per country.

(``dagster job backfill`` on the command line does not do this: it submits one run per
partition itself, without the daemon. See docs/operations.md.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

REPOSITORY = {"repositoryLocationName": "cmc_pipeline", "repositoryName": "__repository__"}
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on RunConflict { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      runs(limit: 1000) { runId status tags { key value } }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}
"""


class BackfillError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackfillState:
    backfill_id: str
    status: str
    runs: list[dict]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status in {"COMPLETED", "COMPLETED_SUCCESS"} and all(
            r["status"] == "SUCCESS" for r in self.runs
        )


def graphql(ui_url: str, query: str, variables: dict, timeout: float = 60) -> dict:
    import requests  # only when a backfill is started

    response = requests.post(
        f"{ui_url.rstrip('/')}/graphql", json={"query": query, "variables": variables}, timeout=timeout
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 and not body.get("errors"):
        raise BackfillError(
            f"the Dagster webserver at {ui_url} answered HTTP {response.status_code}: {response.text[:6000]}"
        )
    if body.get("errors"):
        raise BackfillError(f"the Dagster webserver refused the request: {body['errors'][0]['message']}")
    return body["data"]


def launch_backfill(
    ui_url: str,
    partitions: list[str],
    *,
    job: str | None = None,
    assets: list[str] | None = None,
    title: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Ask the daemon to backfill ``partitions`` (country codes) of a job, or of assets
    given as ``schema/table`` keys, with ``tags`` on every run. Returns the backfill id."""
    if (job is None) == (assets is None):
        raise ValueError("give either a job or a list of assets to backfill")
    params: dict = {
        "partitionNames": partitions,
        "title": title,
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }
    if job is not None:
        params["selector"] = {"partitionSetName": f"{job}_partition_set", "repositorySelector": REPOSITORY}
    else:
        params["assetSelection"] = [{"path": path} for path in with_inseparable_outputs(assets)]
    result = graphql(ui_url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        detail = result.get("message") or result.get("errors") or result
        raise BackfillError(f"the backfill was not launched ({result['__typename']}): {detail}")
    return result["backfillId"]


def with_inseparable_outputs(assets: list[str]) -> list[list[str]]:
    """``assets`` (``schema/table`` keys) and the other outputs of any multi-asset among them
    that runs only whole: core/fact_observation also writes quality/unmapped_values, and the
    daemon refuses a backfill that names one without the other."""
    import dagster as dg

    from cmc_pipeline.orchestration import load_definitions

    selection = dg.AssetSelection.assets(*[dg.AssetKey(a.split("/")) for a in assets])
    keys = selection.required_multi_asset_neighbors().resolve(load_definitions().resolve_asset_graph())
    return sorted(list(key.path) for key in keys)


def backfill_state(ui_url: str, backfill_id: str) -> BackfillState:
    found = graphql(ui_url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if found["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {found.get('message', found['__typename'])}")
    return BackfillState(backfill_id, found["status"], found["runs"])


def wait_for_backfill(ui_url: str, backfill_id: str, *, timeout: float, poll: float = 2.0) -> BackfillState:
    """Poll until the backfill and all its runs have finished, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        state = backfill_state(ui_url, backfill_id)
        runs_done = all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in state.runs)
        if state.finished and runs_done:
            return state
        if time.monotonic() > deadline:
            raise BackfillError(
                f"backfill {backfill_id} still {state.status} after {timeout:.0f}s "
                f"({len(state.runs)} runs: {sorted({r['status'] for r in state.runs})})"
            )
        time.sleep(poll)
