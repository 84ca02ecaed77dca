"""ILOSTAT rows → core.fact_observation: indicators, ILO codes, periods, units."""

from __future__ import annotations

from collections.abc import Iterable

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import fold_name
from cmc_pipeline.sources.ilostat.catalogue import (
    IlostatIndicator,
    ilostat_indicators,
    imported_indicator,
    split_unit,
)
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


def _resolve(
    published: str, dataset_id: str, api: str, lookup: dict[str, IlostatIndicator]
) -> tuple[IlostatIndicator | None, str | None]:
    """The indicator of a staged row, and the indicator id its slice is held under when the
    row cannot be mapped (so that the slice keeps its previous facts)."""
    catalogue = ilostat_indicators()
    if api == "ilostat_sdmx":
        # SDMX rows carry the measure code (CL_MEASURE); the dataflow says which series.
        of_flow = [i for i in catalogue if i.sdmx_dataflow == dataset_id]
        match = next((i for i in of_flow if i.sdmx_measure == published), None)
        return match, (of_flow[0].indicator_id if of_flow else None)
    if published in lookup:
        return lookup[published], None
    label, _unit = split_unit(str(published))
    if fold_name(label) in lookup:
        return lookup[fold_name(label)], None
    if api == "file":
        # A user's download may hold any indicator ILOSTAT publishes.
        return imported_indicator(published, str(dataset_id).removeprefix("file:")), None
    of_dataset = next((i for i in catalogue if i.bulk_dataset_id == dataset_id), None)
    return None, (of_dataset.indicator_id if of_dataset else None)


def _resolve_rows(staging: pd.DataFrame) -> list[tuple[IlostatIndicator | None, str | None]]:
    """``_resolve`` for each staged row, computed once per distinct indicator × answer."""
    lookup = _indicator_lookup()
    keys = list(zip(staging["indicator"], staging["dataset_id"], staging["api_generation"], strict=True))
    resolved = {key: _resolve(*key, lookup) for key in set(keys)}
    return [resolved[k] for k in keys]


def indicators_of(staging: pd.DataFrame) -> list[IlostatIndicator | None]:
    """The indicator of each staged row (None where neither the catalogue nor, for a
    user's file, the row itself says which)."""
    return [indicator for indicator, _ in _resolve_rows(staging)]


def _to_code(values: pd.Series, dimensions: Iterable[str] | None = None, empty: str = "") -> pd.Series:
    """The ILO code of each value given as a code or a label (any form ILOSTAT writes);
    ``empty`` for an empty value, NA where no code list knows the value."""
    codes = ilo_code_lists()
    allowed = frozenset(dimensions) if dimensions else None

    def one(value):
        if value is None or value is pd.NA or str(value).strip() == "":
            return empty
        return codes.code_for(str(value), allowed)

    return values.map(one, na_action=None).astype("string")


def ilostat_to_facts(staging: pd.DataFrame) -> Harmonised:
    """Fact rows from ``staging.ilostat_observations`` rows.

    A value no code list knows holds back its country × indicator slice (listed in the
    review) and every other slice is mapped.
    """
    unmapped = UnmappedValues(SOURCE_ILOSTAT, FACT_TABLE, slice_column="indicator")
    codes = ilo_code_lists()

    resolved = _resolve_rows(staging)
    indicators = pd.Series([indicator for indicator, _ in resolved], index=staging.index, dtype="object")
    unmapped.add("indicator", staging[indicators.isna()], staging["indicator"][indicators.isna()])

    # An indicator without a sex breakdown has no sex column: "not applicable" (_Z).
    sex = _to_code(staging["sex"], ["sex"], empty=NOT_APPLICABLE)
    unmapped.add("sex", staging[sex.isna()], staging["sex"][sex.isna()])

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
    slice_ids = pd.Series(
        [i.indicator_id if i is not None else held_under for i, held_under in resolved],
        index=staging.index,
        dtype="object",
    )
    held_slices = pd.DataFrame(
        {"country_iso3": staging["country_iso3"][held], "indicator_id": slice_ids[held]}
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
