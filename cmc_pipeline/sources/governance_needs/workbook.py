"""The governance-needs workbook: template, validation and loading into core.governance_need.

The 2018 Migration Governance Needs Assessments exist only as a narrative report, so an
analyst keys their results into a workbook, one row per finding or need. Its columns,
their descriptions and the allowed values of the drop-down lists all come from the data
contract ``core.governance_need`` (properties with a ``workbookColumn``), so the template,
the validation and the table cannot drift apart.

A workbook is read and checked the way a national upload is: the uploads' reader (CSV or
XLSX, header found wherever it is, formulas and merged cells refused), a tidying step for
what an analyst may type in another form (a country's name, a domain by its number),
then the contract's rules in the shared engine, every problem reported at once with its
row, column, value and what was expected, in the uploads' problem record.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cmc_pipeline.lib import quality
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.quality.rules import COLUMNS_MATCH_CONTRACT, ordered_reference_values
from cmc_pipeline.lib.raw_store import land_bytes
from cmc_pipeline.lib.reference import countries, fold_name, resolve_country
from cmc_pipeline.lib.templates import TemplateColumn, template_workbook, workbook_bytes
from cmc_pipeline.lib.uploads.checking import EXAMPLES_PER_RULE, READABLE_FILE, Problem, problems_from
from cmc_pipeline.lib.uploads.reading import UploadReadError, read_upload
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.settings import REFERENCE_DIR
from cmc_pipeline.sources import licence_statement
from cmc_pipeline.steps.gate import validate_and_replace
from cmc_pipeline.steps.load_report import LoadReport

TABLE = "core.governance_need"
DATASET = "governance_needs"
DATA_SHEET = "Findings"
SNAPSHOT_API = "governance_workbook"  # manifest entries of bundled workbooks
TEMPLATE_ROWS = 1000  # rows that carry the drop-down lists in a fresh template


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
    (dicts keyed by workbook header). ``note`` is shown at the top of the instructions.
    Written by the templates' one workbook writer (``lib/templates.py``)."""
    widths = {"finding": 60, "need": 50, "source_reference": 30, "topic": 24, "mgf_domain": 32}
    columns = []
    for column in workbook_columns():
        # A country is picked by its name (its ISO3 code is understood too).
        country = column.header == "country"
        allowed = ("any CMC country name or ISO3 code",) if country else column.valid_values
        choices = tuple(country_choices()) if country else column.valid_values
        columns.append(
            TemplateColumn(
                header=column.header,
                required=column.required,
                instructions=(
                    column.description,
                    "; ".join(allowed) or (f"pattern {column.pattern}" if column.pattern else "free text"),
                    column.example,
                ),
                choices=choices,
                width=widths.get(column.header, 16),
            )
        )
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
    return template_workbook(
        lines=lines,
        headings=("Column", "Required", "What to enter", "Allowed values", "Example"),
        instruction_widths=(18, 10, 80, 50, 22),
        data_sheet=DATA_SHEET,
        columns=columns,
        list_rows=TEMPLATE_ROWS,
        rows=rows or (),
    )


def template_bytes(file_format: str = "xlsx") -> bytes:
    if file_format == "csv":
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow([c.header for c in workbook_columns()])
        return text.getvalue().encode("utf-8")
    if file_format != "xlsx":
        raise ValueError(f"format must be xlsx or csv, not {file_format!r}")
    return workbook_bytes(build_workbook())


# --- reading and checking: the national uploads' reader, problem record and rules ------


class GovernanceWorkbookError(ValueError):
    """The workbook cannot be loaded; ``problems`` lists everything to fix, as the national
    uploads' checks list theirs (``lib/uploads/checking.Problem``)."""

    def __init__(self, where: str, problems: list[Problem]):
        self.where, self.problems = where, problems
        shown = problems[:50]
        lines = [p.describe() for p in shown]
        if len(problems) > len(shown):
            lines.append(f"… and {len(problems) - len(shown)} more problems")
        super().__init__(f"{len(problems)} problem(s) in {where}:\n  " + "\n  ".join(lines))


