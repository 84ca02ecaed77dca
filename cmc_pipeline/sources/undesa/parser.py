"""Reading the UN DESA International Migrant Stock workbooks as the Population Division
publishes them.

Two kinds of workbook, told apart by their header labels, never by file name:

- **by destination** (Rev.2019 ``UN_MigrantStockTotal_2019.xlsx``, Rev.2020
  ``undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx``): sheets "Table 1" … "Table 6",
  one row per region, group, country or area of destination, one column per year within
  blocks (both sexes / males / females; or one measure per block in Table 6). The layout
  changed between the revisions: in 2020 the header row holds the labels *and* the years,
  with the block names three rows higher; in 2019 the header row holds the labels and the
  block names, with the years on the row below it, and Table 2 has no "Type of data"
  column. Title rows differ in number (10 in 2020, 14 in 2019). So the header row is found
  by its labels, the years next to it, the blocks by their names above the years.
- **destination × origin** (Rev.2024 ``undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx``):
  "Table 1", one row per destination × origin pair (see ``parse_destination_origin``).

Locations are UN M49 codes in their own column: countries map to ISO3 through the ISO 3166
numeric codes (``lib.reference.m49_to_iso3``), regions and groups are recognised from
``reference/m49_aggregates.csv`` and skipped (counted). An M49 code that is neither, a
block whose sex or measure is not recognised, or a value that is not a number holds back
only what it touches (that location, or that block's columns, or that cell), listed with
the value, sheet and row; the rest of the workbook loads.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cmc_pipeline.lib.http import SourceFormatError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.raw_store import write_atomically
from cmc_pipeline.lib.reference import cmc_iso3_codes, fold_name, m49_aggregate, m49_to_iso3

HEADER_SEARCH_ROWS = 40  # title rows above the header: 10 in 2020, 14 in 2019, about ten in 2024
MISSING_MARKERS = {"", "..", "…", "-", "–"}
# Rev.2020 notes: "The tilde (~) indicates that the data are protected for privacy reasons
# because the number in the cell or the number used to derive the indicator in the cell
# is less than five." Kept as a status (confidential), not as a missing value.
CONFIDENTIAL_MARKER = "~"
SEX_BLOCKS = ("both sexes", "male", "female")

# --- what every layout shares ----------------------------------------------------------


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _as_year(value) -> int | None:
    text = _text(value)
    if re.fullmatch(r"(19|20)\d\d(\.0)?", text):
        return int(float(text))
    return None


def _is_period(value) -> bool:
    """A column of rates of change is headed by a period such as 1990-1995."""
    return re.fullmatch(r"(19|20)\d\d\s*[-–]\s*(19|20)\d\d", _text(value)) is not None


def column_letter(position: int) -> str:
    """Spreadsheet letter of a 0-based column position (0 → A, 27 → AB)."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def sex_of(text: str) -> str | None:
    """The sex a block label names ("… both sexes combined", "(male)", "… females"), else None."""
    folded = fold_name(text)
    if "both sexes" in folded:
        return "both sexes"
    if re.search(r"\bfemales?\b", folded):
        return "female"
    if re.search(r"\bmales?\b", folded):
        return "male"
    return None


def _m49(code_text: str) -> str | None:
    """The code without leading zeros or a trailing .0, or None if it is not a number."""
    if not re.fullmatch(r"\d+(\.0)?", code_text):
        return None
    return str(int(float(code_text)))


def location(code: str) -> tuple[str | None, str]:
    """(ISO3 or None, kind) of an M49 code; kind is 'country', the aggregate's kind, or 'unknown'."""
    aggregate = m49_aggregate(code)
    if aggregate is not None:
        return None, aggregate.kind
    iso3 = m49_to_iso3(code)
    return (iso3, "country") if iso3 else (None, "unknown")


