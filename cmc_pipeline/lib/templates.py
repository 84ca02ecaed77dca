"""Empty templates for the datasets people key or upload: ``cmc template DATASET``.

Each dataset names the function that renders its template from its data contract: the
governance-needs workbook's own, and for every national-upload dataset (each
``uploads.*`` contract) the one written from its upload contract. Builders are imported
only when used, so that ``cmc --help`` stays quick.
"""

from __future__ import annotations

import importlib
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
