"""Templates for the national-upload datasets (``cmc template DATASET``), written from
their contracts: the file's columns in order, an instructions sheet saying what each
column holds, and, in the workbook, the allowed codes as drop-down lists and counts
limited to whole numbers, so most mistakes are caught while typing."""

from __future__ import annotations

import csv
import io
from functools import partial

from cmc_pipeline.lib.quality.rules import ordered_reference_values, reference_list
from cmc_pipeline.lib.templates import choice_list
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, UploadDataset, upload_dataset

DATA_SHEET = "Data"
INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Lists"
TEMPLATE_ROWS = 2000  # rows that carry the drop-down lists and number checks


def allowed_values(spec: UploadDataset, column: str) -> tuple[str, ...]:
    """The codes a column accepts, in the order of their code lists."""
    values: list[str] = []
    for rule in spec.file_contract.column(column).raw.get("quality") or ():
        arguments = rule.get("arguments") or {}
        values += [str(v) for v in arguments.get("validValues") or ()]
        for reference in reference_list(arguments):
            values += ordered_reference_values(reference)
    return tuple(dict.fromkeys(values))


def _pattern(spec: UploadDataset, column: str) -> str | None:
    for rule in spec.file_contract.column(column).raw.get("quality") or ():
        if (rule.get("arguments") or {}).get("pattern"):
            return rule["arguments"]["pattern"]
    return None


def _what_to_enter(spec: UploadDataset, column) -> str:
    if column.logical_type == "integer":
        return "a whole number, 0 or more (thousands separators are fine); empty if not recorded"
    values = allowed_values(spec, column.name)
    if column.name.endswith("_iso3"):
        return "an ISO3 code from the list (a country name is understood too)"
    if values:
        return "; ".join(values) if len(values) <= 15 else "a code from the drop-down list"
    if _pattern(spec, column.name):
        return "2024 (a year), 2024-Q1 (a quarter) or 2024-M01 (a month)"
    return "text"


def template_bytes(dataset: str, file_format: str = "xlsx") -> bytes:
    spec = upload_dataset(dataset)
    if file_format == "csv":
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(spec.file_columns)
        return text.getvalue().encode("utf-8")
    if file_format != "xlsx":
        raise ValueError(f"format must be xlsx or csv, not {file_format!r}")
    from cmc_pipeline.sources.governance_needs.workbook import workbook_bytes

    return workbook_bytes(build_workbook(spec))


def build_workbook(spec: UploadDataset):
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    contract = spec.file_contract
    columns = list(contract.columns)
    workbook = Workbook()
    instructions = workbook.active
    instructions.title = INSTRUCTIONS_SHEET
    data = workbook.create_sheet(DATA_SHEET)
    lists = workbook.create_sheet(LISTS_SHEET)

    purpose = " ".join(str((contract.document.get("description") or {}).get("purpose", "")).split())
    for text, bold in (
        (f"{spec.name} — national upload template, Caribbean Migration Consultations", True),
        (purpose, False),
        (f"One row per: {contract.description}", False),
        (
            f"Fill the '{DATA_SHEET}' sheet, one row per line, below the column names (keep them as they "
            "are). Aggregated counts only: never one row per person.",
            False,
        ),
        (
            f"Check the file before sending: cmc validate FILE --dataset {spec.name} --country ISO3. Send it "
            f"to the inbox folder <ISO3>/{spec.name}/ (or name it <ISO3>__{spec.name}__<anything>.xlsx). "
            "A file with any problem is not loaded: you receive a report listing each problem with its row, "
            "column, value and what is expected.",
            False,
        ),
        (f"Contract {contract.table} version {contract.version}.", False),
        ("", False),
    ):
        instructions.append([text])
        instructions.cell(instructions.max_row, 1).font = Font(bold=bold)
    instructions.append(["Column", "Required", "What it holds", "What to enter", "Example"])
    for cell in instructions[instructions.max_row]:
        cell.font = Font(bold=True)
    for column in columns:
        examples = column.raw.get("examples") or [""]
        instructions.append(
            [
                column.name,
                "yes" if column.required else "no",
                column.description,
                _what_to_enter(spec, column),
                str(examples[0]),
            ]
        )
    for letter, width in zip("ABCDE", (24, 10, 70, 50, 18), strict=True):
        instructions.column_dimensions[letter].width = width
    for row in instructions.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    data.append([c.name for c in columns])
    for cell in data[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    data.freeze_panes = "A2"
    last = TEMPLATE_ROWS + 1
    list_position = 0
    for position, column in enumerate(columns):
        letter = get_column_letter(position + 1)
        data.column_dimensions[letter].width = max(14, len(column.name) + 4)
        if column.logical_type == "integer":
            validation = DataValidation(
                type="whole",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Not a count",
                error="Enter a whole number, 0 or more.",
            )
        else:
            values = allowed_values(spec, column.name)
            if column.name == "country_iso3":
                from cmc_pipeline.lib.reference import cmc_iso3_codes

                values = tuple(cmc_iso3_codes())
            if not values:
                continue
            list_position += 1
            validation = choice_list(lists, list_position, column.name, values, required=column.required)
        validation.add(f"{letter}2:{letter}{last}")
        data.add_data_validation(validation)
    lists.sheet_state = "hidden"
    workbook.active = 1
    return workbook


# One builder per dataset, named as ``lib/templates.py`` expects ("module:function").
for _dataset in UPLOAD_DATASETS:
    globals()[_dataset] = partial(template_bytes, _dataset)