def number(raw) -> tuple[float | None, bool]:
    """(value, readable): '..' and blanks are missing values; other text is unreadable."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw), True
    text = _text(raw).replace(",", "").replace(" ", "")
    if text in MISSING_MARKERS:
        return None, True
    try:
        return float(text), True
    except ValueError:
        return None, False


def _typed(records: list[dict], columns: list[str]) -> pd.DataFrame:
    """Staging rows with the types their contract gives (text as strings, even when empty)."""
    frame = pd.DataFrame.from_records(records, columns=columns)
    for column in columns:
        if column not in ("year", "value", "source_row_number"):
            frame[column] = frame[column].astype("string")
    frame["year"] = frame["year"].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    frame["source_row_number"] = frame["source_row_number"].astype("Int64")
    return frame


def open_workbook(body: bytes, origin: str) -> dict[str, list[tuple]]:
    """Every sheet's rows (values, not formulas), or a clear error if this is no workbook.

    A workbook read once is kept in ``settings.cache_dir()/workbooks`` under a digest of its
    bytes and of openpyxl's version: every build reads the same bundled workbooks, and
    openpyxl takes about half a second for the three of them, the kept rows a few
    milliseconds. A kept file that cannot be read is read again from the workbook."""
    if not body:
        raise SourceFormatError(f"{origin}: the file is empty")
    kept = _kept_rows_path(body)
    try:
        return _decode_rows(json.loads(kept.read_bytes()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # not kept yet, or not readable: read the workbook
    sheets = _read_workbook(body, origin)
    try:
        encoded = json.dumps(_encode_rows(sheets), ensure_ascii=False).encode("utf-8")
    except _NotKeepable:
        return sheets
    with contextlib.suppress(OSError):  # a cache not written only costs the next build the read
        write_atomically(kept, encoded)
    return sheets


def _read_workbook(body: bytes, origin: str) -> dict[str, list[tuple]]:
    from openpyxl import load_workbook  # heavy; only needed when a workbook is read

    try:
        workbook = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceFormatError(f"{origin}: not a readable .xlsx workbook ({exc})") from exc
    try:
        return {name: list(workbook[name].iter_rows(values_only=True)) for name in workbook.sheetnames}
    finally:
        workbook.close()


KEPT_ROWS_FORMAT = "1"  # changes with _encode_rows / _decode_rows


def _kept_rows_path(body: bytes) -> Path:
    from importlib.metadata import version

    from cmc_pipeline import settings

    digest = hashlib.sha256(body)
    digest.update(f"|openpyxl {version('openpyxl')}|{KEPT_ROWS_FORMAT}".encode())
    return settings.cache_dir() / "workbooks" / f"{digest.hexdigest()}.json"


class _NotKeepable(TypeError):
    """A cell of a type the kept rows do not write (a date without a time, a time without
    a day): such a workbook is read from itself every time."""


def _encode_rows(sheets: dict[str, list[tuple]]) -> dict:
    def cell(value):
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, datetime):
            return {"datetime": value.isoformat()}
        raise _NotKeepable(type(value).__name__)

    return {name: [[cell(v) for v in row] for row in rows] for name, rows in sheets.items()}


def _decode_rows(document: dict) -> dict[str, list[tuple]]:
    def cell(value):
        return datetime.fromisoformat(value["datetime"]) if isinstance(value, dict) else value

    return {name: [tuple(cell(v) for v in row) for row in rows] for name, rows in document.items()}


# --- by destination (Rev.2019, Rev.2020) -------------------------------------------------

# The measure a block of columns holds, from its label: measures.csv, one row per block
# UN DESA publishes, checked in file order (the share of refugees mentions the migrant
# stock, the migrant stock share mentions the population). The staging contract names the
# same file as the list of known measures.
MEASURES_FILE = Path(__file__).with_name("measures.csv")
with MEASURES_FILE.open(encoding="utf-8", newline="") as _measures:
    _MEASURE_ROWS = list(csv.DictReader(_measures))
MEASURES: tuple[tuple[str, str, bool], ...] = tuple(
    # (pattern in the folded label, measure, published by sex)
    (row["label_pattern"], row["measure"], row["published_by_sex"] == "true")
    for row in _MEASURE_ROWS
)
# Rates of change are not loaded: they are derived from the stocks, over periods (1990-1995)
# rather than years, and the warehouse can compute them from the stocks it holds.
NOT_LOADED = {row["measure"] for row in _MEASURE_ROWS if row["loaded"] != "true"}
# The unit of each loaded measure as published (total population is in thousands).
UNITS = {row["measure"]: row["staging_unit"] for row in _MEASURE_ROWS if row["loaded"] == "true"}
# measure → (indicator, unit, unit multiplier) in core.fact_observation.
INDICATORS = {
    row["measure"]: (row["indicator_id"], row["unit"], int(row["unit_multiplier"]))
    for row in _MEASURE_ROWS
    if row["loaded"] == "true"
}

DESTINATION_STAGING_COLUMNS = [
    "revision",
    "measure",
    "location_code",
    "year",
    "sex",
    "location_name",
    "country_iso3",
    "value",
    "value_marker",
    "unit",
    "notes",
    "data_type",
    "sheet",
    "table_title",
    "block_label",
    "source_row_number",
    "source_column",
]


@dataclass(frozen=True)
class _Column:
    position: int  # 0-based
    year: int | None  # None for a period column (rates of change)
    label: str  # the block label as published
    measure: str | None
    sex: str | None


@dataclass(frozen=True)
class _DestinationTable:
    sheet: str
    title: str
    header_row: int  # 1-based row of the labels
    first_data_row: int  # 1-based
    name: int
    code: int
    notes: int | None
    data_type: int | None
    columns: tuple[_Column, ...]


@dataclass
class ParsedWorkbook:
    """What a by-destination workbook gave: staging rows, and what was left out and why."""

    revision: str
    rows: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    # One row per value held back: sheet, row, column, what was not recognised.
    held_back: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HELD_BACK_COLUMNS))
    tables: dict[str, str] = field(default_factory=dict)  # sheet → title
    # CMC countries with no row in a table (sheet → ISO3 codes): the issue says every one has.
    countries_missing: dict[str, list[str]] = field(default_factory=dict)


HELD_BACK_COLUMNS = ["country_iso3", "measure", "column_name", "value", "sheet", "row", "column"]


def _is_name_label(label: str) -> bool:
    # 2020: "Region, development group, country or area"; 2019: "Major area, region,
    # country or area of destination"
    return bool(re.match(r"(major area, )?region, (development group, )?country or area", label))


def _is_code_label(label: str) -> bool:
    return label in ("code", "location code") or label.startswith("location code")


def is_destination_origin(rows: list[tuple]) -> bool:
    """True for a sheet in the destination × origin layout (two location-code columns)."""
    for row in rows[:HEADER_SEARCH_ROWS]:
        labels = [fold_name(_text(v)) for v in row]
        if sum(1 for t in labels if t.startswith("location code")) >= 2:
            return True
    return False


def _find_destination_table(sheet: str, rows: list[tuple]) -> _DestinationTable | None:
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        labels = [fold_name(_text(v)) for v in row]
        names = [i for i, t in enumerate(labels) if _is_name_label(t)]
        codes = [i for i, t in enumerate(labels) if _is_code_label(t)]
        if len(names) != 1 or len(codes) != 1:
            continue
        notes = next((i for i, t in enumerate(labels) if t.startswith("notes")), None)
        data_type = next((i for i, t in enumerate(labels) if t.startswith("type of data")), None)
        # The years: on the header row (2020) or on the row below it (2019).
        years_index = next(
            (
                i
                for i in (index, index + 1)
                if i < len(rows) and any(_as_year(v) or _is_period(v) for v in rows[i])
            ),
            None,
        )
        if years_index is None:
            continue
        year_cells = [
            (position, _as_year(value))
            for position, value in enumerate(rows[years_index])
            if _as_year(value) is not None or _is_period(value)
        ]
        labels_by_column = _block_labels(rows, years_index, index)
        columns = []
        for position, year in year_cells:
            label = labels_by_column.get(position, "")
            measure = _measure(label)
            sex = sex_of(label)
            by_sex = next((b for p, m, b in MEASURES if m == measure), True)
            if sex is None and measure is not None and not by_sex:
                sex = "female" if measure == "female_pct_of_migrant_stock" else "both sexes"
            columns.append(_Column(position, year, label, measure, sex))
        return _DestinationTable(
            sheet=sheet,
            title=_title(sheet, rows[:index]),
            header_row=index + 1,
            first_data_row=years_index + 2,
            name=names[0],
            code=codes[0],
            notes=notes,
            data_type=data_type,
            columns=tuple(columns),
        )
    return None


def _block_labels(rows: list[tuple], years_index: int, header_index: int) -> dict[int, str]:
    """Each year column's block label. The labels are merged cells above the years (on
    the header row in 2019, three rows above the years in 2020): a merged cell holds its
    text in its first column only, so each label is carried right to the next one."""
    for above in range(years_index - 1, max(years_index - 5, header_index - 5, -1), -1):
        current, found = "", {}
        for position, value in enumerate(rows[above]):
            text = _text(value)
            if _measure(text) is not None or sex_of(text) is not None:
                current = text
            elif text:
                current = ""  # a label of another kind (Notes, Code …) ends a block
            if current:
                found[position] = current
        if found:
            return found
    return {}


def _measure(label: str) -> str | None:
    folded = fold_name(label)
    return next((measure for pattern, measure, _ in MEASURES if re.search(pattern, folded)), None)


def _title(sheet: str, title_rows: list[tuple]) -> str:
    """The table's title as published ("Table 1: International migrant stock …")."""
    texts = [_text(v) for row in title_rows for v in row if _text(v)]
    return next((t for t in texts if fold_name(t).startswith(fold_name(sheet))), sheet)


