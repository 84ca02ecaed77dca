"""Missing Migrants incidents → core.migrant_incident and the counts in core.fact_observation.

Causes of death are free text as IOM's editors wrote them ("Presumed drowning",
"Drowning(P)", "bus crash", HTML entities …). They are mapped to IOM's seven published
categories (``codes.csv``) through the texts seen in the real answers
(``cause_texts.csv``), compared after HTML entities are decoded and case, accents and
spacing folded. A text naming several causes ("Dehydration, Presumed drowning") is
"Mixed or unknown" unless all its causes fall in one category. A text not listed holds
back only its country × year slice, listed in ``quality.unmapped_values``.
"""

from __future__ import annotations

import csv
import html
import re
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import fold_name, resolve_country
from cmc_pipeline.steps.facts import FACT_COLUMNS, NOT_APPLICABLE, keep_informative_rows
from cmc_pipeline.steps.review import UnmappedValues

HERE = Path(__file__).resolve().parent
CODES_FILE = HERE / "codes.csv"
CAUSE_TEXTS_FILE = HERE / "cause_texts.csv"

SOURCE_MISSING_MIGRANTS = "IOM Missing Migrants"
INCIDENT_TABLE = "core.migrant_incident"
ROUTE_NOT_STATED = "MMP_RTE_NOT_STATED"
CAUSE_MIXED = "MMP_COD_MIXED"
# The review list needs a country: incidents at sea or outside the CMC countries are
# listed under SDMX's "not applicable".
NO_CMC_COUNTRY = "_Z"


@cache
def missing_migrants_codes() -> dict[str, dict[str, str]]:
    """{dimension: {folded label: code}} for Missing Migrants causes of death and routes."""
    codes: dict[str, dict[str, str]] = {}
    with open(CODES_FILE, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            codes.setdefault(row["dimension"], {})[fold_name(row["label"])] = row["code"]
    return codes


@cache
def cause_texts() -> dict[str, str]:
    """{normalised cause text: cause code}."""
    with open(CAUSE_TEXTS_FILE, encoding="utf-8", newline="") as f:
        return {normalise_text(row["text"]): row["code"] for row in csv.DictReader(f)}


def normalise_text(text: str) -> str:
    """HTML entities decoded; case, accents and spacing folded; end punctuation dropped."""
    return fold_name(html.unescape(text)).strip(" .;")


def _top_level_parts(text: str) -> list[str]:
    """ "A, B" → ["A", "B"]; commas inside parentheses do not separate causes."""
    return [p.strip() for p in re.split(r",(?![^()]*\))", text) if p.strip()]


def cause_code(text: str | None) -> str | None:
    """The cause category of a cause of death as published, or None if unknown."""
    if text is None or not text.strip():
        return None
    known = cause_texts()
    key = normalise_text(text)
    if key in known:
        return known[key]
    parts = _top_level_parts(key)
    if len(parts) < 2:
        return None
    codes = {known.get(part) for part in parts}
    if None in codes:
        return None
    return codes.pop() if len(codes) == 1 else CAUSE_MIXED


def missing_migrants_to_incidents(staging: pd.DataFrame) -> tuple[pd.DataFrame, UnmappedValues]:
    """``core.migrant_incident`` rows (CMC country, cause and route as codes, whole
    numbers) and the values no code list maps, whose country × year slices are held back."""
    codes = missing_migrants_codes()
    located = staging.assign(
        period=staging["dataset_year"].astype("string"),
        country_iso3=staging["country_of_incident"].map(
            lambda v: resolve_country(v) if isinstance(v, str) else None
        ),
    )
    slices = located.assign(country_iso3=located["country_iso3"].fillna(NO_CMC_COUNTRY))
    unmapped = UnmappedValues(
        SOURCE_MISSING_MIGRANTS, INCIDENT_TABLE, slice_column="period", file_column="source_url"
    )
    causes = located["cause_of_death"].map(cause_code)
    unmapped.add("cause_of_death", slices[causes.isna()], located["cause_of_death"][causes.isna()])
    # Most incidents name no route: that is "not stated", not an unmapped route.
    routes = located["migration_route"].map(
        lambda v: (
            codes["route"].get(normalise_text(v)) if isinstance(v, str) and v.strip() else ROUTE_NOT_STATED
        )
    )
    unmapped.add("migration_route", slices[routes.isna()], located["migration_route"][routes.isna()])

    def whole(column: str) -> pd.Series:
        return located[column].round().astype("Int64")

    incidents = pd.DataFrame(
        {
            "record_id": located["record_id"],
            "incident_id": located["web_id"],
            "period": located["period"],
            "incident_date": pd.to_datetime(
                located["reported_date"], errors="coerce", format="%Y-%m-%d"
            ).dt.normalize(),
            "country_iso3": located["country_iso3"],
            "country_of_incident": located["country_of_incident"],
            "cause_of_death": located["cause_of_death"],
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
    held = unmapped.rows_held_back(slices)
    incidents = incidents[~held.to_numpy()]
    return incidents.sort_values("record_id").reset_index(drop=True), unmapped


def incidents_to_facts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Dead and missing, and incident counts, by country × year × cause × route."""
    located = incidents[incidents["country_iso3"].notna()]
    keys = ["country_iso3", "period", "cause_code", "route_code"]
    grouped = located.groupby(keys, sort=True).agg(
        dead_and_missing=("dead_and_missing", "sum"),
        # Records sharing a web_id are parts of one incident.
        incidents=("incident_id", "nunique"),
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
