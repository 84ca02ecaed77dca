"""Loading IOM Displacement Tracking Matrix records (restricted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.dtm import client as dtm
from cmc_pipeline.sources.dtm import to_core
from cmc_pipeline.steps.gate import now
from cmc_pipeline.steps.landing import land_response
from cmc_pipeline.steps.load_report import LoadReport

DTM_STAGING = "staging.dtm_displacement"
DISPLACEMENT_TABLE = "core.displacement"


def load_dtm(client: dtm.DtmClient, warehouse: Warehouse, raw_root: Path, countries: list[str]) -> LoadReport:
    """Stage DTM admin 0 figures for ``countries``; every row is marked restricted."""
    report = LoadReport(DTM_STAGING)
    loaded_at = now()

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
    rows = to_core.dtm_to_displacement(warehouse.read_slice(DTM_STAGING, {}))
    report = LoadReport(DISPLACEMENT_TABLE)
    report.countries = sorted(set(rows["country_iso3"]))
    report.rows_written = warehouse.replace_slice(DISPLACEMENT_TABLE, rows, {})
    return report
