"""UN DESA International Migrant Stock: the official "destination and origin" workbook.

There is no API: UN DESA publishes XLSX files
(``undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx``). Sheet "Table 1" has
about ten title rows (some merged across the table), then a header row naming the
destination and origin columns ("Region, development group, country or area of
destination", "Location code of destination" …) followed by three blocks of years
(1990, 1995 … 2020, 2024) for both sexes, males and females; the block names sit in
merged cells on the row above the years. The reader finds that header row by its labels
rather than trusting an offset, because the number of title rows changes between
editions.

Locations are UN M49 codes. Countries are mapped to ISO3 through the ISO 3166 numeric
codes (which M49 uses); regions and groups (World, "Latin America and the Caribbean",
income groups …) are recognised from ``reference/m49_aggregates.csv`` and excluded from
country figures explicitly. A code that is neither stops the load, naming the code and
its row: a silently dropped country would shrink every regional total.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import pandas as pd
import requests

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.reference import cmc_iso3_codes, fold_name, m49_aggregate, m49_to_iso3
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

WORKBOOK_URL = (
    "https://www.un.org/development/desa/pd/sites/www.un.org.development.desa.pd/files/"
    "undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx"
)
DATASET_ID = "ims_2024_destination_origin"
API = "undesa_file"
SHEET = "Table 1"
HEADER_SEARCH_ROWS = 40  # title rows above the header: about ten in every edition so far
MISSING_MARKERS = {"", "..", "…", "-", "–"}
SEX_BLOCKS = ("both sexes", "male", "female")

STAGING_COLUMNS = [
    "destination_code",
    "origin_code",
    "year",
    "sex",
    "destination_name",
    "destination_iso3",
    "destination_kind",
    "origin_name",
    "origin_iso3",
    "origin_kind",
    "value",
    "coverage",
    "data_type",
    "sheet",
    "source_row_number",
]


class UndesaClient(SourceClient):
    """Gets the destination-and-origin workbook, live or from the recorded snapshot."""

    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        url: str = WORKBOOK_URL,
    ):
        super().__init__(mode=mode, snapshots=snapshots, session=session, http_settings=http_settings)
        self.url = url

    def fetch(self) -> FetchedResponse:
        if self.mode == "snapshot":
            pages = self.snapshots.pages(API, DATASET_ID)
            if not pages:
                raise SourceError(
                    "no recorded UN DESA workbook in the snapshots; load the official one with "
                    "`cmc import undesa FILE`"
                )
            entry = pages[0]
            return FetchedResponse(
                source="undesa",
                api=API,
                dataset_id=DATASET_ID,
                url=entry.url,
                body=self.snapshots.read(entry),
                retrieved_at=entry.retrieved_at,
                demonstration=entry.demonstration,
                suffix=".xlsx",
            )
        response = http.get(self.session, self.url, self.http_settings)
        body = response.content
        if response.status_code != 200:
            raise SourceHTTPError(self.url, response.status_code, http.describe_body(body))
        if not body.startswith(b"PK"):
            # The UN site may answer scripts with an HTML page; a person's browser gets the file.
            raise SourceFormatError(
                f"{self.url} did not return an XLSX workbook ({http.describe_body(body, 120)}); "
                "download it in a browser and load it with `cmc import undesa FILE`"
            )
        return FetchedResponse(
            source="undesa",
            api=API,
            dataset_id=DATASET_ID,
            url=self.url,
            body=body,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".xlsx",
        )


# --- reading the workbook ------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    header_row: int  # 1-based worksheet row
    destination_name: int  # 0-based column positions
    destination_code: int
    origin_name: int
    origin_code: int
    coverage: int | None
    data_type: int | None
    value_columns: tuple[tuple[int, int, str], ...]  # (column, year, sex block)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _as_year(value) -> int | None:
    text = _text(value)
    if re.fullmatch(r"(19|20)\d\d(\.0)?", text):
        return int(float(text))
    return None


def column_letter(position: int) -> str:
    """Spreadsheet letter of a 0-based column position (0 → A, 27 → AB)."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _sex_block(text: str) -> str | None:
    folded = fold_name(text)
    if "both sexes" in folded:
        return "both sexes"
    if re.search(r"\bfemales?\b", folded):
        return "female"
    if re.search(r"\bmales?\b", folded):
        return "male"
    return None


