"""Harmonisation: source-shaped staging rows → comparable ``core.fact_observation`` rows.

This is the only place codes are translated: countries to ISO3, sex and age to ILO codes,
periods to ``2019`` / ``2019-Q1`` / ``2019-M01``, and every value gets an explicit unit and
multiplier. A value that cannot be mapped stops the load with an error that lists every
such value, how often it occurs and where to find it: guessing would make figures
incomparable without anyone noticing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from cmc_pipeline.lib.reference import (
    IlostatIndicator,
    fold_name,
    ilo_code_lists,
    ilostat_indicators,
    resolve_country,
    source_aggregate_codes,
    worldbank_indicators,
)

NOT_APPLICABLE = "_Z"  # SDMX's code for "this breakdown does not apply"
SOURCE_ILOSTAT = "ILOSTAT"
SOURCE_WORLDBANK = "World Bank WDI"

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


class HarmonisationError(ValueError):
    """Values that have no mapping; the message names each one and where it occurs."""


class UnmappedValues:
    """Collects unmappable values per column so that one error reports all of them."""

    def __init__(self, what: str):
        self.what = what
        self.problems: dict[str, pd.DataFrame] = {}

    def add(self, column: str, rows: pd.DataFrame, values: pd.Series) -> None:
        if len(rows):
            self.problems[column] = rows.assign(_value=values)

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        lines = []
        for column, rows in self.problems.items():
            for value, group in rows.groupby("_value", sort=True, dropna=False):
                first = group.iloc[0]
                lines.append(
                    f"  column {column!r}: {value!r} in {len(group)} row(s), first at line "
                    f"{first['source_row_number']} of {first['dataset_id']} "
                    f"(raw {str(first['raw_sha256'])[:12]})"
                )
        raise HarmonisationError(
            f"{self.what}: values with no mapping in the reference code lists "
            f"(add them to cmc_pipeline/reference/ if they are legitimate):\n" + "\n".join(lines)
        )


# --- countries --------------------------------------------------------------------------


def assign_countries(frame: pd.DataFrame, column: str, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Add ``country_iso3`` from a source's area column and drop what is not a CMC country.

    Returns the kept rows and a count of dropped rows by reason, so that the caller can
    record the skip: regional aggregates are recomputed by the warehouse, and a file may
    legitimately cover the whole world.
    """
    areas = frame[column].astype("string")
    aggregates = areas.isin(source_aggregate_codes(source))
    iso3 = areas.map(lambda v: resolve_country(v) if isinstance(v, str) else None)
    kept = frame.assign(country_iso3=iso3)[iso3.notna() & ~aggregates]
    skipped = {
        "regional aggregates": int(aggregates.sum()),
        "areas outside the CMC": int((iso3.isna() & ~aggregates).sum()),
    }
    return kept.reset_index(drop=True), {k: v for k, v in skipped.items() if v}


# --- periods ----------------------------------------------------------------------------

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


# --- ILOSTAT ----------------------------------------------------------------------------


def _indicator_lookup() -> dict[str, IlostatIndicator]:
    lookup: dict[str, IlostatIndicator] = {}
    for indicator in ilostat_indicators():
        lookup[indicator.indicator_id] = indicator
        if indicator.bulk_id:
            lookup[indicator.bulk_id] = indicator
        lookup[fold_name(indicator.label)] = indicator
    return lookup


def _indicator_for(published: str, lookup: dict[str, IlostatIndicator]) -> IlostatIndicator | None:
    if published in lookup:
        return lookup[published]
    # Label downloads say "Labour force by sex and age (thousands)": drop the unit.
    without_unit = re.sub(r"\s*\([^)]*\)\s*$", "", str(published))
    return lookup.get(fold_name(without_unit))


def _to_code(values: pd.Series, allowed_dimensions: Iterable[str] | None = None) -> pd.Series:
    """Code for each value given as an ILO code or label; NA where neither is known."""
    codes = ilo_code_lists()
    allowed = set(allowed_dimensions) if allowed_dimensions else None

    def one(value):
        if value is None or value is pd.NA or value == "":
            return ""
        code = value if codes.dimension_of(value) else codes.code_for_label(value)
        if code is None or (allowed and codes.dimension_of(code) not in allowed):
            return None
        return code

    return values.map(one, na_action=None).astype("string")


