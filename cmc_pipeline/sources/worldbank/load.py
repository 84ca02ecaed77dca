"""Loading the World Bank: fetch (or read a user's download), land raw, parse, check and stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.warehouse import Warehouse, Years
from cmc_pipeline.sources.worldbank import client as worldbank
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.to_core import worldbank_to_facts
from cmc_pipeline.steps.facts import assign_countries
from cmc_pipeline.steps.gate import now, validate_and_save
from cmc_pipeline.steps.landing import land_download, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised

WORLDBANK_STAGING = "staging.worldbank_observations"


def load_worldbank(
    client: worldbank.WorldBankClient,
    warehouse: Warehouse,
    raw_root: Path,
    batch: list[str],
    years: Years | None = None,
) -> LoadReport:
    report = LoadReport(WORLDBANK_STAGING)
    loaded_at = now()

    parsed: list[pd.DataFrame] = []
    for indicator in worldbank_indicators():
        pages = client.fetch(indicator.indicator_id, batch)
        for page in pages:
            landed = land_response(page, raw_root)
            report.note_landing(page, landed)
            parsed.append(
                worldbank.parse_api_pages([page]).assign(
                    raw_sha256=landed.sha256, demonstration_data=page.demonstration, loaded_at=loaded_at
                )
            )

    frame, skipped = assign_countries(pd.concat(parsed, ignore_index=True), "country_code", "worldbank")
    report.skipped = skipped
    frame = frame[frame["country_iso3"].isin(batch)].drop(columns=["country_code"])
    kept_apart: dict = {"file_format": ["api-json"]}
    if years is not None:
        frame = frame[years.contains(frame["date"])]
        kept_apart["date"] = years
    frame = validate_and_save(
        warehouse,
        WORLDBANK_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **kept_apart},
    )
    report.years = str(years or "all")
    return report.finish(frame, batch)


def import_worldbank_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage a WDI bulk-download CSV (``API_<id>_DS2_…csv``)."""
    body, landed = land_download(path, raw_root, "worldbank", uploader=uploader)
    rows = worldbank.parse_bulk_csv(body, origin=f"World Bank file {Path(path).name}")
    frame, skipped = assign_countries(rows, "country_code", "worldbank")
    frame = frame.drop(columns=["country_code"]).assign(
        raw_sha256=landed.sha256, demonstration_data=False, loaded_at=now()
    )
    batch = sorted(set(frame["country_iso3"]))
    report = LoadReport(WORLDBANK_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": Path(path).name, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    indicators = sorted(set(frame["indicator_id"]))
    frame = validate_and_save(
        warehouse,
        WORLDBANK_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {
            "country_iso3": countries,
            "indicator_id": indicators,
            "file_format": ["bulk-csv"],
        },
    )
    return report.finish(frame, batch)


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    """The batch's staged World Bank rows, mapped to the fact table."""
    return worldbank_to_facts(warehouse.read_slice(WORLDBANK_STAGING, {"country_iso3": batch}))
