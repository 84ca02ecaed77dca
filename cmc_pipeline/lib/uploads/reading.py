"""Reading a national upload into a table of text cells, whatever Excel or a ministry's
system wrote, and refusing what is not a data file.

Accepted: CSV in UTF-8, UTF-8 with BOM or Windows-1252 (what Excel's "CSV" writes on
Windows), comma or semicolon separated; XLSX with the header row found below any title
rows. Refused with a message a data officer can act on: empty or header-only files,
binary files with a .csv name, an XLSX that is not a zip or whose uncompressed size is
out of proportion (a "zip bomb"), merged cells inside the data, formulas in cells.

Every cell is kept as text here; types, codes and ranges are the contract's business
(``lib/quality``). Each row carries ``source_row_number``: the line or spreadsheet row a
person sees when they open the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cmc_pipeline.lib.lazy import numpy as np
from cmc_pipeline.lib.lazy import pyarrow as pa
from cmc_pipeline.lib.lazy import pyarrow_compute as pc

MAX_XLSX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_XLSX_COMPRESSION_RATIO = 200  # real workbooks compress 5-20×; bombs by thousands
HEADER_SEARCH_ROWS = 30
FOOTNOTE_PREFIXES = ("source", "note", "notes", "*", "footnote", "prepared by")
# Where the fast CSV reader looks for the header: the first lines, up to this many bytes.
HEAD_BYTES = 1 << 20


class UploadReadError(ValueError):
    """The file cannot be read as a table. ``problems`` say where and why."""

    def __init__(self, file_name: str, problems: list[dict]):
        self.file_name = file_name
        self.problems = problems
        lines = "; ".join(_describe(p) for p in problems)
        super().__init__(f"{file_name}: {lines}")


def _describe(problem: dict) -> str:
    where = []
    if problem.get("row") is not None:
        where.append(f"row {problem['row']}")
    if problem.get("column"):
        where.append(f"column {problem['column']!r}")
    place = (" (" + ", ".join(where) + ")") if where else ""
    return f"{problem['message']}{place}"


@dataclass
class UploadTable:
    """The cells of an upload, as text, with where they came from.

    The cells stay in Arrow from the reader to the warehouse: the contract's rules run on
    them in DuckDB and the accepted rows are inserted from them, with no pandas copy of a
    million-row file on the way (docs/benchmarks.md, "uploads").
    """

    file_name: str
    rows: pa.Table  # text columns named as in the header, plus source_row_number (int64)
    file_format: str  # csv or xlsx
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_row: int = 1
    ignored_rows: list[dict] = field(default_factory=list)  # footnotes skipped, with their row


def read_upload(
    path: Path, *, expected_columns: list[str], allow_footnotes: bool = False, display_name: str | None = None
) -> UploadTable:
    """Read a CSV or XLSX upload whose header must name some of ``expected_columns``."""
    path = Path(path)
    name = display_name or path.name
    body = path.read_bytes()
    if not body or body.isspace():  # isspace stops at the first character, strip would copy
        raise UploadReadError(name, [{"message": "the file is empty"}])
    if body.startswith(b"PK\x03\x04"):
        return _read_xlsx(path, name, expected_columns, allow_footnotes)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise UploadReadError(
            name, [{"message": "the file has an .xlsx name but is not an Excel workbook (not a zip archive)"}]
        )
    return _read_csv(body, name, expected_columns, allow_footnotes)


# --- CSV --------------------------------------------------------------------------------


def _as_utf8(body: bytes, name: str) -> tuple[bytes, str]:
    """The file's bytes in UTF-8 without a byte-order mark, and the encoding it came in."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode Text" and some database exports: readable, but not a CSV encoding
        # the region's tools agree on.
        raise UploadReadError(
            name,
            [
                {
                    "message": "the text is in UTF-16 (Excel's 'Unicode Text'); save it as "
                    "'CSV UTF-8 (Comma delimited)' and send it again"
                }
            ],
        )
    if b"\x00" in body[:8192]:
        raise UploadReadError(
            name,
            [{"message": "this is a binary file, not a CSV text file (was a workbook renamed to .csv?)"}],
        )
    body = body.removeprefix(codecs.BOM_UTF8)
    if body.isascii():  # most files: UTF-8 without a byte to check (50 times quicker than decoding)
        return body, "utf-8"
    try:
        body.decode("utf-8")  # only to know it is UTF-8: the readers take the bytes
        return body, "utf-8"
    except UnicodeDecodeError:
        pass
    # Excel on Windows saves "CSV" in the ANSI code page; in the Caribbean that is 1252.
    try:
        return body.decode("cp1252").encode("utf-8"), "windows-1252"
    except UnicodeDecodeError as exc:
        raise UploadReadError(
            name,
            [
                {
                    "message": f"the text is neither UTF-8 nor Windows-1252 (byte {exc.start}); "
                    "save it as UTF-8 CSV"
                }
            ],
        ) from exc


