"""``cmc snapshot record``: fetch every catalogue dataset live and keep it as the snapshot.

Run where there is internet. The recorded bodies replace the bundled ones byte-for-byte
(including any demonstration files), and the manifest marks them as real recordings.
DTM responses are never recorded: the DTM licence forbids redistribution.
"""

from __future__ import annotations

from collections.abc import Iterator

from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.lib.snapshots import SnapshotEntry, SnapshotStore
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.ilostat.client import IlostatClient
from cmc_pipeline.sources.missing_migrants import client as missing_migrants
from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient
from cmc_pipeline.sources.undesa import client as undesa
from cmc_pipeline.sources.undesa.client import UndesaClient
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.client import WorldBankClient
from cmc_pipeline.steps.fetching import FetchedResponse


def _entry(response: FetchedResponse, file: str) -> SnapshotEntry:
    return SnapshotEntry(
        source=response.source,
        dataset=response.dataset_id,
        api=response.api,
        page=response.page,
        file=file,
        url=response.url,
        retrieved_at=response.retrieved_at,
        # Live answers are never demonstration data; a body re-recorded from another
        # snapshot keeps the label it had.
        demonstration=response.demonstration,
        note="recorded live by `cmc snapshot record`",
    )


def record_all(
    store: SnapshotStore | None = None,
    ilostat_client: IlostatClient | None = None,
    worldbank_client: WorldBankClient | None = None,
    missing_migrants_client: MissingMigrantsClient | None = None,
    undesa_client: UndesaClient | None = None,
) -> Iterator[str]:
    """Record every dataset; yields one progress line per stored file."""
    store = store or SnapshotStore()
    ilostat_client = ilostat_client or IlostatClient(mode="live")
    worldbank_client = worldbank_client or WorldBankClient(mode="live")
    missing_migrants_client = missing_migrants_client or MissingMigrantsClient(mode="live")
    undesa_client = undesa_client or UndesaClient(mode="live")
    countries = cmc_iso3_codes()

    for indicator in ilostat_indicators():
        response = ilostat_client.fetch(indicator, countries)
        if response.empty_result:
            yield f"ilostat {response.dataset_id}: no data for the CMC countries; snapshot left as it was"
            continue
        file = f"{response.dataset_id}.csv"  # relative to the source's snapshot folder
        every_generation = [
            ("ilostat_bulk", indicator.bulk_dataset_id),
            ("ilostat_sdmx", indicator.sdmx_dataflow),
        ]
        store.record(every_generation, [(_entry(response, file), response.body)])
        yield f"ilostat {response.dataset_id}: {len(response.body):,} bytes → {file}"

    for indicator in worldbank_indicators():
        pages = worldbank_client.fetch(indicator.indicator_id, countries)
        # Beside the bundled downloads (another api in the manifest), which stay: snapshot
        # mode serves both and core takes the newer vintage.
        recorded = [(_entry(p, f"api_v2/{indicator.indicator_id}_p{p.page}.json"), p.body) for p in pages]
        store.record([("worldbank_v2", indicator.indicator_id)], recorded)
        total = sum(len(p.body) for p in pages)
        yield f"worldbank {indicator.indicator_id}: {len(pages)} page(s), {total:,} bytes"

    for response in missing_migrants_client.fetch_all():
        # Named like the bundled real answers, relative to the source's snapshot folder.
        file = f"mmp_global-figures_{response.dataset_id}.json"
        store.record([(missing_migrants.API, response.dataset_id)], [(_entry(response, file), response.body)])
        yield f"missing_migrants {response.dataset_id}: {len(response.body):,} bytes → {file}"

    # Past revisions never change and are read from their bundled copies; the others are
    # downloaded again, under the file names the bundle uses.
    for workbook in (w for w in undesa.WORKBOOKS if w.live):
        try:
            response = undesa_client.fetch(workbook)
        except SourceError as exc:
            # The UN site may refuse scripts; the workbook can still be loaded by hand.
            yield f"undesa {workbook.file_name}: not recorded ({exc}); snapshot left as it was"
            continue
        store.record(
            [(undesa.API, workbook.dataset_id)], [(_entry(response, workbook.file_name), response.body)]
        )
        yield f"undesa {workbook.dataset_id}: {len(response.body):,} bytes → {workbook.file_name}"
