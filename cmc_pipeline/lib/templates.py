"""Empty templates for the datasets people key or upload: ``cmc template DATASET``.

Each dataset names the function that renders its template from its data contract: the
governance-needs workbook's own, and for every national-upload dataset (each
``uploads.*`` contract) the one written from its upload contract. Builders are imported
only when used, so that ``cmc --help`` stays quick.
"""

from __future__ import annotations

import importlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cmc_pipeline.lib.raw_store import write_atomically
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS

# dataset → "module:function(file_format) -> bytes"
TEMPLATE_BUILDERS = {
    "governance_needs": "cmc_pipeline.sources.governance_needs.workbook:template_bytes",
    # National uploads: the template of each is written from its contract.
    **{dataset: f"cmc_pipeline.lib.uploads.templates:{dataset}" for dataset in UPLOAD_DATASETS},
}
TEMPLATE_DATASETS = tuple(TEMPLATE_BUILDERS)
TEMPLATE_FORMATS = ("xlsx", "csv")


def template_bytes(dataset: str, file_format: str = "xlsx") -> bytes:
    if dataset not in TEMPLATE_BUILDERS:
        raise ValueError(f"no template for {dataset!r}; templates exist for {', '.join(TEMPLATE_DATASETS)}")
    if file_format not in TEMPLATE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(TEMPLATE_FORMATS)}, not {file_format!r}")
    module_name, function_name = TEMPLATE_BUILDERS[dataset].split(":")
    return getattr(importlib.import_module(module_name), function_name)(file_format)


def write_template(
    dataset: str, file_format: str = "xlsx", output: Path | None = None, *, overwrite: bool = False
) -> Path:
    """Write the template and return its path (default ``./<dataset>_template.<format>``).

    An existing file is kept unless ``overwrite``: it may be a workbook someone has keyed.
    """
    path = Path(output) if output else Path(f"{dataset}_template.{file_format}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another --output or pass --force to replace it")
    write_atomically(path, template_bytes(dataset, file_format))
    return path


def choice_list(lists, list_column: int, header: str, values, *, required: bool):
    """Write ``values`` under ``header`` in column ``list_column`` (1-based) of a workbook's
    hidden lists sheet, and return the drop-down validation that offers them, for the
    caller to add to the data sheet's cells."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    letter = get_column_letter(list_column)
    lists.cell(1, list_column, header).font = Font(bold=True)
    for offset, value in enumerate(values, start=2):
        lists.cell(offset, list_column, value)
    return DataValidation(
        type="list",
        formula1=f"={lists.title}!${letter}$2:${letter}${len(values) + 1}",
        allow_blank=not required,
        showErrorMessage=True,
        errorTitle=f"Not an allowed {header}",
        error=f"Pick a value from the list ({lists.title} sheet, column {letter}).",
    )


# --- the one workbook writer of every template -------------------------------------------

# Fixed timestamp inside generated workbooks, so the same content gives the same bytes.
FIXED_TIMESTAMP = datetime(2026, 11, 24, tzinfo=UTC)
HEADER_FILL = "DDEBF7"


@dataclass(frozen=True)
class TemplateColumn:
    """One column of a template: its header, and its line in the instructions sheet."""

    header: str
    required: bool
    instructions: tuple[str, ...]  # the instructions table's cells after Column and Required
    choices: tuple[str, ...] = ()  # offered as a drop-down list
    whole_number: bool = False  # a count: whole numbers, 0 or more
    width: int = 16


def template_workbook(
    *,
    lines: Sequence[tuple[str, bool]],
    headings: Sequence[str],
    instruction_widths: Sequence[int],
    data_sheet: str,
    columns: Sequence[TemplateColumn],
    list_rows: int,
    rows: Sequence[dict] = (),
):
    """A template workbook: an instructions sheet (``lines``, each bold or not, then one row
    per column under ``headings``), the data sheet (the header row, ``rows`` keyed by
    header if any) with each column's drop-down list or whole-number check down to
    ``list_rows``, and the hidden sheet the lists come from. Every template is written
    here: the national uploads' and the governance-needs workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    instructions = workbook.active
    instructions.title = "Instructions"
    data = workbook.create_sheet(data_sheet)
    lists = workbook.create_sheet("Lists")

    for text, bold in lines:
        instructions.append([text])
        instructions.cell(instructions.max_row, 1).font = Font(bold=bold)
    instructions.append(list(headings))
    for cell in instructions[instructions.max_row]:
        cell.font = Font(bold=True)
    for column in columns:
        instructions.append([column.header, "yes" if column.required else "no", *column.instructions])
    for position, width in enumerate(instruction_widths):
        instructions.column_dimensions[get_column_letter(position + 1)].width = width
    for row in instructions.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    data.append([c.header for c in columns])
    for cell in data[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    data.freeze_panes = "A2"
    for row in rows:
        data.append([row.get(c.header) for c in columns])
    last = max(list_rows, data.max_row)
    list_position = 0
    for position, column in enumerate(columns):
        letter = get_column_letter(position + 1)
        data.column_dimensions[letter].width = column.width
        if column.whole_number:
            validation = DataValidation(
                type="whole",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Not a count",
                error="Enter a whole number, 0 or more.",
            )
        elif column.choices:
            list_position += 1
            validation = choice_list(
                lists, list_position, column.header, column.choices, required=column.required
            )
        else:
            continue
        validation.add(f"{letter}2:{letter}{last}")
        data.add_data_validation(validation)
    lists.sheet_state = "hidden"
    workbook.active = 1
    return workbook


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
