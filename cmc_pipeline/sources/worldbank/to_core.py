"""World Bank rows → core.fact_observation."""

from __future__ import annotations

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.steps.facts import (
    FACT_TABLE,
    NOT_APPLICABLE,
    empty_facts,
    harmonise_period,
    keep_informative_rows,
)
from cmc_pipeline.steps.review import Harmonised, UnmappedValues

SOURCE_WORLDBANK = "World Bank WDI"


def worldbank_to_facts(staging: pd.DataFrame) -> Harmonised:
    """Fact rows from ``staging.worldbank_observations`` rows; an indicator outside the
    catalogue or a date that is not a period holds back its country × indicator slice."""
    unmapped = UnmappedValues(
        SOURCE_WORLDBANK, FACT_TABLE, slice_column="indicator_id", file_column="file_format"
    )
    catalogue = {i.indicator_id: i for i in worldbank_indicators()}
    known = staging["indicator_id"].isin(list(catalogue))
    unmapped.add("indicator_id", staging[~known], staging["indicator_id"][~known])
    periods = staging["date"].map(harmonise_period)
    unmapped.add("date", staging[periods.isna()], staging["date"][periods.isna()])
    held = unmapped.rows_held_back(staging)
    held_slices = staging.loc[held & known, ["country_iso3", "indicator_id"]]
    staging, periods = staging[~held], periods[~held]
    if staging.empty:  # nothing to map (or every slice held back): no facts, not a crash
        return Harmonised(empty_facts(), unmapped.review(), held_slices)

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
    # Where two vintages of a series are staged, the newer release's figure wins; a
    # demonstration figure ranks below every real one, whatever date its invented meta says.
    vintage = staging["vintage"].astype("string").where(~staging["demonstration_data"].astype(bool), "")
    return Harmonised(keep_informative_rows(facts, vintage), unmapped.review(), held_slices)
