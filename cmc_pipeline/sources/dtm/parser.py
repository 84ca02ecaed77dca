"""Reading DTM API v3 answers: the envelope, country-level records, the country list.

Every answer is an envelope ``{"result": [...], "statusCode": 200, "isSuccess": true,
"errorMessages": [], "totalRecordsCount": N}``; a failed request may still come back as
HTTP 200 with ``isSuccess: false``, so the envelope is checked, not only the status.

Country-level (admin 0) records repeat country × operation × date × round × reason, one
record per department of origin of the displaced persons (``idpOriginAdmin1Name`` /
``idpOriginAdmin1Pcode``): that split is kept, not mistaken for duplicates.
"""

from __future__ import annotations

import json

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.steps.fetching import FetchedResponse, read_json

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
    "idp_origin_admin1_name": "idpOriginAdmin1Name",
    "idp_origin_admin1_pcode": "idpOriginAdmin1Pcode",
    "assessment_type": "assessmentType",
}
REQUIRED_FIELDS = ("admin0Pcode", "operation", "reportingDate", "numPresentIdpInd")
STAGING_COLUMNS = [*RECORD_FIELDS, "source_row_number"]
TEXT_COLUMNS = (
    "admin0_pcode",
    "operation",
    "reporting_date",
    "displacement_reason",
    "idp_origin_admin1_name",
    "idp_origin_admin1_pcode",
    "assessment_type",
)


def envelope_records(response: FetchedResponse) -> list[dict]:
    """The ``result`` list of a successful envelope; anything else is a clear error."""
    origin = f"DTM {response.dataset_id} ({response.url})"
    envelope = read_json(response.body, origin=origin)
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
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceFormatError(f"{origin}: 'result' should be a list of records")
    return records


def country_codes(response: FetchedResponse) -> set[str]:
    """The ISO3 codes (``admin0Pcode``) of a country-list or operation-list answer."""
    codes = set()
    for position, record in enumerate(envelope_records(response), start=1):
        code = record.get("admin0Pcode")
        if not isinstance(code, str) or not code.strip():
            raise SourceFormatError(
                f"DTM {response.dataset_id} ({response.url}): record {position} has no admin0Pcode: "
                f"{json.dumps(record)[:200]}"
            )
        codes.add(code.strip().upper())
    return codes


def operations_by_country(response: FetchedResponse) -> dict[str, list[str]]:
    """{ISO3: [operation (status)]} from an operation-list answer."""
    operations: dict[str, list[str]] = {}
    for record in envelope_records(response):
        code = str(record.get("admin0Pcode") or "").strip().upper()
        name = str(record.get("operation") or "").strip()
        status = str(record.get("operationStatus") or "").strip()
        if code and name:
            operations.setdefault(code, []).append(f"{name} ({status})" if status else name)
    return {code: sorted(names) for code, names in operations.items()}


def parse_admin0(response: FetchedResponse) -> pd.DataFrame:
    """Staging rows from one admin 0 answer, one per record."""
    origin = f"DTM {response.dataset_id} ({response.url})"
    rows = []
    for position, record in enumerate(envelope_records(response), start=1):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            raise SourceFormatError(
                f"{origin}: record {position} lacks {missing}: {json.dumps(record)[:200]}"
            )
        rows.append({column: record.get(field) for column, field in RECORD_FIELDS.items()})
        rows[-1]["source_row_number"] = position
    return _typed(pd.DataFrame.from_records(rows, columns=STAGING_COLUMNS))


def parse_admin0_empty() -> pd.DataFrame:
    """Staging rows of no record, typed (no CMC country has DTM figures)."""
    return _typed(pd.DataFrame(columns=STAGING_COLUMNS))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("num_present_idp_ind", "number_males", "number_females"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Float64")
    for column in ("round_number", "source_row_number"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Int64")
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype("string").str.strip().replace("", pd.NA)
    return frame
