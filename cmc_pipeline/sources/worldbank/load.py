"""Loading the World Bank: fetch (or read a user's download), land raw, parse, check and stage.

Staging keeps every vintage it is given (the key includes ``file_format`` and
``vintage``): a build replaces only the formats and vintages it fetched, an import only its
own file's indicator and vintage. Core then takes the newest vintage of each figure
(``to_core.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.warehouse import Warehouse, Years
from cmc_pipeline.sources.worldbank import client as worldbank
from cmc_pipeline.sources.worldbank import parser
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.to_core import SOURCE_WORLDBANK, worldbank_to_facts
from cmc_pipeline.steps.facts import FACT_TABLE, assign_countries
from cmc_pipeline.steps.gate import now, validate_and_save
from cmc_pipeline.steps.landing import land_download, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import Harmonised, describe

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
        for response in client.fetch(indicator.indicator_id, batch):
            landed = land_response(response, raw_root)
            report.note_landing(response, landed)
            parsed.append(
                worldbank.parse_response(response).assign(
                    raw_sha256=landed.sha256, demonstration_data=response.demonstration, loaded_at=loaded_at
                )
            )

    rows = pd.concat(parsed, ignore_index=True)
    frame, skipped = assign_countries(rows, "country_code", "worldbank")
    report.skipped = skipped
    frame = frame[frame["country_iso3"].isin(batch)].drop(columns=["country_code"])
    # What this load replaces: the formats and vintages it read (an imported file of
    # another vintage stays beside them).
    replaced: dict = {
        "file_format": sorted(set(rows["file_format"])),
        "vintage": sorted(set(rows["vintage"])),
    }
    if years is not None:
        frame = frame[years.contains(frame["date"])]
        replaced["date"] = years
    frame = validate_and_save(
        warehouse,
        WORLDBANK_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **replaced},
    )
    report.years = str(years or "all")
    return report.finish(frame, batch)


def import_worldbank_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Land and stage a WDI download: the bulk CSV (or its ZIP) or the legacy Excel file."""
    body, landed = land_download(path, raw_root, "worldbank", uploader=uploader)
    rows = parser.parse_download(body, name=Path(path).name)
    frame, skipped = assign_countries(rows, "country_code", "worldbank")
    frame = frame.drop(columns=["country_code"]).assign(
        raw_sha256=landed.sha256, demonstration_data=False, loaded_at=now()
    )
    batch = sorted(set(frame["country_iso3"]))
    report = LoadReport(WORLDBANK_STAGING, skipped=skipped)
    report.raw_files.append(
        {"dataset": Path(path).name, "url": str(path), "sha256": landed.sha256, "bytes": len(body)}
    )
    replaced = {
        "indicator_id": sorted(set(rows["indicator_id"])),
        "file_format": sorted(set(rows["file_format"])),
        "vintage": sorted(set(rows["vintage"])),
    }
    frame = validate_and_save(
        warehouse,
        WORLDBANK_STAGING,
        [frame],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, **replaced},
    )
    return report.finish(frame, batch)


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    """The batch's staged World Bank rows, mapped to the fact table."""
    return worldbank_to_facts(warehouse.read_slice(WORLDBANK_STAGING, {"country_iso3": batch}))


@dataclass
class ImportOutcome:
    """What ``cmc import worldbank FILE`` tells the person who ran it."""

    lines: list[str]
    loaded: bool  # the exit status: True only when figures of the file reached the core


def describe_import(
    name: str, report: LoadReport, fact_report: LoadReport, warehouse: Warehouse
) -> ImportOutcome:
    """Exactly what the import loaded, held back and skipped, counted from this file's rows
    (``raw_sha256``), never from what the warehouse held before."""
    sha256 = report.raw_files[0]["sha256"]
    skipped = [
        f"  skipped {count} figures (area × year): {reason}" for reason, count in report.skipped.items()
    ]
    if not report.countries:
        return ImportOutcome(
            [f"{name}: no rows for a CMC country with a value; nothing was loaded.", *skipped], False
        )
    mine = {"raw_sha256": [sha256]}
    staged = (
        warehouse.read_slice(WORLDBANK_STAGING, mine)
        .groupby(["indicator_id", "vintage"], as_index=False)
        .size()
        .rename(columns={"size": "n"})
    )
    in_core = len(warehouse.read_slice(FACT_TABLE, {**mine, "source": [SOURCE_WORLDBANK]}))
    staged_rows = int(staged["n"].sum()) if len(staged) else 0
    loaded_countries = [c for c in report.countries if c not in report.blocked]
    series = ", ".join(f"{r.indicator_id} (vintage {r.vintage})" for r in staged.itertuples())
    lines = [
        f"Loaded {staged_rows} rows of {series or 'no series'} from {name} into {WORLDBANK_STAGING} "
        f"for {len(loaded_countries)} countries ({', '.join(loaded_countries)}).",
        f"  {in_core} of them are now figures in {FACT_TABLE}.",
    ]
    superseded = staged_rows - in_core
    review = fact_report.unmapped
    held = review[review["raw_sha256"] == sha256] if review is not None and len(review) else None
    if held is not None and len(held):
        lines.append(f"  held back from {FACT_TABLE} (listed in quality.unmapped_values):")
        lines.append(describe(held))
        superseded -= int(held["row_count"].sum())
    if superseded > 0:
        lines.append(
            f"  {superseded} rows are kept in staging only: a newer vintage of the same figures is "
            "already loaded, or the year has no value"
        )
    if report.blocked:
        lines.append(
            f"  not loaded for {', '.join(report.blocked)} (a contract rule failed; previous rows kept):"
        )
        lines += [f"    {line}" for line in report.validation.report_lines(limit_per_rule=3)]
    return ImportOutcome(lines + skipped, staged_rows > 0 and (in_core > 0 or superseded > 0))
