"""The World Bank indicator catalogue (``indicators.yaml`` beside this file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.yaml_files import read_yaml

CATALOGUE = Path(__file__).resolve().parent / "indicators.yaml"


@dataclass(frozen=True)
class WorldBankIndicator:
    indicator_id: str
    label: str
    topic: str
    unit: str
    unit_multiplier: int


@cache
def worldbank_indicators() -> tuple[WorldBankIndicator, ...]:
    entries = read_yaml(CATALOGUE)["indicators"]
    return tuple(
        WorldBankIndicator(
            indicator_id=e["indicator_id"],
            label=e["label"],
            topic=e["topic"],
            unit=e["unit"],
            unit_multiplier=int(e["unit_multiplier"]),
        )
        for e in entries
    )