def _revision(sheets: dict[str, list[tuple]], origin: str) -> str:
    """The revision the workbook says it is (POP/DB/MIG/Stock/Rev.2020)."""
    for rows in sheets.values():
        for row in rows[:HEADER_SEARCH_ROWS]:
            for value in row:
                match = re.search(r"Rev\.?\s*((?:19|20)\d\d)", _text(value))
                if match:
                    return match.group(1)
    raise SourceFormatError(
        f"{origin}: no revision found (expected a title line such as 'POP/DB/MIG/Stock/Rev.2020' "
        f"in the first {HEADER_SEARCH_ROWS} rows of a sheet)"
    )


def parse_by_destination(sheets: dict[str, list[tuple]], *, origin: str) -> ParsedWorkbook:
    """Staging rows (``DESTINATION_STAGING_COLUMNS``) for every CMC country in every table."""
    tables = [t for name, rows in sheets.items() if (t := _find_destination_table(name, rows))]
    if not tables:
        raise SourceFormatError(
            f"{origin}: no International Migrant Stock table found in sheets {list(sheets)}: expected "
            "a header row with 'Region, development group, country or area' (or 'Major area, region, "
            "country or area of destination') and 'Location code' (or 'Code') columns, "
            "and years beside it"
        )
    revision = _revision(sheets, origin)
    cmc = set(cmc_iso3_codes())
    records: list[dict] = []
    held: list[dict] = []
    skipped: dict[str, int] = {}
    missing: dict[str, list[str]] = {}
    skipped_sheets = [name for name in sheets if name not in {t.sheet for t in tables}]
    if skipped_sheets:
        skipped[f"sheets without a table by destination ({', '.join(skipped_sheets)})"] = len(skipped_sheets)

    def skip(reason: str, count: int = 1) -> None:
        skipped[reason] = skipped.get(reason, 0) + count

    for table in tables:
        rows = sheets[table.sheet]
        unknown_blocks = [
            c for c in table.columns if c.measure not in NOT_LOADED and (c.measure is None or c.sex is None)
        ]
        loaded = [c for c in table.columns if c not in unknown_blocks and c.measure not in NOT_LOADED]
        rates = [c for c in table.columns if c.measure in NOT_LOADED]
        seen: set[str] = set()
        for index in range(table.first_data_row - 1, len(rows)):
            row, row_number = rows[index], index + 1

            def cell(position: int | None, row=row) -> str:
                return _text(row[position]) if position is not None and position < len(row) else ""

            code_text, name = cell(table.code), cell(table.name)
            if not code_text:
                if name:
                    skip("headings without a location code (UN development groups …)")
                continue
            code = _m49(code_text)
            iso3, kind = location(code) if code else (None, "unknown")
            if kind == "unknown":
                held.append(
                    {
                        "country_iso3": "",
                        "measure": ", ".join(sorted({c.measure or "?" for c in loaded})),
                        "column_name": "location_code",
                        "value": f"{code_text} ({name})",
                        "sheet": table.sheet,
                        "row": row_number,
                        "column": column_letter(table.code),
                    }
                )
                continue
            if kind != "country":
                skip("regions and development or income groups (the warehouse sums countries itself)")
                continue
            if iso3 not in cmc:
                skip("countries and areas outside the CMC")
                continue
            seen.add(iso3)
            if rates:
                skip(
                    "annual rates of change, not loaded (derived from the stocks; periods, not years)",
                    len(rates),
                )
            for column in unknown_blocks:
                held.append(
                    {
                        "country_iso3": iso3,
                        "measure": column.measure or "",
                        "column_name": "block_label",
                        "value": column.label or "(no label)",
                        "sheet": table.sheet,
                        "row": table.header_row,
                        "column": column_letter(column.position),
                    }
                )
            for column in loaded:
                raw = row[column.position] if column.position < len(row) else None
                value, readable = number(raw)
                marker = _text(raw) if value is None and _text(raw) else None
                if marker == CONFIDENTIAL_MARKER:
                    readable = True
                if not readable:
                    held.append(
                        {
                            "country_iso3": iso3,
                            "measure": column.measure,
                            "column_name": "value",
                            "value": _text(raw),
                            "sheet": table.sheet,
                            "row": row_number,
                            "column": column_letter(column.position),
                        }
                    )
                    continue
                records.append(
                    {
                        "revision": revision,
                        "measure": column.measure,
                        "location_code": code,
                        "year": column.year,
                        "sex": column.sex,
                        "location_name": name,
                        "country_iso3": iso3,
                        "value": value,
                        "value_marker": marker,
                        "unit": UNITS[column.measure],
                        "notes": cell(table.notes) or None,
                        "data_type": cell(table.data_type) or None,
                        "sheet": table.sheet,
                        "table_title": table.title,
                        "block_label": column.label,
                        "source_row_number": row_number,
                        "source_column": column_letter(column.position),
                    }
                )
        absent = sorted(cmc - seen)
        if absent:
            missing[table.sheet] = absent
    frame = _typed(records, DESTINATION_STAGING_COLUMNS)
    return ParsedWorkbook(
        revision=revision,
        rows=frame,
        skipped=skipped,
        held_back=pd.DataFrame.from_records(held, columns=HELD_BACK_COLUMNS),
        tables={t.sheet: t.title for t in tables},
        countries_missing=missing,
    )


