"""Labels beside codes, as ILOSTAT's label downloads give them: for every column a
contract checks against a code list (``validValuesReference``), the code list's English
label, and for the few codes a contract admits beside its list (``validValues``: the
total ``_T``, the CMC region) the label of that code."""

from __future__ import annotations

from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.marts import REGION_CODE, REGION_NAME
from cmc_pipeline.lib.quality.rules import reference_labels, reference_list

# Codes a contract lists itself beside a code list, with the label ILOSTAT/SDMX give them.
ADMITTED_CODE_LABELS = {"_T": "Total", "_Z": "Not applicable", REGION_CODE: REGION_NAME}


def column_labels(contract: TableContract) -> dict[str, dict[str, str]]:
    """Column → {code: label} for every coded column of a contract."""
    found: dict[str, dict[str, str]] = {}
    for column in contract.columns:
        for rule in column.raw.get("quality") or ():
            arguments = rule.get("arguments") or {}
            labels: dict[str, str] = {}
            for reference in reference_list(arguments):
                labels.update(reference_labels(reference))
            for code in arguments.get("validValues") or ():
                if str(code) in ADMITTED_CODE_LABELS:
                    labels.setdefault(str(code), ADMITTED_CODE_LABELS[str(code)])
            if labels:
                found.setdefault(column.name, {}).update(labels)
    return found


def with_labels(frame: pd.DataFrame, contract: TableContract) -> pd.DataFrame:
    """The frame with ``<column>_label`` right after each coded column."""
    labels = column_labels(contract)
    columns: list[str] = []
    result = {}
    for name in frame.columns:
        columns.append(name)
        result[name] = frame[name]
        named = name.removesuffix("_code").removesuffix("_iso3") + "_name" in frame  # area_name exists
        if name in labels and f"{name}_label" not in frame and not named:
            result[f"{name}_label"] = frame[name].map(labels[name]).astype("string")
            columns.append(f"{name}_label")
    return pd.DataFrame(result, columns=columns, index=frame.index)
