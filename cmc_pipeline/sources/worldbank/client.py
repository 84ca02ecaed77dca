"""World Bank Indicators API v2 and WDI bulk-download CSVs, parsed to staging rows.

The API answers ``[meta, rows]`` JSON and pages; it may also answer HTTP 200 with an
error message list, so the body's shape is checked, not only the status. Users can also
import a WDI bulk download (``API_<id>_DS2_en_csv_v2_<n>.csv``: four preamble lines, then
a wide table by year) with ``cmc import worldbank FILE``.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import requests

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient, read_csv_strict, to_float

API_BASE_URL = "https://api.worldbank.org/v2"
PER_PAGE = 500
MAX_PAGES = 200  # a guard against a server that never reports its last page

OBSERVATION_COLUMNS = [
    "country_code",
    "country_iso2",
    "country_name",
    "indicator_id",
    "indicator_name",
    "date",
    "value",
    "unit",
    "obs_status",
    "source_last_updated",
    "file_format",
    "source_row_number",
]


def api_url(
    indicator_id: str, countries: list[str], *, date_range: str, page: int, base: str = API_BASE_URL
) -> str:
    return (
        f"{base}/country/{';'.join(countries)}/indicator/{indicator_id}"
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
        self.base_url = base_url

    def fetch(self, indicator_id: str, countries: list[str]) -> list[FetchedResponse]:
        """Every page of one indicator for the given countries."""
        if self.mode == "snapshot":
            return self._from_snapshot(indicator_id)
        responses: list[FetchedResponse] = []
        page, pages = 1, 1
        while page <= pages:
            url = api_url(indicator_id, countries, date_range=self.date_range, page=page, base=self.base_url)
            response = http.get(self.session, url, self.http_settings)
            if response.status_code != 200:
                raise SourceHTTPError(url, response.status_code, http.describe_body(response.content))
            meta, _ = split_api_page(response.content, origin=url)
            pages = min(int(meta.get("pages") or 1), MAX_PAGES)
            responses.append(
                FetchedResponse(
                    source="worldbank",
                    api="worldbank_v2",
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
        pages = self.snapshots.pages("worldbank_v2", indicator_id)
        if not pages:
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
                suffix=".json",
                page=e.page,
            )
            for e in pages
        ]


def split_api_page(body: bytes, *, origin: str) -> tuple[dict, list[dict]]:
    """``(meta, rows)`` of one API page, or a clear error for any other shape."""
    if http.looks_like_html(body):
        raise SourceFormatError(f"{origin}: got an HTML page instead of JSON: {http.describe_body(body)}")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise SourceFormatError(f"{origin}: not JSON ({exc}): {http.describe_body(body)}") from exc
    # The API reports bad requests as HTTP 200 with [{"message": [{"id", "key", "value"}]}].
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and "message" in payload[0]:
        messages = "; ".join(
            f"{m.get('id', '?')} {m.get('key', '')}: {m.get('value', '')}".strip()
            for m in payload[0]["message"]
        )
        raise SourceError(f"{origin}: the World Bank API answered with an error: {messages}")
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], dict)):
        raise SourceFormatError(f"{origin}: expected a JSON array [meta, rows]: {http.describe_body(body)}")
    meta, rows = payload
    if rows is None:  # what the API sends when a query matches nothing
        rows = []
    if not isinstance(rows, list):
        raise SourceFormatError(f"{origin}: the second element should be a list of rows")
    return meta, rows


def parse_api_pages(responses: list[FetchedResponse]) -> pd.DataFrame:
    """Staging rows from all pages of one indicator."""
    records = []
    for response in responses:
        meta, rows = split_api_page(response.body, origin=response.url)
        for position, row in enumerate(rows, start=1):
            try:
                records.append(
                    {
                        "country_code": row["countryiso3code"] or row["country"]["id"],
                        "country_iso2": row["country"]["id"],
                        "country_name": row["country"]["value"],
                        "indicator_id": row["indicator"]["id"],
                        "indicator_name": row["indicator"]["value"],
                        "date": str(row["date"]),
                        "value": row["value"],
                        "unit": row.get("unit") or "",
                        "obs_status": row.get("obs_status") or "",
                        "source_last_updated": meta.get("lastupdated") or "",
                        "file_format": "api-json",
                        # page and position within it, so a bad row can be found again
                        "source_row_number": (response.page - 1) * PER_PAGE + position,
                    }
                )
            except (KeyError, TypeError) as exc:
                raise SourceFormatError(
                    f"{response.url}: row {position} lacks field {exc}: {json.dumps(row)[:200]}"
                ) from exc
    frame = pd.DataFrame.from_records(records, columns=OBSERVATION_COLUMNS)
    for column in OBSERVATION_COLUMNS:
        if column not in ("value", "source_row_number"):
            frame[column] = frame[column].astype("string")
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype("Float64")
    frame["source_row_number"] = frame["source_row_number"].astype("Int64")
    return frame


_YEAR = re.compile(r"^\d{4}$")


def parse_bulk_csv(body: bytes, *, origin: str) -> pd.DataFrame:
    """Long staging rows from a WDI bulk-download CSV (wide by year)."""
    preamble = body.decode("utf-8-sig", errors="replace").splitlines()[:4]
    if not preamble or not preamble[0].startswith('"Data Source"'):
        raise SourceFormatError(f'{origin}: not a World Bank bulk CSV (it should start with "Data Source")')
    last_updated = ""
    for line in preamble:
        if line.startswith('"Last Updated Date"'):
            last_updated = line.split(",")[1].strip('"')
    header, wide = read_csv_strict(body, origin=origin, skip_lines=4)
    required = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
    if any(c not in header for c in required):
        raise SourceFormatError(f"{origin}: the header lacks {required}")
    years = [c for c in header if _YEAR.match(c)]
    long = wide.melt(
        id_vars=[*required, "source_row_number"], value_vars=years, var_name="date", value_name="text_value"
    )
    long["value"] = to_float(long, "text_value", origin=origin)
    long = long[long["value"].notna()]
    frame = pd.DataFrame(
        {
            "country_code": long["Country Code"],
            "country_iso2": pd.NA,
            "country_name": long["Country Name"],
            "indicator_id": long["Indicator Code"],
            "indicator_name": long["Indicator Name"],
            "date": long["date"],
            "value": long["value"],
            "unit": "",
            "obs_status": "",
            "source_last_updated": last_updated,
            "file_format": "bulk-csv",
            "source_row_number": long["source_row_number"],
        }
    )
    for column in OBSERVATION_COLUMNS:
        if column not in ("value", "source_row_number"):
            frame[column] = frame[column].astype("string")
    return frame.sort_values(["country_code", "date"]).reset_index(drop=True)