# --- destination × origin (Rev.2024) ------------------------------------------------------

ORIGIN_SHEET = "Table 1"

ORIGIN_STAGING_COLUMNS = [
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


@dataclass(frozen=True)
class _OriginLayout:
    header_row: int  # 1-based worksheet row
    destination_name: int  # 0-based column positions
    destination_code: int
    origin_name: int
    origin_code: int
    coverage: int | None
    data_type: int | None
    value_columns: tuple[tuple[int, int, str], ...]  # (column, year, sex block)


def _find_origin_layout(rows: list[tuple], origin: str) -> _OriginLayout:
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
        return _OriginLayout(
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
            found = sex_of(_text(value))
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


def parse_destination_origin(
    sheets: dict[str, list[tuple]], *, origin: str, sheet: str = ORIGIN_SHEET
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Staging rows (``ORIGIN_STAGING_COLUMNS``) for every pair with a CMC country at one end.

    Returns the rows and counts of what was left out, by reason.
    """
    if sheet not in sheets:
        raise SourceFormatError(
            f"{origin}: no sheet named {sheet!r} (the workbook has {list(sheets)}); "
            "is this the 'destination and origin' workbook of the International Migrant Stock?"
        )
    rows = sheets[sheet]
    where = f"{origin}, sheet {sheet!r}"
    layout = _find_origin_layout(rows, where)
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
            code = _m49(code_text)
            if code is None:
                raise SourceFormatError(
                    f"{where}, row {row_number}, column {column_letter(getattr(layout, end + '_code'))}: "
                    f"location code of {end} {code_text!r} is not an M49 number"
                )
            iso3, kind = location(code)
            if kind == "unknown":
                unknown.append(f"row {row_number}: location code {code} ({name!r}) of {end}")
            ends[end] = (code, name, iso3, kind)
        (d_code, d_name, d_iso3, d_kind), (o_code, o_name, o_iso3, o_kind) = (
            ends["destination"],
            ends["origin"],
        )
        if d_iso3 not in cmc and o_iso3 not in cmc:
            skipped["pairs without a CMC country"] += 1
            continue
        for position, year, sex in layout.value_columns:
            raw = row[position] if position < len(row) else None
            value, readable = number(raw)
            if not readable:
                raise SourceFormatError(
                    f"{where}, row {row_number}, column {column_letter(position)} ({year}, {sex}): "
                    f"{_text(raw)!r} is not a number"
                )
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
                    "value": value,
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
    frame = _typed(records, ORIGIN_STAGING_COLUMNS)
    return frame, {k: v for k, v in skipped.items() if v}


def parse_workbook(
    body: bytes, *, origin: str, sheet: str = ORIGIN_SHEET
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The destination × origin workbook's staging rows and skip counts (bytes in)."""
    return parse_destination_origin(open_workbook(body, origin), origin=origin, sheet=sheet)
