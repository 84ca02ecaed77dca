"""Loading steps for migration stocks and IOM data: UN DESA, Missing Migrants, DTM.

Same shape as ``open_data``: load inputs (fetch and land raw), process (parse to typed
staging rows), save (replace the table in one transaction). These sources are not
partitioned by country: one UN DESA workbook and one Missing Migrants list per year cover
the whole world, a corridor belongs to two countries, and an incident at sea to none.
Their country facts are written by ``core.fact_observation``, per country partition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cmc_pipeline.lib import harmonise
from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.open_data import LoadReport, land_response
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.lib.sources import dtm, missing_migrants, undesa
from cmc_pipeline.lib.sources.common import FetchedResponse
from cmc_pipeline.lib.warehouse import Warehouse

UNDESA_STAGING = "staging.undesa_migrant_stock"
CORRIDOR_TABLE = "core.migration_corridor"
MISSING_MIGRANTS_STAGING = "staging.missing_migrants_incidents"
INCIDENT_TABLE = "core.migrant_incident"
DTM_STAGING = "staging.dtm_displacement"
DISPLACEMENT_TABLE = "core.displacement"


def _now() -> datetime:
    return datetime.now(UTC)


def _holds_real_rows(warehouse: Warehouse, table: str) -> bool:
    if not warehouse.table_exists(table):
        return False
    found = warehouse.query(f"SELECT count(*) AS n FROM {table} WHERE NOT demonstration_data")
    return bool(found["n"].iloc[0])


def _countries_in(*columns: pd.Series) -> list[str]:
    return sorted({c for column in columns for c in column.dropna()})


# --- UN DESA International Migrant Stock -------------------------------------------------


def load_undesa(client: undesa.UndesaClient, warehouse: Warehouse, raw_root: Path) -> LoadReport:
    """Stage the destination-and-origin workbook (the snapshot, or the live file)."""
    return _stage_undesa(client.fetch(), warehouse, raw_root)


def import_undesa_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Stage an official workbook a user downloaded from the UN DESA site."""
    response = FetchedResponse(
        source="undesa",
        api="file",
        dataset_id=f"file:{Path(path).name}",
        url=str(path),
        body=Path(path).read_bytes(),
        retrieved_at=utc_now_iso(),
        demonstration=False,
        suffix=".xlsx",
    )
    return _stage_undesa(response, warehouse, raw_root, uploader=uploader)


def _stage_undesa(
    response: FetchedResponse, warehouse: Warehouse, raw_root: Path, *, uploader: str | None = None
) -> LoadReport:
    report = LoadReport(UNDESA_STAGING)
    landed = land_response(response, raw_root, uploader=uploader)
    report.note_landing(response, landed)

    name = Path(response.url).name
    rows, skipped = undesa.parse_workbook(response.body, origin=f"UN DESA workbook {name}")
    frame = rows.assign(raw_sha256=landed.sha256, demonstration_data=response.demonstration, loaded_at=_now())
    report.skipped = skipped
    report.countries = _countries_in(frame["destination_iso3"], frame["origin_iso3"])
    report.preview = frame.head(10)
    # A user's import of the official workbook must survive the next `cmc build`, which
    # would otherwise stage the bundled demonstration workbook over it.
    if response.demonstration and _holds_real_rows(warehouse, UNDESA_STAGING):
        report.skipped["demonstration rows not loaded over an imported official workbook"] = len(frame)
        report.demonstration = False
        return report
    report.rows_written = warehouse.replace_slice(UNDESA_STAGING, frame, {})
    return report


def build_migration_corridors(warehouse: Warehouse) -> LoadReport:
    staging = warehouse.read_slice(UNDESA_STAGING, {})
    corridors = harmonise.undesa_to_corridors(staging)
    report = LoadReport(CORRIDOR_TABLE, preview=corridors.head(10))
    report.demonstration = bool(corridors["demonstration_data"].any()) if len(corridors) else False
    report.countries = _countries_in(corridors["origin_iso3"], corridors["destination_iso3"])
    report.rows_written = warehouse.replace_slice(CORRIDOR_TABLE, corridors, {})
    return report


