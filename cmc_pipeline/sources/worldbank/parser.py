"""The World Bank's three formats, read as the World Bank writes them, into staging rows.

- **Indicators API v2 JSON** (the live path): ``[meta, rows]`` pages; the API may answer
  HTTP 200 with an error message list, so the body's shape is checked, not only the status.
- **WDI bulk CSV** (``API_<id>_DS2_en_csv_v2_<n>.csv``, the "CSV" download of an
  indicator's page): a preamble ("Data Source", "Last Updated Date", with blank lines
  between), then a table wide by year. Seen in the real files: with and without a UTF-8
  BOM, CRLF or LF line endings, a trailing comma on every line. The download itself is a
  ZIP holding that CSV and two ``Metadata_*`` CSVs; the ZIP is read as well.
- **WDI Excel download** (legacy ``.xls``, BIFF8): sheet ``Data`` with the same preamble
  and table (the Last Updated Date is an Excel date cell), plus ``Metadata - Countries``
  and ``Metadata - Indicators``.

Every row carries the figures' vintage (the Last Updated Date, or the API's
``lastupdated``) so that where two vintages of a series are loaded the newer wins in core
and the older stays in staging.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date
from pathlib import Path

import xlrd

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError
from cmc_pipeline.lib.kept_frames import kept_frame
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.steps import fetching
from cmc_pipeline.steps.fetching import FetchedResponse, read_csv_strict

PER_PAGE = 500

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
    "vintage",
    "file_format",
    "source_row_number",
]
# file_format values, one per format above
API_JSON, BULK_CSV, EXCEL = "api-json", "bulk-csv", "excel-xls"

ID_COLUMNS = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
_YEAR = re.compile(r"^\d{4}$")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office files (.xls)
_ZIP_MAGIC = b"PK\x03\x04"


def vintage_of(text: str, *, origin: str) -> str:
    """The ISO date of a "Last Updated Date" or ``lastupdated`` text ("2022-02-15")."""
    try:
        return date.fromisoformat(str(text).strip()[:10]).isoformat()
    except ValueError:
        raise SourceFormatError(
            f"{origin}: the Last Updated Date {text!r} is not a date (YYYY-MM-DD); "
            "without it the vintage of the figures is unknown"
        ) from None


# --- API JSON ------------------------------------------------------------------------


def split_api_page(body: bytes, *, origin: str) -> tuple[dict, list[dict]]:
    """``(meta, rows)`` of one API page, or a clear error for any other shape."""
    if not body.strip():
        raise SourceFormatError(f"{origin}: the World Bank API sent an empty answer")
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
        last_updated = meta.get("lastupdated") or ""
        vintage = vintage_of(last_updated, origin=response.url)
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
                        "source_last_updated": last_updated,
                        "vintage": vintage,
                        "file_format": API_JSON,
                        # page and position within it, so a bad row can be found again
                        "source_row_number": (response.page - 1) * PER_PAGE + position,
                    }
                )
            except (KeyError, TypeError) as exc:
                raise SourceFormatError(
                    f"{response.url}: row {position} lacks field {exc}: {json.dumps(row)[:200]}"
                ) from exc
    frame = pd.DataFrame.from_records(records, columns=OBSERVATION_COLUMNS)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise")
    return _typed(frame)


# --- the downloads: bulk CSV and Excel -------------------------------------------------


def parse_download(body: bytes, *, name: str) -> pd.DataFrame:
    """Staging rows from any World Bank download: the bulk CSV, the ZIP it comes in, or
    the legacy Excel file. The format is taken from the bytes, not from the file name.

    The rows of a download parsed once are kept under a digest of its bytes and of the
    code that parsed them (``lib/kept_frames.py``): every build reads the same bundled
    downloads, whose parsing (the whole world, every year) was a tenth of a build."""
    return kept_frame(
        "worldbank",
        body,
        lambda: _parse_download(body, origin=f"World Bank file {name}"),
        code=[Path(__file__), Path(fetching.__file__)],
        libraries=["xlrd"],
    )


def _parse_download(body: bytes, *, origin: str) -> pd.DataFrame:
    if body.startswith(_OLE2_MAGIC):
        return parse_xls(body, origin=origin)
    if body.startswith(_ZIP_MAGIC):
        return parse_bulk_csv(_csv_from_zip(body, origin=origin), origin=origin)
    return parse_bulk_csv(body, origin=origin)


def _csv_from_zip(body: bytes, *, origin: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        if any(n.startswith("xl/") for n in names):
            raise SourceFormatError(
                f"{origin}: an .xlsx workbook; the World Bank's Excel download is the legacy .xls "
                "(or use the CSV download)"
            )
        data = [n for n in names if n.startswith("API_") and n.endswith(".csv")]
        if len(data) != 1:
            raise SourceFormatError(f"{origin}: expected one API_<indicator>_….csv in the ZIP, found {names}")
        return archive.read(data[0])


def parse_bulk_csv(body: bytes, *, origin: str) -> pd.DataFrame:
    """Long staging rows from a WDI bulk-download CSV (wide by year)."""
    if not body.strip():
        raise SourceFormatError(f"{origin}: the file is empty")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceFormatError(f"{origin}: the file is not UTF-8 text") from None
    preamble: list[list[str]] = []
    for fields in csv.reader(io.StringIO(text)):
        if fields and fields[0] == "Country Name":
            break
        preamble.append(fields)
        if len(preamble) > 10:
            break
    if fields[:1] != ["Country Name"]:
        if text.startswith('"INDICATOR_CODE"'):
            raise SourceFormatError(
                f"{origin}: this is the indicator's metadata file; import the API_<indicator>_….csv beside it"
            )
        raise SourceFormatError(
            f'{origin}: not a World Bank bulk CSV (it should start with "Data Source" and have a '
            '"Country Name" header within its first lines)'
        )
    last_updated = next((f[1] for f in preamble if f[:1] == ["Last Updated Date"] and len(f) > 1), None)
    if last_updated is None:
        raise SourceFormatError(
            f'{origin}: no "Last Updated Date" line before the header; without it the vintage of '
            "the figures is unknown"
        )
    # The header's line number, counting the preamble's blank lines as the file has them.
    header_line = next(
        n for n, line in enumerate(text.split("\n")) if line.lstrip('"').startswith("Country Name")
    )
    header, wide = read_csv_strict(body, origin=origin, skip_lines=header_line)
    return _long_rows(
        header,
        wide,
        origin=origin,
        last_updated=last_updated,
        file_format=BULK_CSV,
        where=lambda row, year: f"line {row}, column {year!r}",
    )


def parse_xls(body: bytes, *, origin: str) -> pd.DataFrame:
    """Long staging rows from the WDI Excel download (legacy .xls, sheet ``Data``)."""
    log = io.StringIO()  # xlrd writes its warnings here; they explain a damaged file
    try:
        book = xlrd.open_workbook(file_contents=body, on_demand=True, logfile=log)
    # xlrd meets a truncated or damaged file with any of several exceptions (XLRDError,
    # IndexError, struct.error …), none of them about the file: name the file instead.
    except Exception as exc:
        detail = " ".join(log.getvalue().split()) or f"{type(exc).__name__}: {exc}"
        raise SourceFormatError(
            f"{origin}: not a readable .xls workbook (truncated or damaged?): {detail[:300]}"
        ) from exc
    if "Data" not in book.sheet_names():
        raise SourceFormatError(f"{origin}: no sheet named 'Data' (sheets: {book.sheet_names()})")
    sheet = book.sheet_by_name("Data")
    header_row, last_updated = None, None
    for r in range(min(sheet.nrows, 10)):
        first = str(sheet.cell_value(r, 0)).strip()
        if first == "Last Updated Date" and sheet.ncols > 1:
            cell = sheet.cell(r, 1)
            last_updated = (
                xlrd.xldate_as_datetime(cell.value, book.datemode).date().isoformat()
                if cell.ctype == xlrd.XL_CELL_DATE
                else str(cell.value)
            )
        if first == "Country Name":
            header_row = r
            break
    if header_row is None:
        raise SourceFormatError(f"{origin}: sheet 'Data' has no 'Country Name' header in its first rows")
    if last_updated is None:
        raise SourceFormatError(
            f"{origin}: sheet 'Data' has no 'Last Updated Date' above the header; without it the "
            "vintage of the figures is unknown"
        )
    header = [_header_text(v) for v in sheet.row_values(header_row)]
    rows, numbers = [], []
    for r in range(header_row + 1, sheet.nrows):
        cells = sheet.row(r)
        if all(c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK) for c in cells):
            continue
        rows.append([_cell_text(c) for c in cells])
        numbers.append(r + 1)  # the row number Excel shows
    wide = pd.DataFrame(rows, columns=header, dtype="string")
    wide["source_row_number"] = pd.array(numbers, dtype="Int64")
    return _long_rows(
        header,
        wide,
        origin=f"{origin}, sheet 'Data'",
        last_updated=last_updated,
        file_format=EXCEL,
        where=lambda row, year: f"row {row}, column {year!r}",
    )


def _header_text(value) -> str:
    # Year headers are text in the real files; a re-saved file may hold them as numbers.
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()


def _cell_text(cell) -> str:
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        return repr(cell.value)  # repr keeps every digit of the double
    return str(cell.value).strip()


def _long_rows(header, wide: pd.DataFrame, *, origin, last_updated, file_format, where) -> pd.DataFrame:
    missing = [c for c in ID_COLUMNS if c not in header]
    if missing:
        raise SourceFormatError(f"{origin}: the header lacks {missing}")
    vintage = vintage_of(last_updated, origin=origin)
    years = [c for c in header if _YEAR.match(c)]
    long = wide.melt(
        id_vars=[*ID_COLUMNS, "source_row_number"], value_vars=years, var_name="date", value_name="text"
    )
    text = long["text"].fillna("").str.strip()
    long = long[text != ""]
    values = pd.to_numeric(text[text != ""], errors="coerce")
    bad = values.isna()
    if bad.any():
        first = long[bad].iloc[0]
        raise SourceFormatError(
            f"{origin}: {where(first['source_row_number'], first['date'])}: {first['text']!r} is not a "
            f"number ({int(bad.sum())} such values)"
        )
    frame = pd.DataFrame(
        {
            "country_code": long["Country Code"],
            "country_iso2": pd.NA,
            "country_name": long["Country Name"],
            "indicator_id": long["Indicator Code"],
            "indicator_name": long["Indicator Name"],
            "date": long["date"],
            "value": values,
            "unit": "",
            "obs_status": "",
            "source_last_updated": last_updated,
            "vintage": vintage,
            "file_format": file_format,
            "source_row_number": long["source_row_number"],
        }
    )
    return _typed(frame).sort_values(["country_code", "date"]).reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in OBSERVATION_COLUMNS:
        if column not in ("value", "source_row_number"):
            frame[column] = frame[column].astype("string")
    frame["value"] = frame["value"].astype("Float64")
    frame["source_row_number"] = frame["source_row_number"].astype("Int64")
    return frame
