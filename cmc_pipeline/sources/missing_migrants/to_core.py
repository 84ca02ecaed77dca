"""Missing Migrants incidents → core.migrant_incident and the counts in core.fact_observation."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.reference import fold_name, resolve_country
from cmc_pipeline.steps.facts import FACT_COLUMNS, NOT_APPLICABLE, keep_informative_rows
from cmc_pipeline.steps.review import UnmappedValues

CODES_FILE = Path(__file__).resolve().parent / "codes.csv"


@cache
def missing_migrants_codes() -> dict[str, dict[str, str]]:
    """{dimension: {folded label: code}} for Missing Migrants causes of death and routes."""
    codes: dict[str, dict[str, str]] = {}
    with open(CODES_FILE, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            codes.setdefault(row["dimension"], {})[fold_name(row["label"])] = row["code"]
    return codes


SOURCE_MISSING_MIGRANTS = "IOM Missing Migrants"
ROUTE_NOT_STATED = "MMP_RTE_NOT_STATED"


def missing_migrants_to_incidents(staging: pd.DataFrame) -> pd.DataFrame:
    """``core.migrant_incident`` rows: CMC country, cause and route codes, whole numbers."""
    codes = missing_migrants_codes()
    located = staging.assign(
        dataset_id=staging["dataset_year"].astype("string"),
        country_iso3=staging["country_of_incident"].map(
            lambda v: resolve_country(v) if isinstance(v, str) else None
        ),
    )
    unmapped = UnmappedValues(SOURCE_MISSING_MIGRANTS, "core.migrant_incident", slice_column="dataset_id")

    causes = located["cause_of_death"].map(
        lambda v: codes["cause"].get(fold_name(v)) if isinstance(v, str) else None
    )
    unmapped.add("cause_of_death", located[causes.isna()], located["cause_of_death"][causes.isna()])
    # Most incidents name no route: that is "not stated", not an unmapped route.
    routes = located["migration_route"].map(
        lambda v: codes["route"].get(fold_name(v)) if isinstance(v, str) and v.strip() else ROUTE_NOT_STATED
    )
    unmapped.add("migration_route", located[routes.isna()], located["migration_route"][routes.isna()])
    years = located["incident_year"].str.extract(r"^\s*(\d{4})", expand=False)
    unmapped.add("incident_year", located[years.isna()], located["incident_year"][years.isna()])
    unmapped.raise_if_any()

    def whole(column: str) -> pd.Series:
        return located[column].round().astype("Int64")

    incidents = pd.DataFrame(
        {
            "incident_id": located["incident_id"],
            "period": years,
            "incident_date": pd.to_datetime(
                located["incident_date"], errors="coerce", format="mixed"
            ).dt.normalize(),
            "country_iso3": located["country_iso3"],
            "country_of_incident": located["country_of_incident"],
            "cause_code": causes,
            "route_code": routes,
            "dead": whole("number_dead"),
            "missing": whole("number_missing"),
            "dead_and_missing": whole("total_dead_and_missing"),
            "survivors": whole("number_survivors"),
            "country_of_origin": located["country_of_origin"],
            "source_quality": located["source_quality"],
            "raw_sha256": located["raw_sha256"],
            "demonstration_data": located["demonstration_data"],
            "loaded_at": located["loaded_at"],
        }
    )
    return incidents.sort_values("incident_id").reset_index(drop=True)


def incidents_to_facts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Dead and missing, and incident counts, by country × year × cause × route."""
    located = incidents[incidents["country_iso3"].notna()]
    keys = ["country_iso3", "period", "cause_code", "route_code"]
    grouped = located.groupby(keys, sort=True).agg(
        dead_and_missing=("dead_and_missing", "sum"),
        incidents=("incident_id", "count"),
        raw_sha256=("raw_sha256", "first"),
        demonstration_data=("demonstration_data", "any"),
        loaded_at=("loaded_at", "max"),
    )
    grouped = grouped.reset_index()
    parts = []
    for indicator_id, column, unit in (
        ("MMP_DEAD_MISSING", "dead_and_missing", "persons"),
        ("MMP_INCIDENTS", "incidents", "incidents"),
    ):
        parts.append(
            pd.DataFrame(
                {
                    "country_iso3": grouped["country_iso3"],
                    "period": grouped["period"],
                    "indicator_id": indicator_id,
                    "sex": "SEX_T",
                    "age": NOT_APPLICABLE,
                    "breakdown_1": grouped["cause_code"],
                    "breakdown_2": grouped["route_code"],
                    "source": SOURCE_MISSING_MIGRANTS,
                    "frequency": "A",
                    "value": grouped[column].astype("Float64"),
                    "unit": unit,
                    "unit_multiplier": 0,
                    "obs_status": pd.NA,
                    "source_series_id": "global-figures json",
                    "source_survey": pd.NA,
                    "raw_sha256": grouped["raw_sha256"],
                    "demonstration_data": grouped["demonstration_data"],
                    "loaded_at": grouped["loaded_at"],
                }
            )
        )
    if not parts[0].empty:
        return keep_informative_rows(pd.concat(parts, ignore_index=True))
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FACT_COLUMNS})
