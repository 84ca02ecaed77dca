"""Reading a yearly answer of the Missing Migrants Project API into staging rows.

The format is taken from the real answers bundled in ``snapshots/`` (2014–2025): a JSON
list of flat objects whose values are all strings — numbers too, ``""`` when unknown —
with snake_case field names (``web_id``, ``region``, ``reported_date``, ``number_dead``,
``total_dead_and_missing``, ``cause_death``, ``location_coodinates`` in the upstream's
own spelling …). ``country_origin`` and ``region_origin`` only appear from 2025.

``web_id`` is not a record identity: IOM splits one event into several records that
share it (the same boat, different groups of victims, each with its own count), and a
few records repeat another one field for field. Every record is a count the project
publishes, so none is dropped: a record is identified by its year, its ``web_id`` and
its rank among the records of that year sharing the ``web_id`` (``record_id``).
"""

from __future__ import annotations

import html
from collections import Counter

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceFormatError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.steps.fetching import FetchedResponse, read_json

CARIBBEAN = "Caribbean"

# staging column → the API's field name
FIELDS: dict[str, str] = {
    "web_id": "web_id",
    "region": "region",
    "reported_date": "reported_date",
    "country_of_incident": "country_of_incident",
    "country_of_origin": "country_origin",
    "region_of_origin": "region_origin",
    "migration_route": "migration_route",
    "cause_of_death": "cause_death",
    "number_dead": "number_dead",
    "number_missing": "number_missing",
    "total_dead_and_missing": "total_dead_and_missing",
    "number_survivors": "number_of_survivors",
    "number_females": "number_of_female",
    "number_males": "number_of_male",
    "number_children": "number_of_children",
    "location": "location_description",
    "coordinates": "location_coodinates",
    "unsd_geographic_grouping": "unsd_geographic_grouping",
    "information_source": "information_source",
    "url": "url",
    "source_quality": "source_quality",
}
# Fields every real answer of 2014–2025 carries: a record without one is not what the API
# sends, and is refused naming the year, the record and the field.
REQUIRED_FIELDS = (
    "web_id",
    "region",
    "reported_date",
    "country_of_incident",
    "cause_death",
    "number_dead",
    "number_missing",
    "total_dead_and_missing",
)
NUMBER_COLUMNS = (
    "number_dead",
    "number_missing",
    "total_dead_and_missing",
    "number_survivors",
    "number_females",
    "number_males",
    "number_children",
)
# Free text written by IOM's editors, published with HTML entities (&amp;, &#039; …).
TEXT_WITH_ENTITIES = ("location", "information_source", "cause_of_death", "migration_route")
STAGING_COLUMNS = [
    "record_id",
    *FIELDS,
    "dataset_year",
    "source_url",
    "source_row_number",
]


def record_id(dataset_year: int | str, web_id: str, rank: int) -> str:
    """A record's identity: year, web_id, and its rank among that year's records sharing
    the web_id (1 for the first)."""
    return f"{dataset_year}/{web_id}/{rank}"


def parse_year(response: FetchedResponse) -> tuple[pd.DataFrame, int]:
    """Staging rows of one year's answer — the incidents in the Caribbean region or in a
    CMC country — and how many incidents elsewhere were left out."""
    origin = f"Missing Migrants {response.dataset_id} ({response.url})"
    records = _records(response, origin)
    year = int(response.dataset_id)

    rows, elsewhere = [], 0
    ranks: Counter[str] = Counter()
    for position, record in enumerate(records, start=1):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            raise SourceFormatError(
                f"{origin}: record {position} (web_id {record.get('web_id') or 'missing'}) has no field "
                f"{', '.join(repr(f) for f in missing)}; its fields are {sorted(record)[:30]}"
            )
        web_id = _text(record["web_id"])
        ranks[web_id] += 1
        if not _is_kept(record):
            elsewhere += 1
            continue
        row = {column: _text(record.get(field)) for column, field in FIELDS.items()}
        for column in TEXT_WITH_ENTITIES:
            if row[column] is not None:
                row[column] = html.unescape(row[column])
        for column in NUMBER_COLUMNS:
            row[column] = _number(row[column], origin, position, web_id, column)
        if row["total_dead_and_missing"] is None:
            raise SourceFormatError(
                f"{origin}: record {position} (web_id {web_id}) has an empty 'total_dead_and_missing'"
            )
        row.update(
            record_id=record_id(year, web_id, ranks[web_id]),
            dataset_year=year,
            source_url=response.url,
            source_row_number=position,
        )
        rows.append(row)
    return _typed(pd.DataFrame.from_records(rows, columns=STAGING_COLUMNS)), elsewhere


def _records(response: FetchedResponse, origin: str) -> list[dict]:
    records = read_json(response.body, origin=origin)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceFormatError(
            f"{origin}: expected a JSON list of incident records: {http.describe_body(response.body)}"
        )
    return records


def _is_kept(record: dict) -> bool:
    """The Caribbean region (incidents at sea included), and any incident in a CMC country
    whatever region IOM files it under."""
    if _text(record["region"]) == CARIBBEAN:
        return True
    country = _text(record["country_of_incident"])
    return country is not None and resolve_country(country) is not None


def _text(value) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _number(text: str | None, origin: str, position: int, web_id: str, column: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", ""))  # "1,022" in 2021
    except ValueError:
        raise SourceFormatError(
            f"{origin}: record {position} (web_id {web_id}), field {FIELDS[column]!r}: "
            f"{text!r} is not a number"
        ) from None


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in STAGING_COLUMNS:
        if column in NUMBER_COLUMNS:
            frame[column] = frame[column].astype("Float64")
        elif column in ("dataset_year", "source_row_number"):
            frame[column] = frame[column].astype("Int64")
        else:
            frame[column] = frame[column].astype("string")
    return frame
