"""Loading IOM Missing Migrants Project incidents."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.missing_migrants import client as missing_migrants
from cmc_pipeline.sources.missing_migrants import to_core
from cmc_pipeline.steps.gate import now
from cmc_pipeline.steps.landing import land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised

MISSING_MIGRANTS_STAGING = "staging.missing_migrants_incidents"
INCIDENT_TABLE = "core.migrant_incident"


def _countries_in(*columns: pd.Series) -> list[str]:
    return sorted({c for column in columns for c in column.dropna()})


# Incidents are events, not statistics: core.migrant_incident keeps one row per incident
# (date, place, cause, route, source quality) for lists and maps, including incidents at
# sea that belong to no country, while core.fact_observation gets the comparable counts by
# country × year × cause × route that sit beside the other indicators.


def load_missing_migrants(
    client: missing_migrants.MissingMigrantsClient, warehouse: Warehouse, raw_root: Path
) -> LoadReport:
    """Stage every Caribbean incident of every year."""
    report = LoadReport(MISSING_MIGRANTS_STAGING)
    loaded_at = now()

    parsed, other_regions, empty_years = [], 0, []
    for response in client.fetch_all():
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        rows, elsewhere = missing_migrants.parse_year(response)
        if rows.empty and not elsewhere:
            empty_years.append(response.dataset_id)
        other_regions += elsewhere
        parsed.append(
            rows.assign(
                raw_sha256=landed.sha256, demonstration_data=response.demonstration, loaded_at=loaded_at
            )
        )
    if not parsed:
        raise SourceError("no Missing Migrants years to load (none recorded in the snapshots?)")

    frame = pd.concat(parsed, ignore_index=True)
    # An incident reported late can appear in two yearly lists; the later list is newer.
    repeated = frame.duplicated("incident_id", keep="last")
    frame = frame[~repeated].reset_index(drop=True)
    report.skipped = {
        k: v
        for k, v in {
            "incidents outside the Caribbean region": other_regions,
            "incidents listed again in a later year": int(repeated.sum()),
        }.items()
        if v
    }
    if empty_years:
        # An empty list is a legitimate answer (a year just begun), but a person should see it.
        report.skipped[f"years with an empty incident list ({', '.join(empty_years)})"] = len(empty_years)
    report.countries = _countries_in(
        frame["country_of_incident"].map(lambda v: resolve_country(v) if isinstance(v, str) else None)
    )
    report.preview = frame.head(10)
    report.rows_written = warehouse.replace_slice(MISSING_MIGRANTS_STAGING, frame, {})
    return report


def build_migrant_incidents(warehouse: Warehouse) -> LoadReport:
    staging = warehouse.read_slice(MISSING_MIGRANTS_STAGING, {})
    incidents = to_core.missing_migrants_to_incidents(staging)
    report = LoadReport(INCIDENT_TABLE, preview=incidents.head(10))
    report.demonstration = bool(incidents["demonstration_data"].any()) if len(incidents) else False
    report.countries = _countries_in(incidents["country_iso3"])
    outside = int(incidents["country_iso3"].isna().sum())
    if outside:
        report.skipped = {"incidents at sea or outside the CMC countries (kept, no country facts)": outside}
    report.rows_written = warehouse.replace_slice(INCIDENT_TABLE, incidents, {})
    return report


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    return Harmonised.of(
        to_core.incidents_to_facts(warehouse.read_slice(INCIDENT_TABLE, {"country_iso3": batch}))
    )
