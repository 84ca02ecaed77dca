"""`cmc snapshot record` keeps Missing Migrants years (real answers replayed by a local
server) and the UN DESA workbook too, and says so when the UN site refuses to serve the file."""

from __future__ import annotations

from cmc_pipeline.lib.http import HttpSettings
from cmc_pipeline.lib.snapshot_recording import record_all
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.ilostat.client import IlostatClient
from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient
from cmc_pipeline.sources.undesa.client import UndesaClient
from cmc_pipeline.sources.worldbank.client import WorldBankClient


def test_missing_migrants_years_are_recorded_and_a_refused_workbook_is_reported(tmp_path, httpserver):
    real_2023 = (SnapshotStore().folder("missing_migrants") / "mmp_global-figures_2023.json").read_bytes()
    httpserver.expect_request("/global-figures/2023/json").respond_with_data(
        real_2023, content_type="application/json"
    )
    for workbook in (
        "undesa_pd_2020_ims_stock_by_sex_and_destination",
        "undesa_pd_2024_ims_stock_by_sex_destination_and_origin",
    ):
        httpserver.expect_request(f"/undesa/{workbook}.xlsx").respond_with_data(
            "<!DOCTYPE html><html>Please enable JS</html>", content_type="text/html"
        )
    store = SnapshotStore(tmp_path)
    base = httpserver.url_for("/global-figures")

    lines = list(
        record_all(
            store,
            # The open-data clients replay the bundled recordings: only the new sources go live here.
            ilostat_client=IlostatClient(mode="snapshot"),
            worldbank_client=WorldBankClient(mode="snapshot"),
            missing_migrants_client=MissingMigrantsClient(
                mode="live", first_year=2023, last_year=2023, base_url=base
            ),
            undesa_client=UndesaClient(
                mode="live", base_url=httpserver.url_for("/undesa"), http_settings=HttpSettings(retries=0)
            ),
        )
    )

    assert "missing_migrants 2023" in lines[-3]
    for line in lines[-2:]:
        assert line.startswith("undesa undesa_pd_20") and "not recorded" in line
        assert "cmc import undesa FILE" in line
    (entry,) = [e for e in SnapshotStore(tmp_path).entries() if e.source == "missing_migrants"]
    assert not entry.demonstration and entry.url == f"{base}/2023/json"
    assert entry.file == "mmp_global-figures_2023.json"
    assert (tmp_path / "missing_migrants" / entry.file).read_bytes() == real_2023
