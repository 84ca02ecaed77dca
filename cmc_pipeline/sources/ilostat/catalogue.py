"""The ILOSTAT indicator catalogue (``indicators.yaml`` beside this file).

The ILO renamed its labour-migration series in 2025-26, so each entry names its id in
both API generations; the loader tries them in ``fetch_order``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

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

    @property
    def bulk_dataset_id(self) -> str | None:
        """The rplumber id carries the frequency: EAP_TEAP_SEX_AGE_NB_A."""
        return f"{self.bulk_id}_{self.frequency}" if self.bulk_id else None


@cache
def ilostat_indicators() -> tuple[IlostatIndicator, ...]:
    with open(CATALOGUE, encoding="utf-8") as f:
        entries = yaml.safe_load(f)["indicators"]
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
        )
        for e in entries
    )
