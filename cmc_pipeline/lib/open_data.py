"""Loading steps for the open-data sources, shared by the Dagster assets and the CLI.

Each step reads top-down in three parts: load inputs (fetch every response and land it
raw), process (parse to typed staging rows), save (replace the slice in one transaction).
All fetching happens before any writing, so a source that fails half-way through leaves
the warehouse exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cmc_pipeline.lib import harmonise
from cmc_pipeline.lib.raw_store import LandedFile, land_bytes, utc_now_iso
from cmc_pipeline.lib.reference import (
    COUNTRY_FLAG_COLUMNS,
    LICENCES,
    countries,
    ilostat_indicators,
    worldbank_indicators,
)
from cmc_pipeline.lib.sources import ilostat, worldbank
from cmc_pipeline.lib.sources.common import FetchedResponse
from cmc_pipeline.lib.warehouse import Warehouse, Years

ILOSTAT_STAGING = "staging.ilostat_observations"
WORLDBANK_STAGING = "staging.worldbank_observations"
FACT_TABLE = "core.fact_observation"
ILOSTAT_API_GENERATIONS = ["ilostat_bulk", "ilostat_sdmx"]


@dataclass
class LoadReport:
    """What one step did, for Dagster metadata and the CLI summary."""

    table: str
    rows_written: int = 0
    countries: list[str] = field(default_factory=list)
    raw_files: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    countries_without_rows: list[str] = field(default_factory=list)
    demonstration: bool = False
    preview: pd.DataFrame | None = None
    years: str = "all"  # the years replaced: all the source gave, or a selected range

    def note_landing(self, response: FetchedResponse, landed: LandedFile) -> None:
        self.raw_files.append(
            {
                "dataset": response.dataset_id,
                "url": response.url,
                "sha256": landed.sha256,
                "bytes": len(response.body),
            }
        )
        self.demonstration = self.demonstration or response.demonstration


def _now() -> datetime:
    return datetime.now(UTC)


def _land(response: FetchedResponse, raw_root: Path) -> LandedFile:
    return land_bytes(
        raw_root,
        response.source,
        response.body,
        suffix=response.suffix,
        provenance={
            "url": response.url,
            "retrieved_at": response.retrieved_at,
            "producer": "ILO (ILOSTAT)" if response.source == "ilostat" else "World Bank",
            "licence": LICENCES[response.source],
            "api": response.api,
            "dataset": response.dataset_id,
            "demonstration_data": response.demonstration,
        },
    )


def _finish_report(report: LoadReport, frame: pd.DataFrame, batch: list[str]) -> LoadReport:
    present = set(frame["country_iso3"]) if len(frame) else set()
    report.countries = list(batch)
    report.countries_without_rows = [c for c in batch if c not in present]
    report.preview = frame.head(10)
    return report


# --- ILOSTAT ----------------------------------------------------------------------------


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
    loaded_at = _now()

    # Load inputs: one request per indicator covers the whole batch of countries.
    parsed: list[pd.DataFrame] = []
    for indicator in ilostat_indicators():
        response = client.fetch(indicator, batch)
        landed = _land(response, raw_root)
        report.note_landing(response, landed)
        rows = ilostat.parse_response(response, indicator)
        parsed.append(
            rows.assign(
                dataset_id=response.dataset_id,
                api_generation=response.api,
                raw_sha256=landed.sha256,
                demonstration_data=response.demonstration,
                loaded_at=loaded_at,
            )
        )

    # Process: keep the batch's countries (snapshots cover all of them; a live answer
    # only the batch), naming what was left out.
    frame, skipped = harmonise.assign_countries(pd.concat(parsed, ignore_index=True), "ref_area", "ilostat")
    report.skipped = skipped
    frame = frame[frame["country_iso3"].isin(batch)]
    slice_filter: dict = {"country_iso3": batch, "api_generation": ILOSTAT_API_GENERATIONS}
    if years is not None:
        frame = frame[years.contains(frame["time"])]
        slice_filter["time"] = years

    # Save: the API rows of these countries (and years) are replaced as one slice; rows a
    # user imported from a downloaded file (api_generation "file") are left alone.
    report.rows_written = warehouse.replace_slice(ILOSTAT_STAGING, frame, slice_filter)
    report.years = str(years or "all")
    return _finish_report(report, frame, batch)


def import_ilostat_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage an ILOSTAT CSV a user downloaded (code or label form), then
    rebuild the core facts of the countries it covers."""
    body = Path(path).read_bytes()
    dataset_id = f"file:{Path(path).name}"
    landed = land_bytes(
        raw_root,
        "ilostat",
        body,
        suffix=".csv",
        provenance={
            "uploader": uploader,
            "original_name": Path(path).name,
            "producer": "ILO (ILOSTAT)",
            "licence": LICENCES["ilostat"],
            "retrieved_at": utc_now_iso(),
        },
    )
    rows = ilostat.parse_bulk_csv(body, origin=f"ILOSTAT file {Path(path).name}")
    frame, skipped = harmonise.assign_countries(rows, "ref_area", "ilostat")
    frame = frame.assign(
        dataset_id=dataset_id,
        api_generation="file",
        raw_sha256=landed.sha256,
        demonstration_data=False,
        loaded_at=_now(),
    )
    batch = sorted(set(frame["country_iso3"]))
    # Harmonise before writing anything, so a file with an unknown code changes nothing.
    harmonise.ilostat_to_facts(frame)
    report = LoadReport(ILOSTAT_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": dataset_id, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    report.rows_written = warehouse.replace_slice(
        ILOSTAT_STAGING, frame, {"country_iso3": batch, "dataset_id": [dataset_id]}
    )
    return _finish_report(report, frame, batch)


