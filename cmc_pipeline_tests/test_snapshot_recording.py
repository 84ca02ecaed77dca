"""`cmc snapshot record` against recorded bodies: what it stores is what snapshot mode serves."""

from __future__ import annotations

import json
import re

import responses

from cmc_pipeline.lib import http
from cmc_pipeline.lib.snapshot_recording import record_all
from cmc_pipeline.lib.snapshots import SnapshotStore, copy_bundled_snapshots
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.ilostat.client import IlostatClient
from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient
from cmc_pipeline.sources.undesa.client import UndesaClient
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.client import WorldBankClient

FAST = http.HttpSettings(retries=0, backoff_factor=0)


@responses.activate
def test_recording_replaces_bundled_files_and_marks_them_real(tmp_path):
    snapshot_copy = tmp_path / "snapshots"
    store = SnapshotStore(copy_bundled_snapshots(snapshot_copy))
    bundled = SnapshotStore()

    # Serve, for every request, the bundled body of the same dataset, as the live API would.
    def reply(request):
        for entry in bundled.entries():
            if entry.url.split("?")[0] == request.url.split("?")[0] and (
                entry.api != "worldbank_v2" or request.url.endswith(f"page={entry.page}")
            ):
                return 200, {}, bundled.read(entry)
        if "api.worldbank.org" in request.url:
            # A series snapshot mode serves from a bundled download has no recorded API
            # page: answer as the API does for a query with no figures.
            return 200, {}, one_page_world_bank
        return 404, {}, b"No data is found"

    responses.add_callback(responses.GET, re.compile(r"https://.*"), callback=reply)
    one_page_world_bank = json.dumps(
        [
            {
                "page": 1,
                "pages": 1,
                "per_page": 500,
                "total": 0,
                "sourceid": "2",
                "lastupdated": "2026-11-01",
            },
            None,
        ]
    )
    responses.add(
        responses.GET,
        re.compile(r"https://api\.worldbank\.org/v2/.*/SP\.POP\.TOTL.*"),
        body=one_page_world_bank,
    )

    lines = list(
        record_all(
            store,
            IlostatClient(mode="live", http_settings=FAST),
            WorldBankClient(mode="live", http_settings=FAST),
            # These two are re-recorded from the bundle: their labels must survive.
            MissingMigrantsClient(mode="snapshot", snapshots=bundled),
            UndesaClient(mode="snapshot", snapshots=bundled),
        )
    )
    assert len([line for line in lines if line.startswith(("ilostat", "worldbank"))]) == len(
        ilostat_indicators()
    ) + len(worldbank_indicators())

    recorded = SnapshotStore(snapshot_copy)
    live_sources = [e for e in recorded.entries() if e.source in ("ilostat", "worldbank")]
    assert live_sources and not any(e.demonstration for e in live_sources)
    # Re-recorded UN DESA files keep their labels: published workbooks real, the generated one not.
    undesa_labels = {e.file: e.demonstration for e in recorded.entries() if e.source == "undesa"}
    assert undesa_labels == {e.file: e.demonstration for e in bundled.entries() if e.source == "undesa"}
    assert True in undesa_labels.values() and False in undesa_labels.values()
    population = recorded.pages("worldbank_v2", "SP.POP.TOTL")
    assert [p.page for p in population] == [1]  # the stale bundled page 2 is gone
    assert not (snapshot_copy / "worldbank" / "demonstration" / "SP.POP.TOTL_p2.json").exists()
    served = WorldBankClient(mode="snapshot", snapshots=recorded).fetch("SP.POP.TOTL", ["JAM"])
    assert served[0].body == one_page_world_bank.encode()