def ilostat_to_facts(staging: pd.DataFrame) -> pd.DataFrame:
    """Fact rows from ``staging.ilostat_observations`` rows."""
    unmapped = UnmappedValues("ILOSTAT rows cannot be harmonised")
    codes = ilo_code_lists()
    lookup = _indicator_lookup()

    indicators = staging["indicator"].map(lambda v: _indicator_for(v, lookup))
    unmapped.add("indicator", staging[indicators.isna()], staging["indicator"][indicators.isna()])

    sex = _to_code(staging["sex"], ["sex"])
    unmapped.add("sex", staging[sex.isna() | (sex == "")], staging["sex"][sex.isna() | (sex == "")])

    classifications = []
    for column in ("classif1", "classif2"):
        mapped = _to_code(staging[column])
        bad = mapped.isna()
        unmapped.add(column, staging[bad], staging[column][bad])
        classifications.append(mapped)

    status = _to_code(staging["obs_status"], ["obs_status"])
    unmapped.add("obs_status", staging[status.isna()], staging["obs_status"][status.isna()])

    periods = staging["time"].map(harmonise_period)
    unmapped.add("time", staging[periods.isna()], staging["time"][periods.isna()])
    unmapped.raise_if_any()

    # Place each classification in its column by its dimension: age to `age`, the rest
    # to breakdown_1/2 in published order (occupation before place of birth, say).
    age, breakdown_1, breakdown_2 = [], [], []
    for first, second in zip(classifications[0], classifications[1], strict=True):
        others = []
        row_age = NOT_APPLICABLE
        for code in (first, second):
            if not code:
                continue
            if codes.dimension_of(code) == "age":
                row_age = code
            else:
                others.append(code)
        others += [NOT_APPLICABLE] * (2 - len(others))
        age.append(row_age)
        breakdown_1.append(others[0])
        breakdown_2.append(others[1])

    catalogue_multiplier = indicators.map(lambda i: i.unit_multiplier).astype("Int64")
    facts = pd.DataFrame(
        {
            "country_iso3": staging["country_iso3"],
            "period": periods.map(lambda p: p[0]),
            "indicator_id": indicators.map(lambda i: i.indicator_id),
            "sex": sex,
            "age": age,
            "breakdown_1": breakdown_1,
            "breakdown_2": breakdown_2,
            "source": SOURCE_ILOSTAT,
            "frequency": periods.map(lambda p: p[1]),
            "value": staging["obs_value"],
            "unit": indicators.map(lambda i: i.unit),
            # SDMX states the multiplier; the bulk CSV does not, so the catalogue's applies.
            "unit_multiplier": staging["unit_multiplier"].fillna(catalogue_multiplier),
            "obs_status": status.replace("", pd.NA),
            "source_series_id": staging["dataset_id"],
            "source_survey": staging["source_survey"].replace("", pd.NA),
            "raw_sha256": staging["raw_sha256"],
            "demonstration_data": staging["demonstration_data"],
            "loaded_at": staging["loaded_at"],
        }
    )
    return _keep_informative_rows(facts)


# --- World Bank -------------------------------------------------------------------------


def worldbank_to_facts(staging: pd.DataFrame) -> pd.DataFrame:
    """Fact rows from ``staging.worldbank_observations`` rows."""
    unmapped = UnmappedValues("World Bank rows cannot be harmonised")
    catalogue = {i.indicator_id: i for i in worldbank_indicators()}
    known = staging["indicator_id"].isin(list(catalogue))
    unmapped.add("indicator_id", staging[~known], staging["indicator_id"][~known])
    periods = staging["date"].map(harmonise_period)
    unmapped.add("date", staging[periods.isna()], staging["date"][periods.isna()])
    unmapped.raise_if_any()

    facts = pd.DataFrame(
        {
            "country_iso3": staging["country_iso3"],
            "period": periods.map(lambda p: p[0]),
            "indicator_id": staging["indicator_id"],
            "sex": "SEX_T",
            "age": NOT_APPLICABLE,
            "breakdown_1": NOT_APPLICABLE,
            "breakdown_2": NOT_APPLICABLE,
            "source": SOURCE_WORLDBANK,
            "frequency": periods.map(lambda p: p[1]),
            "value": staging["value"],
            "unit": staging["indicator_id"].map(lambda i: catalogue[i].unit),
            "unit_multiplier": staging["indicator_id"].map(lambda i: catalogue[i].unit_multiplier),
            "obs_status": staging["obs_status"].replace("", pd.NA),
            "source_series_id": staging["indicator_id"],
            "source_survey": pd.NA,
            "raw_sha256": staging["raw_sha256"],
            "demonstration_data": staging["demonstration_data"],
            "loaded_at": staging["loaded_at"],
        }
    )
    return _keep_informative_rows(facts)


def _keep_informative_rows(facts: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with neither a value nor a status (the World Bank pads empty years), and
    keep one row per key, the most recently loaded one (a user's import of a newer
    download supersedes the API's older answer for the same figure)."""
    informative = facts["value"].notna() | facts["obs_status"].notna()
    facts = facts[informative]
    key = FACT_COLUMNS[:8]
    facts = facts.sort_values("loaded_at", kind="stable").drop_duplicates(key, keep="last")
    return facts[FACT_COLUMNS].sort_values(key).reset_index(drop=True)
