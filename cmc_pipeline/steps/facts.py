"""The fact table every source feeds, and the harmonisation every source shares.

``core.fact_observation`` has one row per country × period × indicator × sex × age ×
breakdown × source: ISO3 countries, ILO sex/age/breakdown codes (``_Z`` where a breakdown
does not apply), periods as ``2019`` / ``2019-Q1`` / ``2019-M01``, and an explicit unit and
multiplier. Each source maps its own rows in ``sources/<name>/to_core.py``; what they all
need — the column list, country and period conventions — is here, once.
"""

from __future__ import annotations

import re

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import resolve_country, source_aggregate_codes

FACT_TABLE = "core.fact_observation"
NOT_APPLICABLE = "_Z"  # SDMX's code for "this breakdown does not apply"

FACT_COLUMNS = [
    "country_iso3",
    "period",
    "indicator_id",
    "sex",
    "age",
    "breakdown_1",
    "breakdown_2",
    "source",
    "frequency",
    "value",
    "unit",
    "unit_multiplier",
    "obs_status",
    "source_series_id",
    "source_survey",
    "raw_sha256",
    "demonstration_data",
    "loaded_at",
]
FACT_KEY = FACT_COLUMNS[:8]


class HarmonisationError(ValueError):
    """Rows that cannot be harmonised at all; the message names the values and where."""


def assign_countries(frame: pd.DataFrame, column: str, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Add ``country_iso3`` from a source's area column and drop what is not a CMC country.

    Returns the kept rows and a count of dropped rows by reason, so that the caller can
    record the skip: regional aggregates are recomputed by the warehouse, and a file may
    legitimately cover the whole world. A frame with no CMC rows comes back empty, with a
    string ``country_iso3`` column like any other.
    """
    areas = frame[column].astype("string")
    aggregates = areas.isin(source_aggregate_codes(source))
    # Each distinct area is resolved once: a source repeats it on every row.
    codes = {area: resolve_country(area) for area in areas.dropna().unique()}
    iso3 = areas.map(codes, na_action="ignore").astype("string")
    kept = frame.assign(country_iso3=iso3)[iso3.notna() & ~aggregates]
    skipped = {
        "regional aggregates": int(aggregates.sum()),
        "areas outside the CMC": int((iso3.isna() & ~aggregates).sum()),
    }
    return kept.reset_index(drop=True), {k: v for k, v in skipped.items() if v}


_PERIOD_PATTERNS = [
    (re.compile(r"^(\d{4})$"), "A", "{0}"),
    (re.compile(r"^(\d{4})-?Q([1-4])$"), "Q", "{0}-Q{1}"),
    (re.compile(r"^(\d{4})-?M(0[1-9]|1[0-2])$"), "M", "{0}-M{1}"),
]


def harmonise_period(text: str) -> tuple[str, str] | None:
    """``(period, frequency)`` for 2019 / 2019Q1 / 2019-Q1 / 2019M01 / 2019-M01, else None."""
    text = str(text).strip()
    for pattern, frequency, template in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if match:
            return template.format(*match.groups()), frequency
    return None


def keep_informative_rows(facts: pd.DataFrame, vintage: pd.Series | None = None) -> pd.DataFrame:
    """Drop rows with neither a value nor a status (the World Bank pads empty years), and
    keep one row per key: the newest ``vintage`` (the publisher's release date, aligned
    with ``facts``' index, where the source has one), then the most recently loaded (a newer
    download supersedes an older answer for the same figure; the older stays in raw and
    staging). Loading an old vintage after a new one therefore never brings it back."""
    informative = facts["value"].notna() | facts["obs_status"].notna()
    order = ["loaded_at"]
    if vintage is not None:
        facts = facts.assign(_vintage=vintage.astype("string").fillna(""))
        order = ["_vintage", "loaded_at"]
    facts = facts[informative]
    facts = facts.sort_values(order, kind="stable").drop_duplicates(FACT_KEY, keep="last")
    return facts[FACT_COLUMNS].sort_values(FACT_KEY).reset_index(drop=True)


def empty_facts() -> pd.DataFrame:
    return pd.DataFrame(columns=FACT_COLUMNS)
