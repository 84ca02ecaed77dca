"""Loading UN DESA International Migrant Stock workbooks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.undesa import client as undesa
from cmc_pipeline.sources.undesa import to_core
from cmc_pipeline.steps.fetching import FetchedResponse
from cmc_pipeline.steps.gate import now
from cmc_pipeline.steps.landing import downloaded_file, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised

UNDESA_STAGING = "staging.undesa_migrant_stock"
CORRIDOR_TABLE = "core.migration_corridor"


def _holds_real_rows(warehouse: Warehouse, table: str) -> bool:
    if not warehouse.table_exists(table):
        return False
    found = warehouse.query(f"SELECT count(*) AS n FROM {table} WHERE NOT demonstration_data")
    return bool(found["n"].iloc[0])


def _countries_in(*columns: pd.Series) -> list[str]:
    return sorted({c for column in columns for c in column.dropna()})


def load_undesa(client: undesa.UndesaClient, warehouse: Warehouse, raw_root: Path) -> LoadReport:
    """Stage the destination-and-origin workbook (the snapshot, or the live file)."""
    return _stage_undesa(client.fetch(), warehouse, raw_root)


def import_undesa_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Stage an official workbook a user downloaded from the UN DESA site."""
    return _stage_undesa(downloaded_file(path, "undesa"), warehouse, raw_root, uploader=uploader)


def _stage_undesa(
    response: FetchedResponse, warehouse: Warehouse, raw_root: Path, *, uploader: str | None = None
) -> LoadReport:
    report = LoadReport(UNDESA_STAGING)
    landed = land_response(response, raw_root, uploader=uploader)
    report.note_landing(response, landed)

    name = Path(response.url).name
    rows, skipped = undesa.parse_workbook(response.body, origin=f"UN DESA workbook {name}")
    frame = rows.assign(raw_sha256=landed.sha256, demonstration_data=response.demonstration, loaded_at=now())
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
    corridors = to_core.undesa_to_corridors(staging)
    report = LoadReport(CORRIDOR_TABLE, preview=corridors.head(10))
    report.demonstration = bool(corridors["demonstration_data"].any()) if len(corridors) else False
    report.countries = _countries_in(corridors["origin_iso3"], corridors["destination_iso3"])
    report.rows_written = warehouse.replace_slice(CORRIDOR_TABLE, corridors, {})
    return report


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    """Fact rows for the batch's countries, from the staged pairs with one of them at an end."""
    contract_columns = ["destination_code", "origin_code", "year", "sex"]
    rows = pd.concat(
        [
            warehouse.read_slice(UNDESA_STAGING, {"destination_iso3": batch}),
            warehouse.read_slice(UNDESA_STAGING, {"origin_iso3": batch}),
        ],
        ignore_index=True,
    ).drop_duplicates(contract_columns)
    return Harmonised.of(to_core.undesa_to_facts(rows, batch))
