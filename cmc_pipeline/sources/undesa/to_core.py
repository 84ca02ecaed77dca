"""UN DESA International Migrant Stock rows → core.fact_observation and core.migration_corridor."""
# Two staging tables feed the facts: the by-destination tables (real workbooks of Rev.2019
# and Rev.2020; ``destination_facts``) and the destination × origin table (``undesa_to_facts``).

from __future__ import annotations

from collections.abc import Iterable

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.sources.undesa import parser
from cmc_pipeline.steps.facts import FACT_COLUMNS, NOT_APPLICABLE, HarmonisationError, keep_informative_rows  # noqa: F401

SOURCE_UNDESA = "UN DESA IMS"
UNDESA_SEX = {"both sexes": "SEX_T", "male": "SEX_M", "female": "SEX_F"}
UNDESA_SERIES = "IMS destination and origin, Table 1"

# measure in staging.undesa_stock_by_destination → (indicator, unit, unit multiplier), from
# measures.csv. Total population is published in thousands: the value stays as published,
# the multiplier says so.
DESTINATION_INDICATORS = parser.INDICATORS
# '~' in the workbook: protected for privacy (fewer than five) — SDMX status C, confidential.
CONFIDENTIAL = {"~": "C"}


def destination_facts(staging: pd.DataFrame) -> pd.DataFrame:
    """Facts from the by-destination tables; where several revisions give a country's series
    (country × indicator), the newest revision's series is kept — the older ones, including
    years only they give (2019 in Rev.2019), stay in staging. A revision that gives no
    figure at all for a series ('..' throughout) does not hide an older one."""
    rows = staging[staging["value"].notna() | staging["value_marker"].isin(list(CONFIDENTIAL))]
    unknown_sex = ~rows["sex"].isin(list(UNDESA_SEX))
    unknown_measure = ~rows["measure"].isin(list(DESTINATION_INDICATORS))
    if unknown_sex.any() or unknown_measure.any():
        raise HarmonisationError(
            f"UN DESA by-destination rows with no mapping: sex {sorted(set(rows['sex'][unknown_sex]))}, "
            f"measure {sorted(set(rows['measure'][unknown_measure]))}"
        )
    # One revision per country × measure, every year and sex from it: a revision re-estimates
    # the whole series (Rev.2020 revised 1990–2015 and counts refugees differently), so a
    # series stitched from two revisions would show jumps that are no real change.
    slice_key = ["country_iso3", "measure"]
    newest = rows.groupby(slice_key)["revision"].transform("max")
    rows = rows[rows["revision"] == newest]
    mapped = rows["measure"].map(DESTINATION_INDICATORS)
    facts = pd.DataFrame(
        {
            "country_iso3": rows["country_iso3"],
            "period": rows["year"].astype("string"),
            "indicator_id": mapped.str[0],
            "sex": rows["sex"].map(UNDESA_SEX),
            "age": NOT_APPLICABLE,
            "breakdown_1": NOT_APPLICABLE,
            "breakdown_2": NOT_APPLICABLE,
            "source": SOURCE_UNDESA,
            "frequency": "A",
            "value": rows["value"],
            "unit": mapped.str[1],
            "unit_multiplier": mapped.str[2].astype("Int64"),
            "obs_status": rows["value_marker"].map(CONFIDENTIAL),
            "source_series_id": "IMS Rev." + rows["revision"] + " by destination, " + rows["sheet"],
            "source_survey": rows["data_type"],
            "raw_sha256": rows["raw_sha256"],
            "demonstration_data": rows["demonstration_data"],
            "loaded_at": rows["loaded_at"],
        }
    )
    return facts


def undesa_to_facts(staging: pd.DataFrame, batch: Iterable[str]) -> pd.DataFrame:
    """Stocks of the batch's countries, both directions: migrants living in the country by
    origin (``CBR_BRT_<ISO3>``, all origins ``CBR_BIR_FOREIGN``) and people born there
    living abroad by destination (``CRS_RES_<ISO3>``, all destinations ``CRS_RES_TOTAL``).

    Regions and groups other than the world total are left out on purpose: the warehouse
    computes its own regional figures from countries.
    """
    batch = list(batch)
    immigrants = staging[
        staging["destination_iso3"].isin(batch) & staging["origin_kind"].isin(["country", "world"])
    ]
    emigrants = staging[
        staging["origin_iso3"].isin(batch) & staging["destination_kind"].isin(["country", "world"])
    ]
    parts = [
        _undesa_facts(
            immigrants,
            immigrants["destination_iso3"],
            "UNDESA_IMS_IMMIGRANT_STOCK",
            ("CBR_BRT_" + immigrants["origin_iso3"]).fillna("CBR_BIR_FOREIGN"),
        ),
        _undesa_facts(
            emigrants,
            emigrants["origin_iso3"],
            "UNDESA_IMS_EMIGRANT_STOCK",
            ("CRS_RES_" + emigrants["destination_iso3"]).fillna("CRS_RES_TOTAL"),
        ),
    ]
    return keep_informative_rows(pd.concat(parts, ignore_index=True))


def _undesa_facts(rows: pd.DataFrame, country: pd.Series, indicator_id: str, breakdown: pd.Series):
    unknown_sex = ~rows["sex"].isin(list(UNDESA_SEX))
    if unknown_sex.any():
        raise HarmonisationError(
            f"UN DESA sex blocks with no mapping: {sorted(set(rows['sex'][unknown_sex]))}"
        )
    return pd.DataFrame(
        {
            "country_iso3": country,
            "period": rows["year"].astype("string"),
            "indicator_id": indicator_id,
            "sex": rows["sex"].map(UNDESA_SEX),
            "age": NOT_APPLICABLE,
            "breakdown_1": breakdown,
            "breakdown_2": NOT_APPLICABLE,
            "source": SOURCE_UNDESA,
            "frequency": "A",
            "value": rows["value"],
            "unit": "persons",
            "unit_multiplier": 0,
            "obs_status": pd.NA,
            "source_series_id": UNDESA_SERIES,
            "source_survey": rows["data_type"],
            "raw_sha256": rows["raw_sha256"],
            "demonstration_data": rows["demonstration_data"],
            "loaded_at": rows["loaded_at"],
        }
    )


def undesa_to_corridors(staging: pd.DataFrame) -> pd.DataFrame:
    """Country-to-country stocks (both ends with an ISO3 code) that have a value."""
    pairs = staging[
        staging["origin_iso3"].notna() & staging["destination_iso3"].notna() & staging["value"].notna()
    ]
    corridors = pd.DataFrame(
        {
            "origin_iso3": pairs["origin_iso3"],
            "destination_iso3": pairs["destination_iso3"],
            "period": pairs["year"].astype("string"),
            "sex": pairs["sex"].map(UNDESA_SEX),
            "stock": pairs["value"],
            "origin_name": pairs["origin_name"],
            "destination_name": pairs["destination_name"],
            "data_type": pairs["data_type"],
            "source": SOURCE_UNDESA,
            "raw_sha256": pairs["raw_sha256"],
            "demonstration_data": pairs["demonstration_data"],
            "loaded_at": pairs["loaded_at"],
        }
    )
    if corridors["sex"].isna().any():
        raise HarmonisationError(
            f"UN DESA sex blocks with no mapping: {sorted(set(pairs['sex']) - set(UNDESA_SEX))}"
        )
    return corridors.sort_values(["origin_iso3", "destination_iso3", "period", "sex"]).reset_index(drop=True)
