"""IOM Displacement Tracking Matrix (DTM) API v3: internally displaced persons by country.

``GET <base>/displacement/admin0?Admin0Pcode=HTI`` (and ``/displacement/country-list``,
``/displacement/operation-list``) with a personal key in the header
``Ocp-Apim-Subscription-Key``; ``<base>`` is ``https://dtmapi.iom.int/v3`` unless
``CMC_DTM_URL`` says otherwise. The answer is an envelope
``{"result": [...], "statusCode": 200, "isSuccess": true, "errorMessages": [], …}``; a
failed request may still come back as HTTP 200 with ``isSuccess: false``, so the envelope
is checked, not only the status.

The key is a personal secret: it is read from the environment by the caller, sent only in
the header, and removed from anything that could reach a message or a log.
The DTM licence forbids redistribution: nothing fetched here is ever bundled as a
snapshot, and every row is marked ``restricted``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.steps.fetching import FetchedResponse

if TYPE_CHECKING:
    import requests

BASE_URL = "https://dtmapi.iom.int/v3"
API = "dtm_v3"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEY_ENVIRONMENT_VARIABLE = "DTM_API_KEY"
RESTRICTED = "restricted"


class DtmKeyError(SourceError):
    """The API refused the subscription key (missing, wrong or expired)."""


class DtmClient:
    """Fetches the country and operation lists, and admin 0 figures one country at a time."""

    def __init__(
        self,
        api_key: str,
        *,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        base_url: str = BASE_URL,
    ):
        if not api_key:
            raise ValueError(f"the DTM API needs a subscription key ({KEY_ENVIRONMENT_VARIABLE})")
        self._api_key = api_key
        self.http_settings = http_settings or http.HttpSettings()
        self._session = session
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:  # never show the key, even in a traceback's locals
        return f"DtmClient(base_url={self.base_url!r}, api_key=<hidden>)"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = http.make_session(self.http_settings)
        return self._session

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "<hidden>")

    def fetch_admin0(self, iso3: str) -> FetchedResponse:
        """Country-level records of one country (every operation, round and origin)."""
        return self._fetch(f"displacement/admin0?Admin0Pcode={iso3}", f"admin0:{iso3}")

    def fetch_country_list(self) -> FetchedResponse:
        """The countries DTM publishes figures for through the API."""
        return self._fetch("displacement/country-list", "country-list")

    def fetch_operation_list(self) -> FetchedResponse:
        """DTM's operations, each with its country and status."""
        return self._fetch("displacement/operation-list", "operation-list")

    def _fetch(self, path: str, dataset_id: str) -> FetchedResponse:
        url = f"{self.base_url}/{path}"
        try:
            response = http.get(self.session, url, self.http_settings, headers={KEY_HEADER: self._api_key})
        except SourceError as exc:
            raise SourceError(self._redact(str(exc))) from None
        body = response.content
        if response.status_code in (401, 403):
            raise DtmKeyError(
                f"the DTM API refused the subscription key (HTTP {response.status_code} from {url}): "
                f"{self._redact(http.describe_body(body))}. Check {KEY_ENVIRONMENT_VARIABLE}: register "
                "or renew a key on the DTM API portal."
            )
        if response.status_code != 200:
            raise SourceError(
                f"HTTP {response.status_code} from {url}: {self._redact(http.describe_body(body))}"
            )
        return FetchedResponse(
            source="dtm",
            api=API,
            dataset_id=dataset_id,
            url=url,
            body=body,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".json",
        )
