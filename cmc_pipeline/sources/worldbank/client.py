"""Fetching World Bank figures: the Indicators API v2 live, or the bundled recordings.

Live mode pages through the API (``CMC_WORLDBANK_URL``, default the World Bank's own).
Snapshot mode serves what ``snapshots/manifest.json`` lists for an indicator: the real
downloads bundled there (``worldbank_bulk`` CSVs, ``worldbank_xls`` Excel files — one
response per file, each its own vintage) and, for the series with no real file, API pages
of demonstration data (``worldbank_v2``). Whatever comes back is read by ``parser.py``,
the same code ``cmc import worldbank FILE`` uses.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.worldbank import parser
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

if TYPE_CHECKING:
    import requests

API_BASE_URL = "https://api.worldbank.org/v2"
PER_PAGE = parser.PER_PAGE
MAX_PAGES = 200  # a guard against a server that never reports its last page

# The snapshot "APIs": how each recorded body is read.
API_PAGES = "worldbank_v2"
BULK_DOWNLOAD = "worldbank_bulk"
EXCEL_DOWNLOAD = "worldbank_xls"
DOWNLOADS = (BULK_DOWNLOAD, EXCEL_DOWNLOAD)


def api_url(
    indicator_id: str, countries: list[str], *, date_range: str, page: int, base: str = API_BASE_URL
) -> str:
    return (
        f"{base.rstrip('/')}/country/{';'.join(countries)}/indicator/{indicator_id}"
        f"?format=json&date={date_range}&per_page={PER_PAGE}&page={page}"
    )


class WorldBankClient(SourceClient):
    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        date_range: str = "2000:2024",
        base_url: str = API_BASE_URL,
    ):
        super().__init__(mode=mode, snapshots=snapshots, session=session, http_settings=http_settings)
        self.date_range = date_range
        self.base_url = base_url or API_BASE_URL

    def fetch(self, indicator_id: str, countries: list[str]) -> list[FetchedResponse]:
        """Every page of one indicator for the given countries (live), or every recorded
        body of it (snapshot: API pages and bundled downloads)."""
        if self.mode == "snapshot":
            return self._from_snapshot(indicator_id)
        responses: list[FetchedResponse] = []
        page, pages = 1, 1
        while page <= pages:
            url = api_url(indicator_id, countries, date_range=self.date_range, page=page, base=self.base_url)
            response = http.get(self.session, url, self.http_settings)
            if response.status_code != 200:
                raise SourceHTTPError(url, response.status_code, http.describe_body(response.content))
            meta, _ = parser.split_api_page(response.content, origin=url)
            pages = min(int(meta.get("pages") or 1), MAX_PAGES)
            responses.append(
                FetchedResponse(
                    source="worldbank",
                    api=API_PAGES,
                    dataset_id=indicator_id,
                    url=url,
                    body=response.content,
                    retrieved_at=utc_now_iso(),
                    demonstration=False,
                    suffix=".json",
                    page=page,
                )
            )
            page += 1
        return responses

    def _from_snapshot(self, indicator_id: str) -> list[FetchedResponse]:
        entries = [e for api in (*DOWNLOADS, API_PAGES) for e in self.snapshots.pages(api, indicator_id)]
        if not entries:
            raise SourceError(
                f"no recorded World Bank snapshot for {indicator_id} "
                "(run `cmc snapshot record` where there is internet)"
            )
        return [
            FetchedResponse(
                source="worldbank",
                api=e.api,
                dataset_id=indicator_id,
                url=e.url,
                body=self.snapshots.read(e),
                retrieved_at=e.retrieved_at,
                demonstration=e.demonstration,
                suffix=PurePosixPath(e.file).suffix or ".json",
                page=e.page,
            )
            for e in entries
        ]


def parse_response(response: FetchedResponse):
    """Staging rows of one fetched body, by the format it was recorded in."""
    if response.api in DOWNLOADS:
        # The bundled file's own name, as a user importing it would see it.
        return parser.parse_download(response.body, name=PurePosixPath(response.url).name)
    return parser.parse_api_pages([response])