def _find_layout(rows: list[tuple], origin: str) -> _Layout:
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        labels = [fold_name(_text(v)) for v in row]
        names = [
            i for i, t in enumerate(labels) if t.startswith("region, development group, country or area")
        ]
        codes = [i for i, t in enumerate(labels) if t.startswith("location code")]
        if len(names) < 2 or len(codes) < 2:
            continue
        destination_name = next((i for i in names if "destination" in labels[i]), names[0])
        origin_name = next((i for i in names if "origin" in labels[i]), names[1])
        destination_code = next((i for i in codes if "destination" in labels[i]), codes[0])
        origin_code = next((i for i in codes if "origin" in labels[i]), codes[1])
        coverage = next((i for i, t in enumerate(labels) if "coverage" in t or t.startswith("notes")), None)
        data_type = next((i for i, t in enumerate(labels) if "data type" in t or "type of data" in t), None)
        years = [(i, _as_year(v)) for i, v in enumerate(row) if _as_year(v) is not None]
        value_columns = _assign_sex_blocks(rows, index, years, origin)
        return _Layout(
            header_row=index + 1,
            destination_name=destination_name,
            destination_code=destination_code,
            origin_name=origin_name,
            origin_code=origin_code,
            coverage=coverage,
            data_type=data_type,
            value_columns=value_columns,
        )
    raise SourceFormatError(
        f"{origin}: no header row in the first {HEADER_SEARCH_ROWS} rows: expected one with "
        "'Region, development group, country or area of destination/origin' and "
        "'Location code of destination/origin' columns"
    )


def _assign_sex_blocks(
    rows: list[tuple], header_index: int, years: list[tuple[int, int]], origin: str
) -> tuple[tuple[int, int, str], ...]:
    if not years:
        raise SourceFormatError(f"{origin}: the header row (row {header_index + 1}) has no year columns")
    # The block names ("… both sexes", "… males", "… females") are merged cells on a row
    # above the years: a merged cell holds its text in its first column only, so carry
    # each name to the right.
    for above in range(header_index - 1, max(header_index - 3, -1), -1):
        current: str | None = None
        blocks: dict[int, str] = {}
        for position, value in enumerate(rows[above]):
            found = _sex_block(_text(value))
            current = found or current
            if current:
                blocks[position] = current
        if all(position in blocks for position, _ in years):
            return tuple((position, year, blocks[position]) for position, year in years)
    # No block names: the three blocks follow each other, each restarting at the first year.
    block, assigned, previous = 0, [], None
    for position, year in years:
        if previous is not None and year <= previous:
            block += 1
        previous = year
        if block >= len(SEX_BLOCKS):
            raise SourceFormatError(f"{origin}: more than three blocks of years in row {header_index + 1}")
        assigned.append((position, year, SEX_BLOCKS[block]))
    return tuple(assigned)


def _location(code_text: str, name: str) -> tuple[str | None, str]:
    """(ISO3 or None, kind) of an M49 code; kind is 'country' or the aggregate's kind."""
    aggregate = m49_aggregate(code_text)
    if aggregate is not None:
        return None, aggregate.kind
    iso3 = m49_to_iso3(code_text)
    return (iso3, "country") if iso3 else (None, "unknown")


