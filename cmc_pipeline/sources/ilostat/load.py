"""Loading ILOSTAT: fetch (or read a user's download), land raw, parse, check and stage."""

from __future__ import annotations

from pathlib import Path

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.warehouse import Warehouse, Years
from cmc_pipeline.sources.ilostat import client as ilostat
from cmc_pipeline.sources.ilostat.catalogue import IlostatIndicator, ilostat_indicators
from cmc_pipeline.sources.ilostat.parser import parse_bulk_csv, parse_response
from cmc_pipeline.sources.ilostat.to_core import ilostat_to_facts, indicators_of
from cmc_pipeline.steps.facts import assign_countries
from cmc_pipeline.steps.gate import now, validate_and_save
from cmc_pipeline.steps.landing import land_download, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised, describe

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
        rows = parse_response(response, indicator)
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
    rows = parse_bulk_csv(body, origin=f"ILOSTAT file {Path(path).name}")
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


def indicators_in_warehouse(warehouse: Warehouse) -> list[IlostatIndicator]:
    """The catalogue's indicators, then those of the files users imported that the
    catalogue does not list (with the unit their label or id states), for core.dim_indicator."""
    catalogue = list(ilostat_indicators())
    if not warehouse.table_exists(ILOSTAT_STAGING):
        return catalogue
    imported = warehouse.query(
        f"SELECT DISTINCT indicator, dataset_id, api_generation FROM {ILOSTAT_STAGING} "
        "WHERE api_generation = 'file'"
    )
    known = {i.indicator_id for i in catalogue}
    extra: dict[str, IlostatIndicator] = {}
    for indicator in indicators_of(imported):
        if indicator is not None and indicator.indicator_id not in known:
            extra.setdefault(indicator.indicator_id, indicator)
    return catalogue + sorted(extra.values(), key=lambda i: i.indicator_id)


def import_summary(
    report: LoadReport, fact_report: LoadReport, warehouse: Warehouse
) -> tuple[bool, list[str]]:
    """What ``cmc import ilostat`` says: whether rows were loaded, and the lines a person
    reads — rows staged, facts this file gave (not every fact of its countries), slices
    held back with their values, rows skipped and why."""
    file = report.raw_files[0]["dataset"] if report.raw_files else ""
    name = file.removeprefix("file:")
    lines: list[str] = []
    skipped = sum(report.skipped.values())
    if report.rows_written == 0:
        if not report.countries:
            lines.append(
                f"Nothing loaded from {name}: it has no rows for a CMC country ({skipped} rows skipped)."
            )
        else:
            lines.append(f"Nothing loaded from {name}: every country it covers was held back.")
    else:
        facts = warehouse.query(
            "SELECT indicator_id, count(*) AS n FROM core.fact_observation WHERE source_series_id = ? "
            "GROUP BY indicator_id ORDER BY indicator_id",
            [file],
        )
        lines.append(
            f"Loaded {report.rows_written} rows from {name} into {report.table} for "
            f"{len(report.countries)} countries ({', '.join(report.countries)})."
        )
        lines.append(
            f"This file now gives {int(facts['n'].sum())} rows of core.fact_observation"
            + (
                " (" + ", ".join(f"{r.indicator_id}: {r.n}" for r in facts.itertuples()) + ")."
                if len(facts)
                else "."
            )
        )
    unmapped = fact_report.unmapped
    if unmapped is not None and len(unmapped):
        mine = unmapped[unmapped["file"] == file]
        if len(mine):
            slices = mine[["country_iso3", "slice"]].drop_duplicates()
            lines.append(
                f"Held back {len(slices)} country × indicator slice(s): values no ILO code list knows:"
            )
            lines.append(describe(mine))
    for reason, count in report.skipped.items():
        lines.append(f"  skipped {count} rows: {reason}")
    return report.rows_written > 0, lines
