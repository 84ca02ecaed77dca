"""The governance-needs workbook: template, validation and loading into core.governance_need.

The 2018 Migration Governance Needs Assessments exist only as a narrative report, so an
analyst keys their results into a workbook, one row per finding or need. Its columns,
their descriptions and the allowed values of the drop-down lists all come from the data
contract ``core.governance_need`` (properties with a ``workbookColumn``), so the template,
the validation and the table cannot drift apart.

Validation returns every problem at once as (row, column, value, expected), which is what
a person needs to fix a workbook; it is deliberately small and specific to this workbook,
so that it can later be replaced by the shared contract-driven engine.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.quality.rules import ordered_reference_values
from cmc_pipeline.lib.raw_store import land_bytes
from cmc_pipeline.lib.reference import countries, fold_name, resolve_country
from cmc_pipeline.lib.templates import choice_list
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.settings import REFERENCE_DIR
from cmc_pipeline.sources import licence_statement
from cmc_pipeline.steps.gate import validate_and_replace
from cmc_pipeline.steps.load_report import LoadReport

TABLE = "core.governance_need"
DATASET = "governance_needs"
DATA_SHEET = "Findings"
INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Lists"
SNAPSHOT_API = "governance_workbook"  # manifest entries of bundled workbooks
TEMPLATE_ROWS = 1000  # rows that carry the drop-down lists in a fresh template
# Fixed timestamp inside generated workbooks, so the same content gives the same bytes.
FIXED_TIMESTAMP = datetime(2026, 11, 24, tzinfo=UTC)


@dataclass(frozen=True)
class WorkbookColumn:
    header: str  # as written in row 1 of the workbook
    table_column: str
    description: str
    required: bool
    valid_values: tuple[str, ...]
    pattern: str | None
    example: str


@cache
def workbook_columns() -> tuple[WorkbookColumn, ...]:
    """The workbook's columns in contract order, with their rules."""
    columns = []
    for column in contract_for(TABLE).columns:
        custom = {p["property"]: p["value"] for p in column.raw.get("customProperties") or ()}
        if "workbookColumn" not in custom:
            continue
        valid_values: tuple[str, ...] = ()
        pattern = None
        for rule in column.raw.get("quality") or ():
            arguments = rule.get("arguments") or {}
            valid_values = tuple(arguments.get("validValues") or valid_values)
            references = arguments.get("validValuesReference") or []
            for reference in [references] if isinstance(references, str) else references:
                valid_values += ordered_reference_values(reference)
            pattern = arguments.get("pattern") or pattern
        examples = column.raw.get("examples") or [""]
        columns.append(
            WorkbookColumn(
                header=custom["workbookColumn"],
                table_column=column.name,
                description=column.description,
                required=column.required,
                valid_values=valid_values,
                pattern=pattern,
                example=str(examples[0]),
            )
        )
    return tuple(columns)


def _column(header: str) -> WorkbookColumn:
    return next(c for c in workbook_columns() if c.header == header)


def country_choices() -> list[str]:
    return [c.name_en for c in countries()]


@cache
def _domain_numbers() -> dict[str, int]:
    with open(REFERENCE_DIR / "mgf_domains.csv", encoding="utf-8", newline="") as f:
        return {row["mgf_domain"]: int(row["mgf_domain_number"]) for row in csv.DictReader(f)}


def domain_number(domain: str) -> int:
    return _domain_numbers()[domain]


# --- template --------------------------------------------------------------------------