@dataclass
class CheckedWorkbook:
    """A workbook read and checked: its rows in the table's columns (tidied, with the row
    each came from) when every rule passed, and every problem otherwise."""

    where: str
    rows: pd.DataFrame
    problems: list[Problem]


def read_and_check(path: Path, display_name: str | None = None) -> CheckedWorkbook:
    """Read a workbook (or its CSV export) with the national uploads' reader, tidy what an
    analyst may type in another form (a country's name, a domain by its number, any
    capitalisation), and check the rows against the rules of ``core.governance_need``'s
    contract with the same engine and problem record as an upload. Raises
    GovernanceWorkbookError when the file cannot be read as a table at all."""
    name = display_name or Path(path).name
    headers = [c.header for c in workbook_columns()]
    try:
        table = read_upload(path, expected_columns=headers, allow_footnotes=True, display_name=name)
    except UploadReadError as exc:
        problems = [
            Problem(READABLE_FILE, "error", p.get("row"), p.get("column"), p.get("value"), p["message"])
            for p in exc.problems
        ]  # as an upload's reader reports them
        raise GovernanceWorkbookError(name, problems) from exc
    where = name if table.file_format == "csv" else f"{name}, sheet {table.sheet!r}"
    found = [c for c in table.rows.column_names if c != "source_row_number"]
    problems = [
        Problem(COLUMNS_MATCH_CONTRACT, "error", table.header_row, h, "", f"a column named {h!r}")
        for h in headers
        if h not in found
    ] + [
        Problem(
            COLUMNS_MATCH_CONTRACT,
            "error",
            table.header_row,
            h,
            h,
            f"only the template's columns: {', '.join(headers)}",
        )
        for h in found
        if h not in headers
    ]
    if problems:
        return CheckedWorkbook(where, pd.DataFrame(), problems)
    rows = _tidy(table.rows.to_pandas())
    run = quality.validate(
        rows, _workbook_contract(), engine="duckdb", examples=EXAMPLES_PER_RULE, partition_column=None
    )
    problems, _ = problems_from(run, {c.table_column: c.header for c in workbook_columns()})
    return CheckedWorkbook(where, rows if run.passed else rows.iloc[0:0], problems)


def _unreadable(value: str, expected: str) -> Problem:
    return Problem(READABLE_FILE, "error", None, None, value, expected)


def _workbook_contract():
    """The table's contract as far as a workbook fills it: its columns and the row each
    came from (the pipeline adds the rest), with every rule on them."""
    contract = contract_for(TABLE)
    keep = {c.table_column for c in workbook_columns()} | {"source_row_number"}
    return replace(contract, columns=tuple(c for c in contract.columns if c.name in keep))


def _tidy(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells as the table writes them; anything not understood is left as typed, for
    the rules to report with its row and column."""
    rows = pd.DataFrame({"source_row_number": cells["source_row_number"]})
    for column in workbook_columns():
        tidy = _tidier(column)
        texts = cells[column.header].map(_clean)
        rows[column.table_column] = texts.map(lambda text, tidy=tidy: tidy(text) if text else None)
    return rows


def _tidier(column: WorkbookColumn):
    """How a column's text becomes what the table writes (as typed when not understood)."""
    if column.header == "country":
        return lambda text: resolve_country(text) or text
    if column.header == "mgf_domain":
        return lambda text: _domain(text, column.valid_values) or text
    if column.valid_values:
        by_fold = {fold_name(v): v for v in column.valid_values}
        return lambda text: by_fold.get(fold_name(text), text)
    return lambda text: text


def _clean(value) -> str:
    return " ".join(str(value or "").split())


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
    # The landed copy is what is read and checked, as for a national upload.
    checked = read_and_check(landed.path, file_name)
    if checked.problems:
        raise GovernanceWorkbookError(checked.where, checked.problems)

    frame = checked.rows.assign(
        mgf_domain_number=checked.rows["mgf_domain"].map(domain_number),
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
            raise GovernanceWorkbookError(str(path), [_unreadable(str(path), "an existing workbook file")])
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
        expected = "a bundled governance-needs workbook in manifest.json"
        raise GovernanceWorkbookError("the snapshots", [_unreadable("", expected)])
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
