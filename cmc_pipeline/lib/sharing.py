"""Sharing rules for published outputs: who may see what, small-count protection, and
text that spreadsheets must not execute.

- Dissemination levels: every table has one in its contract (``dissemination_level``:
  public, cmc_members or restricted); a country may keep a dataset at a stricter level
  in ``reference/country_sharing.yaml``; a row may carry its own (``dissemination_level``
  column, e.g. rows derived from licence-restricted sources). An export for an audience
  contains only what every one of these allows.
- Statistical disclosure control (``lib/disclosure.py``): counts below a threshold are
  suppressed in shared outputs, and further cells so that no total the release shows,
  alone or with earlier releases, can reveal a suppressed one.
- Formula injection: text that a spreadsheet would read as a formula is neutralised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import REFERENCE_DIR

LEVELS = ("public", "cmc_members", "restricted")
AUDIENCE_LEVELS = {"public": {"public"}, "members": {"public", "cmc_members"}}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class SharingSettings:
    small_count_threshold: int
    country_levels: dict[str, dict[str, str]]  # ISO3 → dataset/table → level

    def country_level(self, iso3: str, dataset: str) -> str | None:
        return self.country_levels.get(iso3, {}).get(dataset)


@cache
def sharing_settings(path: Path = REFERENCE_DIR / "country_sharing.yaml") -> SharingSettings:
    document = read_yaml(path) or {}
    countries = {iso3: dict(levels or {}) for iso3, levels in (document.get("countries") or {}).items()}
    for iso3, levels in countries.items():
        for dataset, level in levels.items():
            if level not in LEVELS:
                raise ValueError(f"{path}: {iso3}.{dataset}: level {level!r} is not one of {LEVELS}")
    return SharingSettings(
        small_count_threshold=int(document.get("small_count_threshold", 5)), country_levels=countries
    )


def audience_allows(audience: str, level: str) -> bool:
    if audience not in AUDIENCE_LEVELS:
        raise ValueError(f"audience must be one of {sorted(AUDIENCE_LEVELS)}, not {audience!r}")
    return level in AUDIENCE_LEVELS[audience]


def rows_for_audience(
    frame: pd.DataFrame, *, dataset: str, audience: str, settings: SharingSettings
) -> tuple[pd.DataFrame, int]:
    """The rows an audience may see, and how many were withheld."""
    keep = pd.Series(True, index=frame.index)
    if "country_iso3" in frame:
        levels = frame["country_iso3"].map(lambda iso3: settings.country_level(iso3, dataset) or "public")
        keep &= levels.map(lambda level: audience_allows(audience, level))
    if "dissemination_level" in frame:
        keep &= (
            frame["dissemination_level"].fillna("public").map(lambda level: audience_allows(audience, level))
        )
    return frame[keep].reset_index(drop=True), int((~keep).sum())


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that begin like a formula with an apostrophe, so Excel, LibreOffice
    and Google Sheets show them as text instead of running them (=HYPERLINK(…), +cmd|…)."""
    result = frame.copy()
    for column in result.columns:
        if pd.api.types.is_string_dtype(result[column]) or result[column].dtype == object:
            result[column] = result[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
            )
    return result
