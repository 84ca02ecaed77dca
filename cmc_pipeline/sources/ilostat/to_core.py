"""ILOSTAT rows → core.fact_observation: indicators, ILO codes, periods, units."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from cmc_pipeline.lib.reference import fold_name
from cmc_pipeline.sources.ilostat.catalogue import IlostatIndicator, ilostat_indicators
from cmc_pipeline.sources.ilostat.codelists import ilo_code_lists
from cmc_pipeline.steps.facts import FACT_TABLE, NOT_APPLICABLE, harmonise_period, keep_informative_rows
from cmc_pipeline.steps.review import Harmonised, UnmappedValues

SOURCE_ILOSTAT = "ILOSTAT"


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


def ilostat_to_facts(staging: pd.DataFrame) -> Harmonised:
    """Fact rows from ``staging.ilostat_observations`` rows.

    A value no code list knows holds back its country × indicator slice (listed in the
    review) and every other slice is mapped.
    """
    unmapped = UnmappedValues(SOURCE_ILOSTAT, FACT_TABLE, slice_column="indicator")
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

    held = unmapped.rows_held_back(staging)
    held_slices = pd.DataFrame(
        {
            "country_iso3": staging["country_iso3"][held],
            "indicator_id": indicators[held].map(lambda i: i.indicator_id if i else None),
        }
    ).dropna()
    keep = ~held
    staging, indicators, sex, status, periods = (x[keep] for x in (staging, indicators, sex, status, periods))
    classifications = [c[keep] for c in classifications]

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
    return Harmonised(keep_informative_rows(facts), unmapped.review(), held_slices)
