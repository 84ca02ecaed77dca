"""IOM Missing Migrants Project: fetching the yearly incident lists, live or recorded.

``<base>/<year>/json`` (base ``https://missingmigrants.iom.int/global-figures``, setting
``CMC_MISSING_MIGRANTS_URL``) answers, without a key, a JSON list of every incident of
the year worldwide. ``parser.parse_year`` reads it; snapshot mode serves the real answers
recorded in ``snapshots/`` through the same parser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

if TYPE_CHECKING:
    import requests

BASE_URL = "https://missingmigrants.iom.int/global-figures"
API = "missing_migrants_json"
FIRST_YEAR = 2014  # the project's records start in 2014


def year_url(year: int, base: str = BASE_URL) -> str:
    return f"{base.rstrip('/')}/{year}/json"


class MissingMigrantsClient(SourceClient):
    """Fetches the yearly incident lists, live or from recorded snapshots."""

    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        first_year: int = FIRST_YEAR,
        last_year: int | None = None,
        base_url: str = BASE_URL,
    ):
        super().__init__(mode=mode, snapshots=snapshots, session=session, http_settings=http_settings)
        self.first_year = first_year
        self.last_year = last_year or datetime.now(UTC).year
        self.base_url = base_url.rstrip("/")

    def years_not_answered(self, responses: list[FetchedResponse]) -> list[int]:
        """Years from ``first_year`` to the newest one answered that have no answer: in
        snapshot mode, the years of which no real answer was recorded."""
        answered = {int(r.dataset_id) for r in responses}
        newest = max(answered, default=self.first_year - 1)
        return [y for y in range(self.first_year, newest + 1) if y not in answered]

    def fetch_all(self) -> list[FetchedResponse]:
        """One response per year: every recorded year in snapshot mode, else first..last."""
        if self.mode == "snapshot":
            entries = sorted(
                (e for e in self.snapshots.entries() if e.api == API), key=lambda e: int(e.dataset)
            )
            return [
                FetchedResponse(
                    source="missing_migrants",
                    api=API,
                    dataset_id=e.dataset,
                    url=e.url,
                    body=self.snapshots.read(e),
                    retrieved_at=e.retrieved_at,
                    demonstration=e.demonstration,
                    suffix=".json",
                )
                for e in entries
            ]
        return [self.fetch_year(year) for year in range(self.first_year, self.last_year + 1)]

    def fetch_year(self, year: int) -> FetchedResponse:
        url = year_url(year, self.base_url)
        response = http.get(self.session, url, self.http_settings)
        if response.status_code != 200:
            raise SourceHTTPError(url, response.status_code, http.describe_body(response.content))
        return FetchedResponse(
            source="missing_migrants",
            api=API,
            dataset_id=str(year),
            url=url,
            body=response.content,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".json",
        )
