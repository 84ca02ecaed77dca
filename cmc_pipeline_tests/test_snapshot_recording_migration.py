"""`cmc snapshot record` keeps Missing Migrants years and the UN DESA workbook too, and
says so when the UN site refuses to serve the file."""

from __future__ import annotations

import json

import responses

from cmc_pipeline.lib.http import HttpSettings
from cmc_pipeline.lib.snapshot_recording import record_all
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.ilostat.client import IlostatClient
from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient
from cmc_pipeline.sources.undesa.client import UndesaClient
from cmc_pipeline.sources.worldbank.client import WorldBankClient


@responses.activate
def test_missing_migrants_years_are_recorded_and_a_refused_workbook_is_reported(tmp_path):
    year_body = json.dumps([{"Incident ID": "2023.1", "Region of Incident": "Caribbean"}])
    responses.add(responses.GET, "https://mmp.test/global-figures/2023/json", body=year_body)
    responses.add(
        responses.GET, "https://un.test/ims.xlsx", body="<!DOCTYPE html><html>Please enable JS</html>"
    )
    store = SnapshotStore(tmp_path)

    lines = list(
        record_all(
            store,
            # The open-data clients replay the bundled recordings: only the new sources go live here.
            ilostat_client=IlostatClient(mode="snapshot"),
            worldbank_client=WorldBankClient(mode="snapshot"),
            missing_migrants_client=MissingMigrantsClient(
                mode="live", first_year=2023, last_year=2023, base_url="https://mmp.test/global-figures"
            ),
            undesa_client=UndesaClient(
                mode="live", url="https://un.test/ims.xlsx", http_settings=HttpSettings(retries=0)
            ),
        )
    )

    assert "missing_migrants 2023" in lines[-2]
    assert lines[-1].startswith("undesa: not recorded") and "cmc import undesa FILE" in lines[-1]
    (entry,) = [e for e in SnapshotStore(tmp_path).entries() if e.source == "missing_migrants"]
    assert not entry.demonstration and entry.url == "https://mmp.test/global-figures/2023/json"
    assert (tmp_path / entry.file).read_text() == year_body
