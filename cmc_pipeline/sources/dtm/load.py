"""Loading IOM Displacement Tracking Matrix records (restricted)."""

from __future__ import annotations

from pathlib import Path

from cmc_pipeline.lib.http import SourceError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.dtm import client as dtm
from cmc_pipeline.sources.dtm import parser, to_core
from cmc_pipeline.steps.gate import now, validate_and_replace
from cmc_pipeline.steps.landing import land_response
from cmc_pipeline.steps.load_report import LoadReport

DTM_STAGING = "staging.dtm_displacement"
DISPLACEMENT_TABLE = "core.displacement"


def load_dtm(client: dtm.DtmClient, warehouse: Warehouse, raw_root: Path, countries: list[str]) -> LoadReport:
    """Stage DTM admin 0 figures for those of ``countries`` DTM publishes figures for;
    every row is marked restricted.

    The country and operation lists say which countries DTM covers at all: only those are
    asked for, and the report names the CMC countries it has no figures for."""
    report = LoadReport(DTM_STAGING)
    loaded_at = now()

    covered: set[str] = set()
    for fetch in (client.fetch_country_list, client.fetch_operation_list):
        response = fetch()
        report.note_landing(response, land_response(response, raw_root))
        covered |= parser.country_codes(response)
    requested = [c for c in countries if c in covered]
    not_covered = [c for c in countries if c not in covered]
    if not_covered:
        report.skipped[
            f"CMC countries DTM publishes no figures for (not in its country and operation lists): "
            f"{', '.join(not_covered)}"
        ] = len(not_covered)

    parsed = []
    for iso3 in requested:
        response = client.fetch_admin0(iso3)
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        parsed.append(parser.parse_admin0(response).assign(raw_sha256=landed.sha256, loaded_at=loaded_at))

    frame = (
        pd.concat(parsed, ignore_index=True)
        if parsed
        else parser.parse_admin0_empty().assign(raw_sha256=pd.Series(dtype="string"), loaded_at=loaded_at)
    )
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
    report.countries_without_rows = [c for c in requested if c not in report.countries]
    report.preview = frame.head(10)
    validate_and_replace(warehouse, DTM_STAGING, frame, report, by="country_iso3")
    return report


def build_displacement(warehouse: Warehouse) -> LoadReport:
    rows = to_core.dtm_to_displacement(warehouse.read_slice(DTM_STAGING, {}))
    report = LoadReport(DISPLACEMENT_TABLE)
    validate_and_replace(warehouse, DISPLACEMENT_TABLE, rows, report, by="country_iso3")
    return report
