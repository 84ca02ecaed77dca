"""The ILOSTAT indicator catalogue (``indicators.yaml`` beside this file).

The ILO renamed its labour-migration series in 2025-26, so each entry names its id in
both API generations; the loader tries them in ``fetch_order``.

An indicator a user imports from a download that is not in the catalogue still loads:
:func:`imported_indicator` takes its id from the row (code form) or from ILOSTAT's file
name (``EMP_NIFL_SEX_RT_A-20240726T0000.csv``), and its unit from the label's
parentheses (``(thousands)``, ``(%)``) or the id's suffix (``_RT`` rate, ``_NB`` number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.yaml_files import read_yaml

CATALOGUE = Path(__file__).resolve().parent / "indicators.yaml"


@dataclass(frozen=True)
class IlostatIndicator:
    indicator_id: str
    label: str
    topic: str
    unit: str
    unit_multiplier: int
    frequency: str
    bulk_id: str | None
    sdmx_dataflow: str | None
    sdmx_breakdowns: tuple[str, ...]
    fetch_order: tuple[str, ...]
    # The dataflow's MEASURE code (ILO code list CL_MEASURE): what SDMX-CSV rows carry.
    sdmx_measure: str | None = None
    # Imported from a user's file rather than listed in indicators.yaml.
    imported: bool = False

    @property
    def bulk_dataset_id(self) -> str | None:
        """The rplumber id carries the frequency: EAP_TEAP_SEX_AGE_NB_A."""
        return f"{self.bulk_id}_{self.frequency}" if self.bulk_id else None


@cache
def ilostat_indicators() -> tuple[IlostatIndicator, ...]:
    entries = read_yaml(CATALOGUE)["indicators"]
    return tuple(
        IlostatIndicator(
            indicator_id=e["indicator_id"],
            label=e["label"],
            topic=e["topic"],
            unit=e["unit"],
            unit_multiplier=int(e["unit_multiplier"]),
            frequency=e["frequency"],
            bulk_id=e.get("bulk_id"),
            sdmx_dataflow=e.get("sdmx_dataflow"),
            sdmx_breakdowns=tuple(e.get("sdmx_breakdowns") or ()),
            fetch_order=tuple(e["fetch_order"]),
            sdmx_measure=e.get("sdmx_measure"),
        )
        for e in entries
    )


# ILOSTAT names its downloads <bulk id>_<frequency>[-<timestamp>].csv.
_DOWNLOAD_NAME = re.compile(r"^(?P<id>[A-Z0-9]+(?:_[A-Z0-9]+)+)_(?P<freq>[AQM])(?:-\d{8}T\d{4})?\.csv$", re.I)
_CODE = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)+$")
_UNIT_IN_LABEL = re.compile(r"\s*\(([^()]*)\)\s*$")
# What the parentheses of an ILOSTAT indicator label say, as (unit, power of ten).
_LABEL_UNITS = {"%": ("percent", 0), "thousands": ("persons", 3), "millions": ("persons", 6)}
# Without a label, the id's last part: ILOSTAT's numbers in the bulk files are thousands.
_ID_SUFFIX_UNITS = {"RT": ("percent", 0), "DT": ("percent", 0), "NB": ("persons", 3)}


def split_unit(label: str) -> tuple[str, str | None]:
    """``("Employment by sex and age", "thousands")`` from an ILOSTAT indicator label."""
    match = _UNIT_IN_LABEL.search(label)
    if not match:
        return label.strip(), None
    return label[: match.start()].strip(), match.group(1).strip()


def imported_indicator(published: str, file_name: str) -> IlostatIndicator:
    """The indicator of rows imported from a download, when the catalogue does not list it.

    ``published`` is the row's indicator as written (an id in code form, a label in label
    form); ``file_name`` is the download's name, which carries the id in label form.
    """
    published = str(published).strip()
    named = _DOWNLOAD_NAME.match(file_name)
    frequency = named.group("freq").upper() if named else "A"
    if _CODE.match(published):
        indicator_id, label, unit_text = published, published, None
    else:
        label, unit_text = split_unit(published)
        indicator_id = (
            named.group("id").upper() if named else re.sub(r"[^A-Z0-9]+", "_", label.upper()).strip("_")
        )
    if unit_text is not None:
        unit, multiplier = _LABEL_UNITS.get(unit_text.lower(), (unit_text.lower(), 0))
    else:
        unit, multiplier = _ID_SUFFIX_UNITS.get(indicator_id.rsplit("_", 1)[-1], ("unspecified", 0))
    return IlostatIndicator(
        indicator_id=indicator_id,
        label=label,
        topic="imported",
        unit=unit,
        unit_multiplier=multiplier,
        frequency=frequency,
        bulk_id=indicator_id if _CODE.match(indicator_id) else None,
        sdmx_dataflow=None,
        sdmx_breakdowns=(),
        fetch_order=(),
        imported=True,
    )
