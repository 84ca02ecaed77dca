"""IOM Displacement Tracking Matrix (DTM) API v3: internally displaced persons by country.

``GET <base>/displacement/admin0?Admin0Pcode=HTI`` with a personal key in the header
``Ocp-Apim-Subscription-Key``. The answer is an envelope
``{"result": [...], "statusCode": 200, "isSuccess": true, "errorMessages": [], …}``; a
failed request may still come back as HTTP 200 with ``isSuccess: false``, so the envelope
is checked, not only the status.

The key is a personal secret: it is read from the environment by the caller, sent only in
the header, and removed from anything that could reach a message or a log.
The DTM licence forbids redistribution: nothing fetched here is ever bundled as a
snapshot, and every row is marked ``restricted``.
"""

from __future__ import annotations

import json

import pandas as pd
import requests

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.steps.fetching import FetchedResponse

BASE_URL = "https://dtmapi.iom.int/v3"
API = "dtm_v3"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEY_ENVIRONMENT_VARIABLE = "DTM_API_KEY"
RESTRICTED = "restricted"

# staging column → field of a DTM admin 0 record
RECORD_FIELDS = {
    "admin0_pcode": "admin0Pcode",
    "operation": "operation",
    "reporting_date": "reportingDate",
    "round_number": "roundNumber",
    "num_present_idp_ind": "numPresentIdpInd",
    "number_males": "numberMales",
    "number_females": "numberFemales",
    "displacement_reason": "displacementReason",
    "assessment_type": "assessmentType",
}
REQUIRED_FIELDS = ("admin0Pcode", "operation", "reportingDate", "numPresentIdpInd")
STAGING_COLUMNS = [*RECORD_FIELDS, "source_row_number"]


class DtmKeyError(SourceError):
    """The API refused the subscription key (missing, wrong or expired)."""


class DtmClient:
    """Fetches admin 0 displacement figures, one request per country."""

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
        url = f"{self.base_url}/displacement/admin0?Admin0Pcode={iso3}"
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
            dataset_id=f"admin0:{iso3}",
            url=url,
            body=body,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".json",
        )


def parse_admin0(response: FetchedResponse) -> pd.DataFrame:
    """Staging rows from one admin 0 response; a failed envelope is a clear error."""
    origin = f"DTM {response.dataset_id} ({response.url})"
    if http.looks_like_html(response.body):
        raise SourceFormatError(
            f"{origin}: got an HTML page instead of JSON: {http.describe_body(response.body)}"
        )
    try:
        envelope = json.loads(response.body)
    except ValueError as exc:
        raise SourceFormatError(f"{origin}: not JSON ({exc}): {http.describe_body(response.body)}") from exc
    if not isinstance(envelope, dict) or "isSuccess" not in envelope:
        raise SourceFormatError(
            f"{origin}: expected the DTM envelope {{result, statusCode, isSuccess, errorMessages}}: "
            f"{http.describe_body(response.body)}"
        )
    if not envelope["isSuccess"]:
        messages = envelope.get("errorMessages") or ["(no error message given)"]
        raise SourceError(
            f"{origin}: the DTM API answered isSuccess=false (statusCode {envelope.get('statusCode')}): "
            + "; ".join(str(m) for m in messages)
        )
    records = envelope.get("result") or []
    if not isinstance(records, list):
        raise SourceFormatError(f"{origin}: 'result' should be a list of records")
    rows = []
    for position, record in enumerate(records, start=1):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            raise SourceFormatError(
                f"{origin}: record {position} lacks {missing}: {json.dumps(record)[:200]}"
            )
        rows.append({column: record.get(field) for column, field in RECORD_FIELDS.items()})
        rows[-1]["source_row_number"] = position
    frame = pd.DataFrame.from_records(rows, columns=STAGING_COLUMNS)
    for column in ("num_present_idp_ind", "number_males", "number_females"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Float64")
    for column in ("round_number", "source_row_number"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Int64")
    for column in ("admin0_pcode", "operation", "reporting_date", "displacement_reason", "assessment_type"):
        frame[column] = frame[column].astype("string")
    return frame
