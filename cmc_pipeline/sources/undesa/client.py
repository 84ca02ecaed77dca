"""UN DESA International Migrant Stock: getting the published workbooks.

There is no API: the Population Division publishes XLSX files. The pipeline reads three:

- Rev.2020 by sex and destination (``undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx``)
  and Rev.2019 (``UN_MigrantStockTotal_2019.xlsx``, bundled as
  ``undesa_pd_2019_migrant_stock_total_dataset.xlsx``): the real workbooks, bundled with
  their provenance in ``snapshots/``;
- Rev.2024 destination × origin (``undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx``):
  no real copy is available offline, so the bundled one is demonstration data.

Live mode downloads a workbook from ``<base URL>/<file name>``; the base URL is the
Population Division's files folder unless ``CMC_UNDESA_URL`` (or the resource's
``base_url``) says otherwise. A past revision never changes, and Rev.2019 was published at
another address, so it is always read from the bundled copy. Parsing is in ``parser.py``:
the same code reads a snapshot, a download and a user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources import origin
from cmc_pipeline.sources.undesa.parser import ORIGIN_SHEET as SHEET  # noqa: F401  (the demo generator's name)
from cmc_pipeline.sources.undesa.parser import column_letter  # noqa: F401
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

if TYPE_CHECKING:
    import requests

API = "undesa_file"
BASE_URL_SETTING = "CMC_UNDESA_URL"


def default_base_url() -> str:
    return origin("undesa").urls["files"]


@dataclass(frozen=True)
class Workbook:
    dataset_id: str
    file_name: str  # as the Population Division publishes it under the base URL
    live: bool  # False: a past revision, always read from the bundled copy


DESTINATION_2020 = Workbook(
    "ims_2020_destination", "undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx", True
)
DESTINATION_2019 = Workbook("ims_2019_destination", "UN_MigrantStockTotal_2019.xlsx", False)
DESTINATION_ORIGIN_2024 = Workbook(
    "ims_2024_destination_origin", "undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx", True
)
# Oldest first: when two revisions give the same figure, the newer one wins in the core.
WORKBOOKS = (DESTINATION_2019, DESTINATION_2020, DESTINATION_ORIGIN_2024)
DATASET_ID = DESTINATION_ORIGIN_2024.dataset_id
WORKBOOK_URL = f"{default_base_url()}/{DESTINATION_ORIGIN_2024.file_name}"


class UndesaClient(SourceClient):
    """Gets the International Migrant Stock workbooks, live or from the recorded snapshots."""

    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        base_url: str | None = None,
    ):
        super().__init__(mode=mode, snapshots=snapshots, session=session, http_settings=http_settings)
        self.base_url = (base_url or default_base_url()).rstrip("/")

    def url(self, workbook: Workbook) -> str:
        return f"{self.base_url}/{workbook.file_name}"

    def fetch_all(self) -> list[FetchedResponse]:
        """Every workbook the pipeline reads, oldest revision first."""
        return [self.fetch(workbook) for workbook in WORKBOOKS]

    def fetch(self, workbook: Workbook = DESTINATION_ORIGIN_2024) -> FetchedResponse:
        if self.mode == "snapshot" or not workbook.live:
            pages = self.snapshots.pages(API, workbook.dataset_id)
            if not pages:
                raise SourceError(
                    f"no recorded UN DESA workbook {workbook.file_name} in the snapshots; load the "
                    "official one with `cmc import undesa FILE`"
                )
            entry = pages[0]
            return FetchedResponse(
                source="undesa",
                api=API,
                dataset_id=workbook.dataset_id,
                url=entry.url,
                body=self.snapshots.read(entry),
                retrieved_at=entry.retrieved_at,
                demonstration=entry.demonstration,
                suffix=".xlsx",
            )
        url = self.url(workbook)
        response = http.get(self.session, url, self.http_settings)
        body = response.content
        if response.status_code != 200:
            raise SourceHTTPError(url, response.status_code, http.describe_body(body))
        if not body:
            raise SourceFormatError(f"{url} answered with an empty body instead of an XLSX workbook")
        if not body.startswith(b"PK"):
            # The UN site may answer scripts with an HTML page; a person's browser gets the file.
            raise SourceFormatError(
                f"{url} did not return an XLSX workbook ({http.describe_body(body, 120)}); "
                "download it in a browser and load it with `cmc import undesa FILE`"
            )
        return FetchedResponse(
            source="undesa",
            api=API,
            dataset_id=workbook.dataset_id,
            url=url,
            body=body,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".xlsx",
        )
