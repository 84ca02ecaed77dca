"""Loading steps for the open-data sources, shared by the Dagster assets and the CLI.

Each step reads top-down in three parts: load inputs (fetch every response and land it
raw), process (parse to staging rows), save (check the rows against the table's contract,
then replace the slice of the countries that passed, in one transaction). All fetching
happens before any writing, so a source that fails half-way through leaves the warehouse
exactly as it was.

The contract check is the promotion gate: a country whose rows break an error-severity
rule is not written (its previous rows stay as they were, so core keeps reading its last
good load), the other countries are, and the report carries every rule's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cmc_pipeline import settings
from cmc_pipeline.lib import harmonise, quality
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.raw_store import LandedFile, land_bytes, utc_now_iso
from cmc_pipeline.lib.reference import (
    COUNTRY_FLAG_COLUMNS,
    LICENCES,
    countries,
    ilostat_indicators,
    migration_indicators,
    worldbank_indicators,
)
from cmc_pipeline.lib.sources import ilostat, worldbank
from cmc_pipeline.lib.sources.common import FetchedResponse
from cmc_pipeline.lib.warehouse import Warehouse, Years

ILOSTAT_STAGING = "staging.ilostat_observations"
WORLDBANK_STAGING = "staging.worldbank_observations"
FACT_TABLE = "core.fact_observation"
ILOSTAT_API_GENERATIONS = ["ilostat_bulk", "ilostat_sdmx"]
# Every source whose slice of the fact table build_fact_observations replaces.
FACT_SOURCES = [
    harmonise.SOURCE_ILOSTAT,
    harmonise.SOURCE_WORLDBANK,
    harmonise.SOURCE_UNDESA,
    harmonise.SOURCE_MISSING_MIGRANTS,
]


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
    validation: quality.ValidationRun | None = None
    blocked: list[str] = field(default_factory=list)  # countries not promoted: they failed an error rule
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


PRODUCERS = {
    "ilostat": "ILO (ILOSTAT)",
    "worldbank": "World Bank",
    "undesa": "UN DESA Population Division",
    "missing_migrants": "IOM Missing Migrants Project",
    "dtm": "IOM Displacement Tracking Matrix",
}


def land_response(response: FetchedResponse, raw_root: Path, *, uploader: str | None = None) -> LandedFile:
    """Keep a fetched response (or a user's file, with ``uploader``) in the raw store."""
    origin = {"uploader": uploader, "original_name": Path(response.url).name} if uploader else {}
    return land_bytes(
        raw_root,
        response.source,
        response.body,
        suffix=response.suffix,
        provenance={
            "url": response.url,
            "retrieved_at": response.retrieved_at,
            "producer": PRODUCERS[response.source],
            "licence": LICENCES[response.source],
            "api": response.api,
            "dataset": response.dataset_id,
            "demonstration_data": response.demonstration,
            **origin,
        },
    )


def land_download(path: Path, raw_root: Path, source: str, *, uploader: str) -> tuple[bytes, LandedFile]:
    """Keep a file a user downloaded from a source's web site in the raw store, saying who
    loaded it; returns its bytes and where they were landed."""
    body = Path(path).read_bytes()
    landed = land_bytes(
        raw_root,
        source,
        body,
        suffix=".csv",
        provenance={
            "uploader": uploader,
            "original_name": Path(path).name,
            "producer": PRODUCERS[source],
            "licence": LICENCES[source],
            "retrieved_at": utc_now_iso(),
        },
    )
    return body, landed


def _finish_report(report: LoadReport, frame: pd.DataFrame, batch: list[str]) -> LoadReport:
    present = set(frame["country_iso3"]) if len(frame) else set()
    report.countries = list(batch)
    report.countries_without_rows = [c for c in batch if c not in present and c not in report.blocked]
    report.preview = frame.head(10)
    return report


def _validate_and_save(
    warehouse: Warehouse,
    table: str,
    parts: Sequence[pd.DataFrame],
    report: LoadReport,
    *,
    batch: list[str] | None,
    slice_for: Callable[[list[str]], dict],
    before_write: Callable[[pd.DataFrame], object] | None = None,
) -> pd.DataFrame:
    """Check ``parts`` against ``table``'s contract country by country, then write the
    countries that passed (the whole table when ``batch`` is None: it passes or not).

    ``slice_for(countries)`` is the slice those countries' rows replace; ``before_write``
    may refuse the promoted rows by raising (nothing is written then). Returns the
    promoted rows.
    """
    contract = contract_for(table)
    warehouse.ensure_tables([contract])  # a first load compares with an empty table
    partition_column = "country_iso3" if batch is not None else None
    everything = slice_for(batch or [])
    stamp = f"{_now():%Y%m%dT%H%M%S%f}"
    run = quality.validate(
        parts,
        contract,
        partition_column=partition_column,
        partitions=batch,
        previous=warehouse.read_slice(table, everything),
        tables=lambda name: warehouse.read_slice(name, {}),
        great_expectations_result=settings.quality_dir() / table / f"{stamp}.json",
    )
    report.validation = run
    report.blocked = [c for c in run.blocked_partitions if c is not None]
    rows = pd.concat([p.reindex(columns=contract.column_names) for p in parts], ignore_index=True)
    if batch is None:
        promoted_rows = rows if run.passed else rows.iloc[0:0]
        if run.passed:
            report.rows_written = warehouse.replace_slice(table, promoted_rows, everything)
        return promoted_rows
    promoted = [c for c in batch if c not in report.blocked]
    promoted_rows = rows[rows["country_iso3"].isin(promoted)]
    if before_write is not None:
        before_write(promoted_rows)
    report.rows_written = warehouse.replace_slice(table, promoted_rows, slice_for(promoted))
    return promoted_rows


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
    parts: list[pd.DataFrame] = []
    for indicator in ilostat_indicators():
        response = client.fetch(indicator, batch)
        landed = land_response(response, raw_root)
        report.note_landing(response, landed)
        rows = ilostat.parse_response(response, indicator)
        # Process: keep the batch's countries (snapshots cover all of them; a live answer
        # only the batch), naming what was left out. Each response stays its own part so
        # that one whose columns changed blocks only the countries it covers.
        rows, skipped = harmonise.assign_countries(rows, "ref_area", "ilostat")
        _add_skipped(report, skipped)
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
    frame = _validate_and_save(
        warehouse,
        ILOSTAT_STAGING,
        parts,
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **kept_apart},
    )
    report.years = str(years or "all")
    return _finish_report(report, frame, batch)