def _head_text(utf8: bytes) -> str:
    """The file's first whole lines, up to ``HEAD_BYTES``: where title rows and the header are."""
    head = utf8[:HEAD_BYTES]
    if len(utf8) > HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return head.decode("utf-8", errors="replace")


def _read_csv(body: bytes, name: str, expected: list[str], allow_footnotes: bool) -> UploadTable:
    utf8, encoding = _as_utf8(body, name)
    first_line = next((line for line in _head_text(utf8).splitlines() if line.strip()), "")
    # Excel writes ";" where the decimal separator is a comma; count outside quotes is close enough.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    table = _read_csv_fast(utf8, name, delimiter, expected, allow_footnotes)
    if table is None:
        try:
            rows = list(csv.reader(io.StringIO(utf8.decode("utf-8")), delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise UploadReadError(name, [{"message": f"the CSV is malformed: {exc}"}]) from exc
        table = _table_from_rows(rows, name, expected, allow_footnotes, first_row_number=1)
    table.file_format, table.encoding, table.delimiter = "csv", encoding, delimiter
    return table


def _read_csv_fast(
    utf8: bytes, name: str, delimiter: str, expected: list[str], allow_footnotes: bool
) -> UploadTable | None:
    """The table the strict reader would return, read by Arrow's CSV parser (a million
    rows in a fraction of a second rather than half a minute), or None for the strict reader.

    Only plain files take this path: one line per row, every row as wide as the header, no
    formula, no stray note. Anything else (a ragged row, a line break inside a cell, a
    blank line, a formula) returns None, and the strict reader reports it with its line.
    """
    from pyarrow import csv as arrow_csv

    head_text = _head_text(utf8)
    if "\r" in head_text.replace("\r\n", ""):
        return None  # lines ended by a bare CR: the byte offsets below count LF
    head = list(itertools.islice(csv.reader(io.StringIO(head_text), delimiter=delimiter), HEADER_SEARCH_ROWS))
    try:
        header_index, header = _find_header(head, name, expected)
    except UploadReadError:
        return None
    if any("\n" in cell or "\r" in cell for row in head[: header_index + 1] for cell in row):
        return None  # a line break inside a title or header cell: lines and rows differ
    start = 0
    for _ in range(header_index + 1):
        start = utf8.find(b"\n", start) + 1
        if start == 0:
            return None  # header only, no line after it
    width = len(head[header_index])
    names = [f"c{i}" for i in range(width)]
    try:
        arrow_table = arrow_csv.read_csv(
            pa.BufferReader(pa.py_buffer(utf8).slice(start)),
            read_options=arrow_csv.ReadOptions(column_names=names, block_size=16 << 20),
            parse_options=arrow_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    if arrow_table.num_rows == 0:
        return None
    cells = [pc.utf8_trim_whitespace(arrow_table.column(i)) for i in range(width)]
    del arrow_table
    # Trailing header cells left empty: the strict reader drops them, and refuses a row
    # with a value under them.
    for extra in cells[len(header) :]:
        if pc.any(pc.not_equal(pc.utf8_length(extra), 0)).as_py():
            return None
    cells = cells[: len(header)]
    for column in cells:
        if pc.any(pc.or_(pc.starts_with(column, "="), pc.starts_with(column, "@"))).as_py():
            return None
    row_count = len(cells[0])
    first_number = header_index + 2  # the line of the first row under the header
    line_numbers = pa.array(np.arange(first_number, first_number + row_count, dtype=np.int64))
    first_filled = pc.not_equal(pc.utf8_length(cells[0]), 0)
    first_like_note = _starts_with_any(pc.utf8_lower(cells[0]), FOOTNOTE_PREFIXES)
    columns = [*cells, line_numbers]
    ignored: list[dict] = []
    # Blank rows and notes both show in the first column: a row whose first cell is filled
    # is not blank, and only a first cell that starts like a note can be one. Most files
    # have neither, and then no row needs its filled cells counted.
    plain = pc.all(first_filled).as_py() and not pc.any(first_like_note).as_py()
    if not plain:
        filled = [pc.cast(pc.not_equal(pc.utf8_length(c), 0), pa.int8()) for c in cells]
        filled_count = filled[0]
        for flag in filled[1:]:
            filled_count = pc.add(filled_count, flag)
        note = pc.and_(pc.and_(pc.equal(filled_count, 1), first_filled), first_like_note)
        if pc.any(note).as_py():
            if not allow_footnotes:
                return None
            for index in pc.indices_nonzero(note).to_pylist():
                ignored.append(
                    {"row": first_number + index, "value": cells[0][index].as_py(), "reason": "footnote"}
                )
        keep = pc.and_(pc.invert(note), pc.not_equal(filled_count, 0))
        if not pc.any(keep).as_py():
            return None
        columns = [pc.filter(c, keep) for c in columns]
    rows = pa.Table.from_arrays(columns, names=[*header, "source_row_number"])
    return UploadTable(
        file_name=name, rows=rows, file_format="", header_row=header_index + 1, ignored_rows=ignored
    )


def _starts_with_any(column, prefixes):
    found = pc.starts_with(column, prefixes[0])
    for prefix in prefixes[1:]:
        found = pc.or_(found, pc.starts_with(column, prefix))
    return found


# --- XLSX -------------------------------------------------------------------------------


def _check_zip(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UploadReadError(
            name, [{"message": f"the workbook is damaged (not a readable zip: {exc})"}]
        ) from exc
    compressed = max(sum(m.compress_size for m in members), 1)
    uncompressed = sum(m.file_size for m in members)
    if uncompressed > MAX_XLSX_UNCOMPRESSED_BYTES or uncompressed / compressed > MAX_XLSX_COMPRESSION_RATIO:
        raise UploadReadError(
            name,
            [
                {
                    "message": (
                        f"the workbook would unpack to {uncompressed:,} bytes from {compressed:,}; "
                        "it was not opened (send large tables as CSV)"
                    )
                }
            ],
        )


def _read_xlsx(path: Path, name: str, expected: list[str], allow_footnotes: bool) -> UploadTable:
    import openpyxl

    _check_zip(path, name)
    try:
        workbook = openpyxl.load_workbook(path, read_only=False, data_only=False)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise UploadReadError(name, [{"message": f"the workbook cannot be opened: {exc}"}]) from exc
    sheet = _data_sheet(workbook, expected)
    # Formula cells come back as their "=…" text and are refused, with the rest, by the
    # same row checks as CSV cells.
    rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    table = _table_from_rows(rows, name, expected, allow_footnotes, first_row_number=1)
    merged = [
        str(r)
        for r in sheet.merged_cells.ranges
        if r.max_row > table.header_row - 1 and r.min_row >= table.header_row
    ]
    if merged:
        message = "merged cells inside the table: unmerge them and repeat the value in each row"
        raise UploadReadError(name, [{"message": f"{message} ({', '.join(merged[:5])})"}])
    table.file_format, table.sheet = "xlsx", sheet.title
    return table


def _data_sheet(workbook, expected: list[str]):
    """The sheet whose first rows name the most expected columns (not just the first)."""
    wanted = {_normalise(c) for c in expected}

    def score(sheet) -> int:
        best = 0
        for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True):
            best = max(best, len({_normalise(_cell_text(v)) for v in row} & wanted))
        return best

    return max(workbook.worksheets, key=score)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


# --- shared -----------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")


def _find_header(rows: list[list[str]], name: str, expected: list[str]) -> tuple[int, list[str]]:
    """Where the header row is, and its cells named as the contract names them."""
    wanted = {_normalise(c): c for c in expected}
    header_index = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        matches = {_normalise(cell) for cell in row} & set(wanted)
        if len(matches) >= max(2, len(wanted) // 2):
            header_index = index
            break
    if header_index is None:
        raise UploadReadError(
            name,
            [
                {
                    "message": "no header row naming the dataset's columns was found in the first "
                    f"{HEADER_SEARCH_ROWS} rows; expected columns such as {', '.join(expected[:6])} "
                    "(is this the right dataset or template?)"
                }
            ],
        )
    header = [wanted.get(_normalise(cell), cell.strip()) for cell in rows[header_index]]
    while header and not header[-1]:
        header.pop()  # trailing empty header cells (a trailing separator, a formatted column)
    repeated = [
        {
            "row": header_index + 1,
            "column": column,
            "message": (
                f"the header names {column!r} in columns {_positions(header, column)}: "
                "keep one column of each name"
                if column
                else f"columns {_positions(header, column)} of the header have no name: "
                "name them as in the template or delete them"
            ),
        }
        for column in dict.fromkeys(header)
        if header.count(column) > 1
    ]
    if repeated:
        raise UploadReadError(name, repeated)
    return header_index, header


def _positions(header: list[str], column: str) -> str:
    """Where ``column`` is in ``header``, as spreadsheet letters a data officer can find."""
    from openpyxl.utils import get_column_letter

    places = [get_column_letter(i + 1) for i, c in enumerate(header) if c == column]
    return ", ".join(places[:-1]) + " and " + places[-1]


def _table_from_rows(
    rows: list[list[str]], name: str, expected: list[str], allow_footnotes: bool, *, first_row_number: int
) -> UploadTable:
    header_index, header = _find_header(rows, name, expected)
    body: list[list[str]] = []
    numbers: list[int] = []
    ignored: list[dict] = []
    problems: list[dict] = []
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        cells = [c.strip() for c in row] + [""] * max(0, len(header) - len(row))
        if not any(cells):
            continue
        if any(cells[len(header) :]):
            problems.append(
                {"row": offset, "message": f"the row has {len(row)} cells, the header {len(header)}"}
            )
            continue
        if _is_footnote(cells):
            if allow_footnotes:
                ignored.append({"row": offset, "value": cells[0], "reason": "footnote"})
                continue
            problems.append(
                {
                    "row": offset,
                    "value": cells[0],
                    "message": "a note below the table; remove it from the file",
                }
            )
            continue
        for column, cell in zip(header, cells, strict=False):
            if cell.startswith(("=", "@")):
                problems.append(
                    {
                        "row": offset,
                        "column": column,
                        "value": cell,
                        "message": "a spreadsheet formula is not data; type the value itself",
                    }
                )
        body.append(cells[: len(header)])
        numbers.append(offset + first_row_number - 1)
    if problems:
        raise UploadReadError(name, problems)
    if not body:
        raise UploadReadError(name, [{"message": "the file has a header but no data rows"}])
    columns = [pa.array(values, pa.string()) for values in zip(*body, strict=True)]
    rows = pa.Table.from_arrays(
        [*columns, pa.array(numbers, pa.int64())], names=[*header, "source_row_number"]
    )
    return UploadTable(
        file_name=name, rows=rows, file_format="", header_row=header_index + 1, ignored_rows=ignored
    )


def _is_footnote(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return len(filled) == 1 and bool(cells[0]) and cells[0].lower().startswith(FOOTNOTE_PREFIXES)
