"""IOM Missing Migrants Project: incidents in which migrants died or went missing.

``https://missingmigrants.iom.int/global-figures/<year>/json`` answers, without a key, a
JSON list of flat records whose values are all strings (numbers too, "" when unknown),
one record per incident worldwide. Caribbean incidents are those whose region of
incident is "Caribbean".

The project has renamed its columns over the years ("Region" / "Region of Incident",
"Number Dead" / "Number of Dead" …), so each field is looked up under every name it has
been published with (``FIELD_NAMES``). A record that lacks a required field under all of
its names stops the load, naming the year, the record and the field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import requests

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

BASE_URL = "https://missingmigrants.iom.int/global-figures"
API = "missing_migrants_json"
FIRST_YEAR = 2014  # the project's records start in 2014
CARIBBEAN = "Caribbean"

# staging column → names the project has published the field under, newest first.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "incident_id": ("Incident ID", "Main ID", "Web ID"),
    "region": ("Region of Incident", "Region"),
    "incident_year": ("Incident Year", "Reported Year"),
    "incident_date": ("Incident Date", "Reported Date"),
    "country_of_incident": ("Country of Incident",),
    "country_of_origin": ("Country of Origin",),
    "migration_route": ("Migration Route",),
    "cause_of_death": ("Cause of Death",),
    "number_dead": ("Number of Dead", "Number Dead"),
    "number_missing": ("Minimum Estimated Number of Missing",),
    "total_dead_and_missing": ("Total Number of Dead and Missing", "Total Dead and Missing"),
    "number_survivors": ("Number of Survivors",),
    "number_females": ("Number of Females",),
    "number_males": ("Number of Males",),
    "number_children": ("Number of Children",),
    "location": ("Location of Incident", "Location Description"),
    "coordinates": ("Coordinates", "Location Coordinates"),
    "information_source": ("Information Source",),
    "source_quality": ("Source Quality",),
}
# Without these a Caribbean incident cannot be placed or counted.
REQUIRED_FIELDS = (
    "incident_id",
    "region",
    "incident_year",
    "country_of_incident",
    "cause_of_death",
    "total_dead_and_missing",
)
NUMBER_FIELDS = (
    "number_dead",
    "number_missing",
    "total_dead_and_missing",
    "number_survivors",
    "number_females",
    "number_males",
    "number_children",
)
STAGING_COLUMNS = [*FIELD_NAMES, "dataset_year", "source_row_number"]


def year_url(year: int, base: str = BASE_URL) -> str:
    return f"{base}/{year}/json"


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
        self.base_url = base_url

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


def _field(record: dict, column: str) -> tuple[bool, str]:
    for name in FIELD_NAMES[column]:
        if name in record:
            value = record[name]
            return True, "" if value is None else str(value).strip()
    return False, ""


def parse_year(response: FetchedResponse) -> tuple[pd.DataFrame, int]:
    """Staging rows of the Caribbean incidents in one year's list, and how many incidents
    of other regions were left out."""
    origin = f"Missing Migrants {response.dataset_id} ({response.url})"
    if http.looks_like_html(response.body):
        raise SourceFormatError(
            f"{origin}: got an HTML page instead of JSON: {http.describe_body(response.body)}"
        )
    try:
        records = json.loads(response.body)
    except ValueError as exc:
        raise SourceFormatError(f"{origin}: not JSON ({exc}): {http.describe_body(response.body)}") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceFormatError(
            f"{origin}: expected a JSON list of incident records: {http.describe_body(response.body)}"
        )

    rows, other_regions = [], 0
    for position, record in enumerate(records, start=1):
        present, region = _field(record, "region")
        if not present:
            raise _missing_field(origin, position, record, "region")
        if region != CARIBBEAN:
            other_regions += 1
            continue
        row = {"dataset_year": int(response.dataset_id), "source_row_number": position}
        for column in FIELD_NAMES:
            present, value = _field(record, column)
            if not present and column in REQUIRED_FIELDS:
                raise _missing_field(origin, position, record, column)
            row[column] = value or None
        for column in NUMBER_FIELDS:
            row[column] = _number(row[column], origin, position, row["incident_id"], column)
        if row["total_dead_and_missing"] is None:
            raise SourceFormatError(
                f"{origin}: record {position} (incident {row['incident_id']}) has no "
                f"{FIELD_NAMES['total_dead_and_missing'][0]!r} value"
            )
        rows.append(row)

    frame = pd.DataFrame.from_records(rows, columns=STAGING_COLUMNS)
    for column in STAGING_COLUMNS:
        if column in NUMBER_FIELDS:
            frame[column] = frame[column].astype("Float64")
        elif column in ("dataset_year", "source_row_number"):
            frame[column] = frame[column].astype("Int64")
        else:
            frame[column] = frame[column].astype("string")
    return frame, other_regions


def _missing_field(origin: str, position: int, record: dict, column: str) -> SourceFormatError:
    _, incident = _field(record, "incident_id")
    names = " / ".join(repr(n) for n in FIELD_NAMES[column])
    return SourceFormatError(
        f"{origin}: record {position} (incident {incident or 'without an id'}) has no field {names}; "
        f"its fields are {sorted(record)[:30]}"
    )


def _number(text: str | None, origin: str, position: int, incident: str, column: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        raise SourceFormatError(
            f"{origin}: record {position} (incident {incident}), field {FIELD_NAMES[column][0]!r}: "
            f"{text!r} is not a number"
        ) from None
