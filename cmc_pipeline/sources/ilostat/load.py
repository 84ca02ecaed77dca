"""Loading ILOSTAT: fetch (or read a user's download), land raw, parse, check and stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmc_pipeline.lib.warehouse import Warehouse, Years
from cmc_pipeline.sources.ilostat import client as ilostat
from cmc_pipeline.sources.ilostat.catalogue import ilostat_indicators
from cmc_pipeline.sources.ilostat.to_core import ilostat_to_facts
from cmc_pipeline.steps.facts import assign_countries
from cmc_pipeline.steps.gate import now, validate_and_save
from cmc_pipeline.steps.landing import land_download, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised

ILOSTAT_STAGING = "staging.ilostat_observations"
ILOSTAT_API_GENERATIONS = ["ilostat_bulk", "ilostat_sdmx"]


def load_ilostat(
    client: ilostat.IlostatClient,
    warehouse: Warehouse,
    raw_root: Path,
    batch: list[str],
    years: Years | None = None,
) -> LoadReport:
    """Fetch every catalogue indicator for the batch of countries into staging; with
    ``years``, only the rows of those years are replaced and the others kept."""
    report = LoadReport(ILOSTAT_STAGING)
    loaded_at = now()

    # Load inputs: one request per indicator covers the whole batch of countries.
    parts: list[pd.DataFrame] = []
    for indicator in ilostat_indicators():
        response = client.fetch(indicator, batch)
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        rows = ilostat.parse_response(response, indicator)
        # Process: keep the batch's countries (snapshots cover all of them; a live answer
        # only the batch), naming what was left out. Each response stays its own part so
        # that one whose columns changed blocks only the countries it covers.
        rows, skipped = assign_countries(rows, "ref_area", "ilostat")
        report.add_skipped(skipped)
        parts.append(
            rows[rows["country_iso3"].isin(batch)].assign(
                dataset_id=response.dataset_id,
                api_generation=response.api,
                raw_sha256=landed.sha256,
                demonstration_data=response.demonstration,
                loaded_at=loaded_at,
            )
        )

    # With selected years only those years' rows are replaced; the other years stay.
    kept_apart: dict = {"api_generation": ILOSTAT_API_GENERATIONS}
    if years is not None:
        parts = [part[years.contains(part["time"])] if "time" in part else part for part in parts]
        kept_apart["time"] = years

    # Save: the API rows of the countries that pass their contract are replaced as one
    # slice; rows a user imported from a downloaded file (api_generation "file") are left alone.
    frame = validate_and_save(
        warehouse,
        ILOSTAT_STAGING,
        parts,
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **kept_apart},
    )
    report.years = str(years or "all")
    return report.finish(frame, batch)


def import_ilostat_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage an ILOSTAT CSV a user downloaded (code or label form), then
    rebuild the core facts of the countries it covers."""
    dataset_id = f"file:{Path(path).name}"
    body, landed = land_download(path, raw_root, "ilostat", uploader=uploader)
    rows = ilostat.parse_bulk_csv(body, origin=f"ILOSTAT file {Path(path).name}")
    frame, skipped = assign_countries(rows, "ref_area", "ilostat")
    frame = frame.assign(
        dataset_id=dataset_id,
        api_generation="file",
        raw_sha256=landed.sha256,
        demonstration_data=False,
        loaded_at=now(),
    )
    batch = sorted(set(frame["country_iso3"]))
    report = LoadReport(ILOSTAT_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": dataset_id, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    frame = validate_and_save(
        warehouse,
        ILOSTAT_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, "dataset_id": [dataset_id]},
    )
    return report.finish(frame, batch)


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    """The batch's staged ILOSTAT rows, mapped to the fact table."""
    return ilostat_to_facts(warehouse.read_slice(ILOSTAT_STAGING, {"country_iso3": batch}))
