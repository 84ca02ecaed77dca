"""Templates for the national-upload datasets (``cmc template DATASET``), written from
their contracts: the file's columns in order, an instructions sheet saying what each
column holds, and, in the workbook, the allowed codes as drop-down lists and counts
limited to whole numbers, so most mistakes are caught while typing."""

from __future__ import annotations

import csv
import io
from functools import partial

from cmc_pipeline.lib.quality.rules import ordered_reference_values, reference_list
from cmc_pipeline.lib.templates import TemplateColumn, template_workbook, workbook_bytes
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, UploadDataset, upload_dataset

DATA_SHEET = "Data"
INSTRUCTIONS_SHEET = "Instructions"
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
    return workbook_bytes(build_workbook(spec))


def build_workbook(spec: UploadDataset):
    """The dataset's template, by the templates' one workbook writer (``lib/templates.py``)."""
    from cmc_pipeline.lib.reference import cmc_iso3_codes

    contract = spec.file_contract
    purpose = " ".join(str((contract.document.get("description") or {}).get("purpose", "")).split())
    lines = [
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
    ]
    columns = [
        TemplateColumn(
            header=column.name,
            required=column.required,
            instructions=(
                column.description,
                _what_to_enter(spec, column),
                str((column.raw.get("examples") or [""])[0]),
            ),
            choices=()
            if column.logical_type == "integer"
            else tuple(cmc_iso3_codes())
            if column.name == "country_iso3"
            else allowed_values(spec, column.name),
            whole_number=column.logical_type == "integer",
            width=max(14, len(column.name) + 4),
        )
        for column in contract.columns
    ]
    return template_workbook(
        lines=lines,
        headings=("Column", "Required", "What it holds", "What to enter", "Example"),
        instruction_widths=(24, 10, 70, 50, 18),
        data_sheet=DATA_SHEET,
        columns=columns,
        list_rows=TEMPLATE_ROWS + 1,
    )


# One builder per dataset, named as ``lib/templates.py`` expects ("module:function").
for _dataset in UPLOAD_DATASETS:
    globals()[_dataset] = partial(template_bytes, _dataset)