def undesa_facts(warehouse: Warehouse, batch: list[str]) -> pd.DataFrame:
    """Fact rows for the batch's countries, from the staged pairs with one of them at an end."""
    contract_columns = ["destination_code", "origin_code", "year", "sex"]
    rows = pd.concat(
        [
            warehouse.read_slice(UNDESA_STAGING, {"destination_iso3": batch}),
            warehouse.read_slice(UNDESA_STAGING, {"origin_iso3": batch}),
        ],
        ignore_index=True,
    ).drop_duplicates(contract_columns)
    return harmonise.undesa_to_facts(rows, batch)


# --- IOM Missing Migrants Project --------------------------------------------------------
# Incidents are events, not statistics: core.migrant_incident keeps one row per incident
# (date, place, cause, route, source quality) for lists and maps, including incidents at
# sea that belong to no country, while core.fact_observation gets the comparable counts by
# country × year × cause × route that sit beside the other indicators.


def load_missing_migrants(
    client: missing_migrants.MissingMigrantsClient, warehouse: Warehouse, raw_root: Path
) -> LoadReport:
    """Stage every Caribbean incident of every year."""
    report = LoadReport(MISSING_MIGRANTS_STAGING)
    loaded_at = _now()

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
    incidents = harmonise.missing_migrants_to_incidents(staging)
    report = LoadReport(INCIDENT_TABLE, preview=incidents.head(10))
    report.demonstration = bool(incidents["demonstration_data"].any()) if len(incidents) else False
    report.countries = _countries_in(incidents["country_iso3"])
    outside = int(incidents["country_iso3"].isna().sum())
    if outside:
        report.skipped = {"incidents at sea or outside the CMC countries (kept, no country facts)": outside}
    report.rows_written = warehouse.replace_slice(INCIDENT_TABLE, incidents, {})
    return report


def missing_migrants_facts(warehouse: Warehouse, batch: list[str]) -> pd.DataFrame:
    return harmonise.incidents_to_facts(warehouse.read_slice(INCIDENT_TABLE, {"country_iso3": batch}))


# --- IOM Displacement Tracking Matrix ----------------------------------------------------


def load_dtm(client: dtm.DtmClient, warehouse: Warehouse, raw_root: Path, countries: list[str]) -> LoadReport:
    """Stage DTM admin 0 figures for ``countries``; every row is marked restricted."""
    report = LoadReport(DTM_STAGING)
    loaded_at = _now()

    parsed = []
    for iso3 in countries:
        response = client.fetch_admin0(iso3)
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        parsed.append(dtm.parse_admin0(response).assign(raw_sha256=landed.sha256, loaded_at=loaded_at))

    frame = pd.concat(parsed, ignore_index=True)
    frame["country_iso3"] = frame["admin0_pcode"].map(
        lambda v: resolve_country(v) if isinstance(v, str) else None
    )
    unknown = frame[frame["country_iso3"].isna()]
    if len(unknown):
        raise SourceError(
            f"DTM records for areas that are not CMC countries: {sorted(set(unknown['admin0_pcode']))}"
        )
    frame = frame.drop(columns=["admin0_pcode"]).assign(dissemination_level=dtm.RESTRICTED)
    report.countries = sorted(set(frame["country_iso3"]))
    report.countries_without_rows = [c for c in countries if c not in report.countries]
    report.rows_written = warehouse.replace_slice(DTM_STAGING, frame, {})
    return report


def build_displacement(warehouse: Warehouse) -> LoadReport:
    rows = harmonise.dtm_to_displacement(warehouse.read_slice(DTM_STAGING, {}))
    report = LoadReport(DISPLACEMENT_TABLE)
    report.countries = sorted(set(rows["country_iso3"]))
    report.rows_written = warehouse.replace_slice(DISPLACEMENT_TABLE, rows, {})
    return report