def parse_workbook(body: bytes, *, origin: str, sheet: str = SHEET) -> tuple[pd.DataFrame, dict[str, int]]:
    """Staging rows (``STAGING_COLUMNS``) for every pair with a CMC country at one end.

    Returns the rows and counts of what was left out, by reason.
    """
    from openpyxl import load_workbook  # heavy; only needed when a workbook is read

    try:
        workbook = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceFormatError(f"{origin}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if sheet not in workbook.sheetnames:
            raise SourceFormatError(
                f"{origin}: no sheet named {sheet!r} (the workbook has {workbook.sheetnames}); "
                "is this the 'destination and origin' workbook of the International Migrant Stock?"
            )
        rows = list(workbook[sheet].iter_rows(values_only=True))
    finally:
        workbook.close()
    where = f"{origin}, sheet {sheet!r}"
    layout = _find_layout(rows, where)
    cmc = set(cmc_iso3_codes())

    records: list[dict] = []
    unknown: list[str] = []
    skipped = {"pairs without a CMC country": 0, "rows without location codes (notes)": 0}
    for index in range(layout.header_row, len(rows)):
        row = rows[index]
        row_number = index + 1

        def cell(position: int | None, row=row) -> str:
            return _text(row[position]) if position is not None and position < len(row) else ""

        destination_text, origin_text = cell(layout.destination_code), cell(layout.origin_code)
        if not destination_text and not origin_text:
            skipped["rows without location codes (notes)"] += 1
            continue
        ends = {}
        for end, code_text, name in (
            ("destination", destination_text, cell(layout.destination_name)),
            ("origin", origin_text, cell(layout.origin_name)),
        ):
            if not re.fullmatch(r"\d+(\.0)?", code_text):
                raise SourceFormatError(
                    f"{where}, row {row_number}, column {column_letter(getattr(layout, end + '_code'))}: "
                    f"location code of {end} {code_text!r} is not an M49 number"
                )
            code = str(int(float(code_text)))
            iso3, kind = _location(code, name)
            if kind == "unknown":
                unknown.append(f"row {row_number}: location code {code} ({name!r}) of {end}")
            ends[end] = (code, name, iso3, kind)
        if len(ends) < 2:
            continue
        (d_code, d_name, d_iso3, d_kind), (o_code, o_name, o_iso3, o_kind) = (
            ends["destination"],
            ends["origin"],
        )
        if d_iso3 not in cmc and o_iso3 not in cmc:
            skipped["pairs without a CMC country"] += 1
            continue
        for position, year, sex in layout.value_columns:
            records.append(
                {
                    "destination_code": d_code,
                    "origin_code": o_code,
                    "year": year,
                    "sex": sex,
                    "destination_name": d_name,
                    "destination_iso3": d_iso3,
                    "destination_kind": d_kind,
                    "origin_name": o_name,
                    "origin_iso3": o_iso3,
                    "origin_kind": o_kind,
                    "value": _value(row, position, where, row_number, year, sex),
                    "coverage": cell(layout.coverage) or None,
                    "data_type": cell(layout.data_type) or None,
                    "sheet": sheet,
                    "source_row_number": row_number,
                }
            )
    if unknown:
        raise SourceFormatError(
            f"{where}: M49 codes that are neither a country with an ISO 3166 code nor a region or "
            "group listed in cmc_pipeline/reference/m49_aggregates.csv (add them there if they "
            "are aggregates):\n  " + "\n  ".join(unknown)
        )
    frame = pd.DataFrame.from_records(records, columns=STAGING_COLUMNS)
    for column in STAGING_COLUMNS:
        if column not in ("year", "value", "source_row_number"):
            frame[column] = frame[column].astype("string")
    frame["year"] = frame["year"].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    frame["source_row_number"] = frame["source_row_number"].astype("Int64")
    return frame, {k: v for k, v in skipped.items() if v}


def _value(row: tuple, position: int, where: str, row_number: int, year: int, sex: str) -> float | None:
    raw = row[position] if position < len(row) else None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    text = _text(raw).replace(",", "").replace(" ", "")
    if text in MISSING_MARKERS:
        return None
    try:
        return float(text)
    except ValueError:
        raise SourceFormatError(
            f"{where}, row {row_number}, column {column_letter(position)} ({year}, {sex}): "
            f"{_text(raw)!r} is not a number"
        ) from None