def build_workbook(rows: list[dict] | None = None, *, note: str = ""):
    """An openpyxl workbook in the template's layout, optionally filled with ``rows``
    (dicts keyed by workbook header). ``note`` is shown at the top of the instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    columns = workbook_columns()
    workbook = Workbook()
    instructions = workbook.active
    instructions.title = INSTRUCTIONS_SHEET
    data = workbook.create_sheet(DATA_SHEET)
    lists = workbook.create_sheet(LISTS_SHEET)

    lines = [
        ("Governance needs workbook — Caribbean Migration Consultations", True),
        *([(note, True)] if note else []),
        (
            "Key one finding or need per row in the 'Findings' sheet. Row 1 holds the column names: "
            "do not rename or delete them. Pick country, domain, priority and status score from the "
            "drop-down lists.",
            False,
        ),
        (
            "Load it with `cmc import governance_needs FILE`; every problem is reported with its row, "
            "column, value and what was expected, and nothing is loaded until all are fixed.",
            False,
        ),
        ("", False),
    ]
    for text, bold in lines:
        instructions.append([text])
        instructions.cell(instructions.max_row, 1).font = Font(bold=bold)
    instructions.append(["Column", "Required", "What to enter", "Allowed values", "Example"])
    for cell in instructions[instructions.max_row]:
        cell.font = Font(bold=True)
    for column in columns:
        allowed = column.valid_values or (
            ("any CMC country name or ISO3 code",) if column.header == "country" else ()
        )
        instructions.append(
            [
                column.header,
                "yes" if column.required else "no",
                column.description,
                "; ".join(allowed) or (f"pattern {column.pattern}" if column.pattern else "free text"),
                column.example,
            ]
        )
    for letter, width in zip("ABCDE", (18, 10, 80, 50, 22), strict=True):
        instructions.column_dimensions[letter].width = width
    for row in instructions.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    data.append([c.header for c in columns])
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in data[1]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
    data.freeze_panes = "A2"
    widths = {"finding": 60, "need": 50, "source_reference": 30, "topic": 24, "mgf_domain": 32}
    for position, column in enumerate(columns):
        data.column_dimensions[_letter(position)].width = widths.get(column.header, 16)
    for row in rows or ():
        data.append([row.get(c.header) for c in columns])

    choices = {"country": country_choices()} | {
        c.header: list(c.valid_values) for c in columns if c.valid_values
    }
    last_row = max(TEMPLATE_ROWS, data.max_row)
    for list_position, (header, values) in enumerate(choices.items()):
        data_letter = _letter([c.header for c in columns].index(header))
        validation = choice_list(lists, list_position + 1, header, values, required=_column(header).required)
        validation.add(f"{data_letter}2:{data_letter}{last_row}")
        data.add_data_validation(validation)
    lists.sheet_state = "hidden"
    workbook.active = 1
    return workbook


def _letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position + 1)


def workbook_bytes(workbook) -> bytes:
    """The workbook as .xlsx bytes that depend only on its content (no save time inside),
    so a regenerated file is byte-identical and keeps its sha256 in the raw store."""
    workbook.properties.creator = "cmc-pipeline"
    workbook.properties.created = FIXED_TIMESTAMP.replace(tzinfo=None)
    saved = io.BytesIO()
    workbook.save(saved)
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 24, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, content)
    return out.getvalue()


def template_bytes(file_format: str = "xlsx") -> bytes:
    if file_format == "csv":
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow([c.header for c in workbook_columns()])
        return text.getvalue().encode("utf-8")
    if file_format != "xlsx":
        raise ValueError(f"format must be xlsx or csv, not {file_format!r}")
    return workbook_bytes(build_workbook())


# --- reading and validation -------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing to fix: where (row, column), what is there, and what was expected."""

    row: int | None
    column: str | None
    value: str
    expected: str

    def describe(self, where: str) -> str:
        place = where
        if self.row is not None:
            place += f", row {self.row}"
        if self.column is not None:
            place += f", column {self.column!r}"
        return f"{place}: {self.value!r} — expected {self.expected}"


class GovernanceWorkbookError(ValueError):
    """The workbook cannot be loaded; ``problems`` lists everything to fix."""

    def __init__(self, where: str, problems: list[Problem]):
        self.where, self.problems = where, problems
        shown = problems[:50]
        lines = [p.describe(where) for p in shown]
        if len(problems) > len(shown):
            lines.append(f"… and {len(problems) - len(shown)} more problems")
        super().__init__(f"{len(problems)} problem(s) in {where}:\n  " + "\n  ".join(lines))