def _add_skipped(report: LoadReport, skipped: dict[str, int]) -> None:
    for reason, count in skipped.items():
        report.skipped[reason] = report.skipped.get(reason, 0) + count


def import_ilostat_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage an ILOSTAT CSV a user downloaded (code or label form), then
    rebuild the core facts of the countries it covers."""
    dataset_id = f"file:{Path(path).name}"
    body, landed = land_download(path, raw_root, "ilostat", uploader=uploader)
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
    report = LoadReport(ILOSTAT_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": dataset_id, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    frame = _validate_and_save(
        warehouse,
        ILOSTAT_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, "dataset_id": [dataset_id]},
        # Harmonise before writing anything, so a file with an unknown indicator changes nothing.
        before_write=harmonise.ilostat_to_facts,
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
            landed = land_response(page, raw_root)
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
    kept_apart: dict = {"file_format": ["api-json"]}
    if years is not None:
        frame = frame[years.contains(frame["date"])]
        kept_apart["date"] = years
    frame = _validate_and_save(
        warehouse,
        WORLDBANK_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **kept_apart},
    )
    report.years = str(years or "all")
    return _finish_report(report, frame, batch)


def import_worldbank_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage a WDI bulk-download CSV (``API_<id>_DS2_…csv``)."""
    body, landed = land_download(path, raw_root, "worldbank", uploader=uploader)
    rows = worldbank.parse_bulk_csv(body, origin=f"World Bank file {Path(path).name}")
    frame, skipped = harmonise.assign_countries(rows, "country_code", "worldbank")
    frame = frame.drop(columns=["country_code"]).assign(
        raw_sha256=landed.sha256, demonstration_data=False, loaded_at=_now()
    )
    batch = sorted(set(frame["country_iso3"]))
    report = LoadReport(WORLDBANK_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": Path(path).name, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    indicators = sorted(set(frame["indicator_id"]))
    frame = _validate_and_save(
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
        before_write=harmonise.worldbank_to_facts,  # refuse an indicator outside the catalogue
    )
    return _finish_report(report, frame, batch)


# --- core -------------------------------------------------------------------------------


def build_fact_observations(warehouse: Warehouse, batch: list[str]) -> LoadReport:
    """Harmonise the staged rows of the batch's countries into ``core.fact_observation``."""
    # Imported here: migration_data builds on this module's report and landing helpers.
    from cmc_pipeline.lib import migration_data

    report = LoadReport(FACT_TABLE)
    ilostat_rows = warehouse.read_slice(ILOSTAT_STAGING, {"country_iso3": batch})
    worldbank_rows = warehouse.read_slice(WORLDBANK_STAGING, {"country_iso3": batch})

    facts = pd.concat(
        [
            frame
            for frame in (
                harmonise.ilostat_to_facts(ilostat_rows),
                harmonise.worldbank_to_facts(worldbank_rows),
                migration_data.undesa_facts(warehouse, batch),
                migration_data.missing_migrants_facts(warehouse, batch),
            )
            if len(frame)
        ]
        or [pd.DataFrame(columns=harmonise.FACT_COLUMNS)],
        ignore_index=True,
    )
    report.demonstration = bool(facts["demonstration_data"].any()) if len(facts) else False
    # Each source owns its slice: a source with no rows for these countries now leaves none.
    facts = _validate_and_save(
        warehouse,
        FACT_TABLE,
        [facts],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, "source": FACT_SOURCES},
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
    _validate_and_save(warehouse, "core.dim_country", [frame], report, batch=None, slice_for=lambda _: {})
    report.countries = list(frame["country_iso3"])
    return report


def build_dim_indicator(warehouse: Warehouse) -> LoadReport:
    rows = (
        [
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
        ]
        + [
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
        + [
            {
                "indicator_id": i.indicator_id,
                "source": i.source,
                "label": i.label,
                "topic": i.topic,
                "unit": i.unit,
                "unit_multiplier": i.unit_multiplier,
                "frequency": i.frequency,
                "source_ids": i.source_ids,
                "licence": LICENCES[i.licence_key],
            }
            for i in migration_indicators()
        ]
    )
    frame = pd.DataFrame(rows)
    report = LoadReport("core.dim_indicator", preview=frame.head(10))
    _validate_and_save(warehouse, "core.dim_indicator", [frame], report, batch=None, slice_for=lambda _: {})
    return report
