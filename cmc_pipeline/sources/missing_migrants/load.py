"""Loading IOM Missing Migrants Project incidents."""

from __future__ import annotations

from pathlib import Path

from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import cmc_iso3_codes, resolve_country
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.missing_migrants import client as missing_migrants
from cmc_pipeline.sources.missing_migrants import parser, to_core
from cmc_pipeline.sources.missing_migrants.to_core import (
    INCIDENT_TABLE,
    NO_CMC_COUNTRY,
    SOURCE_MISSING_MIGRANTS,
)
from cmc_pipeline.steps.gate import now, save_review, validate_and_replace
from cmc_pipeline.steps.landing import land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised

MISSING_MIGRANTS_STAGING = "staging.missing_migrants_incidents"


def _countries_in(*columns: pd.Series) -> list[str]:
    return sorted({c for column in columns for c in column.dropna()})


# Incidents are events, not statistics: core.migrant_incident keeps one row per record
# (date, place, cause, route, source quality) for lists and maps, including incidents at
# sea that belong to no country, while core.fact_observation gets the comparable counts by
# country × year × cause × route that sit beside the other indicators.


def load_missing_migrants(
    client: missing_migrants.MissingMigrantsClient, warehouse: Warehouse, raw_root: Path
) -> LoadReport:
    """Stage every record of the Caribbean region or of a CMC country, every year."""
    report = LoadReport(MISSING_MIGRANTS_STAGING)
    loaded_at = now()

    responses = client.fetch_all()
    parsed, elsewhere, empty_years = [], 0, []
    for response in responses:
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        rows, outside = parser.parse_year(response)
        if rows.empty and not outside:
            empty_years.append(response.dataset_id)
        elsewhere += outside
        parsed.append(
            rows.assign(
                raw_sha256=landed.sha256, demonstration_data=response.demonstration, loaded_at=loaded_at
            )
        )
    if not parsed:
        raise SourceError("no Missing Migrants years to load (none recorded in the snapshots?)")

    # Every record is kept: records sharing a web_id are distinct counts (parser.py).
    frame = pd.concat(parsed, ignore_index=True)
    report.skipped = (
        {"incidents outside the Caribbean region and the CMC countries": elsewhere} if elsewhere else {}
    )
    if empty_years:
        # An empty list is a legitimate answer (a year just begun), but a person should see it.
        report.skipped[f"years with an empty incident list ({', '.join(empty_years)})"] = len(empty_years)
    not_answered = client.years_not_answered(responses)
    if not_answered:
        # No answer recorded (snapshot mode): the years are absent, not invented.
        years = ", ".join(str(y) for y in not_answered)
        report.skipped[f"years with no recorded answer, absent from the warehouse ({years})"] = len(
            not_answered
        )
    report.countries = _countries_in(
        frame["country_of_incident"].map(lambda v: resolve_country(v) if isinstance(v, str) else None)
    )
    report.preview = frame.head(10)
    # Whole: incidents at sea belong to no country.
    validate_and_replace(warehouse, MISSING_MIGRANTS_STAGING, frame, report)
    return report


def build_migrant_incidents(warehouse: Warehouse) -> LoadReport:
    """Harmonise the staged records into core.migrant_incident. A cause or route no code
    list maps holds back its country × year slice (its previous rows stay) and is listed
    in quality.unmapped_values; every other slice is written."""
    staging = warehouse.read_slice(MISSING_MIGRANTS_STAGING, {})
    incidents, unmapped = to_core.missing_migrants_to_incidents(staging)
    report = LoadReport(INCIDENT_TABLE, preview=incidents.head(10))
    report.unmapped = unmapped.review()

    held = report.unmapped[["country_iso3", "slice"]].drop_duplicates()
    if len(held):
        previous = (
            warehouse.read_slice(INCIDENT_TABLE, {}) if warehouse.table_exists(INCIDENT_TABLE) else None
        )
        if previous is not None and len(previous):
            slice_of = pd.MultiIndex.from_arrays(
                [
                    previous["country_iso3"].fillna(NO_CMC_COUNTRY).astype("string"),
                    previous["period"].astype("string"),
                ]
            )
            kept = previous[slice_of.isin(pd.MultiIndex.from_frame(held.astype("string")))]
            incidents = pd.concat([incidents, kept.reindex(columns=incidents.columns)], ignore_index=True)
        # The values, counts, files and records are in quality.unmapped_values.
        report.skipped["country × year slices held back for unmapped values (quality.unmapped_values)"] = len(
            held
        )

    report.demonstration = bool(incidents["demonstration_data"].any()) if len(incidents) else False
    report.countries = _countries_in(incidents["country_iso3"])
    outside = int(incidents["country_iso3"].isna().sum())
    if outside:
        report.skipped["incidents at sea or outside the CMC countries (kept, no country facts)"] = outside
    validate_and_replace(warehouse, INCIDENT_TABLE, incidents, report)
    save_review(
        warehouse,
        report,
        source=SOURCE_MISSING_MIGRANTS,
        table=INCIDENT_TABLE,
        countries=[*cmc_iso3_codes(), NO_CMC_COUNTRY],
    )
    return report


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    return Harmonised.of(
        to_core.incidents_to_facts(warehouse.read_slice(INCIDENT_TABLE, {"country_iso3": batch}))
    )