# --- World Bank -------------------------------------------------------------------------


def load_worldbank(
    client: worldbank.WorldBankClient,
    warehouse: Warehouse,
    raw_root: Path,
    batch: list[str],
    years: Years | None = None,
) -> LoadReport:
    report = LoadReport(WORLDBANK_STAGING)
    loaded_at = _now()

    parsed: list[pd.DataFrame] = []
    for indicator in worldbank_indicators():
        pages = client.fetch(indicator.indicator_id, batch)
        for page in pages:
            landed = _land(page, raw_root)
            report.note_landing(page, landed)
            parsed.append(
                worldbank.parse_api_pages([page]).assign(
                    raw_sha256=landed.sha256, demonstration_data=page.demonstration, loaded_at=loaded_at
                )
            )

    frame, skipped = harmonise.assign_countries(
        pd.concat(parsed, ignore_index=True), "country_code", "worldbank"
    )
    report.skipped = skipped
    frame = frame[frame["country_iso3"].isin(batch)].drop(columns=["country_code"])
    slice_filter: dict = {"country_iso3": batch, "file_format": ["api-json"]}
    if years is not None:
        frame = frame[years.contains(frame["date"])]
        slice_filter["date"] = years
    report.rows_written = warehouse.replace_slice(WORLDBANK_STAGING, frame, slice_filter)
    report.years = str(years or "all")
    return _finish_report(report, frame, batch)


def import_worldbank_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage a WDI bulk-download CSV (``API_<id>_DS2_…csv``)."""
    body = Path(path).read_bytes()
    landed = land_bytes(
        raw_root,
        "worldbank",
        body,
        suffix=".csv",
        provenance={
            "uploader": uploader,
            "original_name": Path(path).name,
            "producer": "World Bank",
            "licence": LICENCES["worldbank"],
            "retrieved_at": utc_now_iso(),
        },
    )
    rows = worldbank.parse_bulk_csv(body, origin=f"World Bank file {Path(path).name}")
    frame, skipped = harmonise.assign_countries(rows, "country_code", "worldbank")
    frame = frame.drop(columns=["country_code"]).assign(
        raw_sha256=landed.sha256, demonstration_data=False, loaded_at=_now()
    )
    harmonise.worldbank_to_facts(frame)  # refuse an indicator outside the catalogue before writing
    batch = sorted(set(frame["country_iso3"]))
    report = LoadReport(WORLDBANK_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": Path(path).name, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    report.rows_written = warehouse.replace_slice(
        WORLDBANK_STAGING,
        frame,
        {
            "country_iso3": batch,
            "indicator_id": sorted(set(frame["indicator_id"])),
            "file_format": ["bulk-csv"],
        },
    )
    return _finish_report(report, frame, batch)


# --- core -------------------------------------------------------------------------------


def build_fact_observations(warehouse: Warehouse, batch: list[str]) -> LoadReport:
    """Harmonise the staged rows of the batch's countries into ``core.fact_observation``."""
    report = LoadReport(FACT_TABLE)
    ilostat_rows = warehouse.read_slice(ILOSTAT_STAGING, {"country_iso3": batch})
    worldbank_rows = warehouse.read_slice(WORLDBANK_STAGING, {"country_iso3": batch})

    facts = pd.concat(
        [harmonise.ilostat_to_facts(ilostat_rows), harmonise.worldbank_to_facts(worldbank_rows)],
        ignore_index=True,
    )
    report.demonstration = bool(facts["demonstration_data"].any()) if len(facts) else False
    report.rows_written = warehouse.replace_slice(
        FACT_TABLE,
        facts,
        {"country_iso3": batch, "source": [harmonise.SOURCE_ILOSTAT, harmonise.SOURCE_WORLDBANK]},
    )
    return _finish_report(report, facts, batch)


def build_dim_country(warehouse: Warehouse) -> LoadReport:
    frame = pd.DataFrame(
        [
            {
                "country_iso3": c.iso3,
                "iso2": c.iso2,
                "m49": c.m49,
                "name_en": c.name_en,
                "name_variants": "|".join(c.name_variants),
                **{flag: c.flags[flag] for flag in COUNTRY_FLAG_COLUMNS},
            }
            for c in countries()
        ]
    )
    report = LoadReport("core.dim_country", preview=frame.head(10))
    report.rows_written = warehouse.replace_slice("core.dim_country", frame, {})
    report.countries = list(frame["country_iso3"])
    return report


def build_dim_indicator(warehouse: Warehouse) -> LoadReport:
    rows = [
        {
            "indicator_id": i.indicator_id,
            "source": harmonise.SOURCE_ILOSTAT,
            "label": i.label,
            "topic": i.topic,
            "unit": i.unit,
            "unit_multiplier": i.unit_multiplier,
            "frequency": i.frequency,
            "source_ids": "; ".join(
                f"{name}={value}"
                for name, value in (("bulk", i.bulk_dataset_id), ("sdmx", i.sdmx_dataflow))
                if value
            ),
            "licence": LICENCES["ilostat"],
        }
        for i in ilostat_indicators()
    ] + [
        {
            "indicator_id": i.indicator_id,
            "source": harmonise.SOURCE_WORLDBANK,
            "label": i.label,
            "topic": i.topic,
            "unit": i.unit,
            "unit_multiplier": i.unit_multiplier,
            "frequency": "A",
            "source_ids": f"wdi={i.indicator_id}",
            "licence": LICENCES["worldbank"],
        }
        for i in worldbank_indicators()
    ]
    frame = pd.DataFrame(rows)
    report = LoadReport("core.dim_indicator", preview=frame.head(10))
    report.rows_written = warehouse.replace_slice("core.dim_indicator", frame, {})
    return report