def read_rows(body: bytes, file_name: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """(headers, [(row number, {header: text})], where) of a workbook or CSV file.

    Raises GovernanceWorkbookError when the file cannot be read at all.
    """
    if file_name.lower().endswith(".csv"):
        where = file_name
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GovernanceWorkbookError(
                where, [Problem(None, None, file_name, "a CSV file in UTF-8 text")]
            ) from None
        table = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)]
    else:
        where = f"{file_name}, sheet {DATA_SHEET!r}"
        table = _xlsx_rows(body, file_name)
    if not table:
        raise GovernanceWorkbookError(where, [Problem(1, None, "", "a header row naming the columns")])
    headers = [_clean(v) for v in table[0][1]]
    while headers and not headers[-1]:
        headers.pop()
    rows = []
    for number, values in table[1:]:
        texts = [_clean(v) for v in values]
        if not any(texts):
            continue
        rows.append((number, {h: (texts[i] if i < len(texts) else "") for i, h in enumerate(headers) if h}))
    return headers, rows, where


def _xlsx_rows(body: bytes, file_name: str) -> list[tuple[int, tuple]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise GovernanceWorkbookError(
            file_name,
            [Problem(None, None, file_name, f"an .xlsx workbook saved by Excel or LibreOffice ({exc})")],
        ) from exc
    try:
        if DATA_SHEET not in workbook.sheetnames:
            raise GovernanceWorkbookError(
                file_name,
                [Problem(None, None, ", ".join(workbook.sheetnames), f"a sheet named {DATA_SHEET!r}")],
            )
        return list(enumerate(workbook[DATA_SHEET].iter_rows(values_only=True), start=1))
    finally:
        workbook.close()


def _clean(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def validate(headers: list[str], rows: list[tuple[int, dict[str, str]]]) -> tuple[list[dict], list[Problem]]:
    """Rows ready for the table (keyed by table column) and every problem found."""
    columns = workbook_columns()
    problems: list[Problem] = []
    known = {c.header for c in columns}
    for column in columns:
        if column.header not in headers:
            problems.append(Problem(1, column.header, "", f"a column named {column.header!r} in row 1"))
    for header in headers:
        if header and header not in known:
            problems.append(
                Problem(
                    1, header, header, f"only the template's columns: {', '.join(c.header for c in columns)}"
                )
            )
    if problems:
        return [], problems
    if not rows:
        return [], [Problem(2, None, "", "at least one finding (row 2 onwards)")]

    checked = []
    for number, row in rows:
        before = len(problems)
        values = {}
        for column in columns:
            text = row.get(column.header, "")
            value, expected = _check(column, text)
            if expected:
                problems.append(Problem(number, column.header, text, expected))
            values[column.table_column] = value
        if len(problems) == before:
            values["mgf_domain_number"] = domain_number(values["mgf_domain"])
            values["source_row_number"] = number
            checked.append(values)
    return checked, problems


def _check(column: WorkbookColumn, text: str) -> tuple[str | None, str | None]:
    """(value to store, None) or (None, what was expected)."""
    if not text:
        return (None, "a value (this column is required)") if column.required else (None, None)
    if column.header == "country":
        iso3 = resolve_country(text)
        return (iso3, None) if iso3 else (None, "a CMC country name or ISO3 code, e.g. Jamaica or JAM")
    if column.header == "mgf_domain":
        domain = _domain(text, column.valid_values)
        return (domain, None) if domain else (None, "one of: " + "; ".join(column.valid_values))
    if column.valid_values:
        by_fold = {fold_name(v): v for v in column.valid_values}
        if fold_name(text) in by_fold:
            return by_fold[fold_name(text)], None
        return None, "one of: " + "; ".join(column.valid_values)
    if column.pattern and not re.fullmatch(column.pattern, text):
        return None, f"text like {column.example!r} (pattern {column.pattern})"
    return text, None


def _domain(text: str, domains: tuple[str, ...]) -> str | None:
    """The domain named by its label, its number (1–6) or both ("1. Migrants' rights")."""
    match = re.fullmatch(r"\s*([1-6])\s*[.):-]?\s*(.*)", text)
    if match:
        domain = domains[int(match.group(1)) - 1]
        return domain if not match.group(2) or fold_name(match.group(2)) == fold_name(domain) else None
    return next((d for d in domains if fold_name(d) == fold_name(text)), None)


# --- loading ---------------------------------------------------------------------------


def load_workbook_into_warehouse(
    body: bytes,
    file_name: str,
    warehouse: Warehouse,
    raw_root: Path,
    *,
    demonstration: bool,
    provenance: dict,
):
    """Validate a governance-needs workbook and replace its assessments in core.governance_need.

    Nothing is written unless every row is valid. A demonstration workbook never replaces
    rows an analyst loaded from a real one. Returns a LoadReport.
    """

    landed = land_bytes(
        raw_root,
        DATASET,
        body,
        suffix=Path(file_name).suffix or ".xlsx",
        provenance={
            "original_name": file_name,
            "licence": licence_statement("governance_needs"),
            "demonstration_data": demonstration,
            **provenance,
        },
    )
    headers, rows, where = read_rows(body, file_name)
    checked, problems = validate(headers, rows)
    if problems:
        raise GovernanceWorkbookError(where, problems)

    frame = pd.DataFrame(checked).assign(
        workbook_file=file_name,
        raw_sha256=landed.sha256,
        demonstration_data=demonstration,
        loaded_at=datetime.now(UTC),
    )
    assessments = sorted(set(frame["assessment"]))
    report = LoadReport(TABLE, demonstration=demonstration)
    report.raw_files.append(
        {
            "dataset": file_name,
            "url": provenance.get("url", file_name),
            "sha256": landed.sha256,
            "bytes": len(body),
        }
    )
    if demonstration and _holds_analyst_rows(warehouse, assessments):
        report.skipped = {"demonstration rows not loaded over an analyst's workbook": len(frame)}
        report.demonstration = False
        return report
    # Country by country within the workbook's assessments: a country whose rows break a rule
    # of the contract keeps its previous ones.
    validate_and_replace(
        warehouse, TABLE, frame, report, by="country_iso3", within={"assessment": assessments}
    )
    report.countries = sorted(set(frame["country_iso3"]))
    report.preview = frame[["assessment", "country_iso3", "mgf_domain", "topic", "priority"]].head(10)
    return report


def _holds_analyst_rows(warehouse: Warehouse, assessments: list[str]) -> bool:
    if not warehouse.table_exists(TABLE):
        return False
    placeholders = ", ".join("?" for _ in assessments)
    found = warehouse.query(
        f"SELECT count(*) AS n FROM {TABLE} WHERE NOT demonstration_data AND assessment IN ({placeholders})",
        assessments,
    )
    return bool(found["n"].iloc[0])


def load_configured_workbook(workbook: str, warehouse: Warehouse, raw_root: Path, snapshots=None):
    """Load the analysts' workbook at ``workbook``, or the bundled demonstration workbook
    when ``workbook`` is empty. Returns a LoadReport."""
    from cmc_pipeline.lib.snapshots import SnapshotStore

    if workbook:
        path = Path(workbook)
        if not path.is_file():
            raise GovernanceWorkbookError(
                str(path), [Problem(None, None, str(path), "an existing workbook file")]
            )
        return load_workbook_into_warehouse(
            path.read_bytes(),
            path.name,
            warehouse,
            raw_root,
            demonstration=False,
            provenance={"uploader": "CMC_GOVERNANCE_NEEDS_WORKBOOK", "url": str(path)},
        )
    store = snapshots or SnapshotStore()
    entries = [e for e in store.entries() if e.api == SNAPSHOT_API]
    if not entries:
        raise GovernanceWorkbookError(
            "the snapshots", [Problem(None, None, "", "a bundled governance-needs workbook in manifest.json")]
        )
    entry = entries[0]
    return load_workbook_into_warehouse(
        store.read(entry),
        Path(entry.file).name,
        warehouse,
        raw_root,
        demonstration=entry.demonstration,
        provenance={"url": f"snapshot:{entry.file}", "producer": "cmc-pipeline demonstration generator"},
    )


def import_workbook_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str):
    """`cmc import governance_needs FILE`: an analyst's workbook, loaded whole or not at all."""
    return load_workbook_into_warehouse(
        Path(path).read_bytes(),
        Path(path).name,
        warehouse,
        raw_root,
        demonstration=False,
        provenance={"uploader": uploader, "url": str(path)},
    )
