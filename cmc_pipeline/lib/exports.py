"""``cmc export``: every published mart, for one audience, in the formats tools read.

Formats: Parquet (BI tools, R arrow, pandas), CSV (UTF-8 with a byte-order mark so that
Excel shows accents right), XLSX (a data sheet and an "about" sheet per mart), and
SDMX-CSV (the exchange format of the ILO and statistics offices) for marts whose rows are
country- or group-year observations. A ``manifest.json`` lists every file with its rows,
contract version, sha256 and build time, and every table with its licence, attribution,
citation and the source releases it holds (``lib/attribution.py``); ``datapackage.json``
says the same as a Frictionless Data Package (``lib/datapackage.py``).

Sharing rules (``lib/sharing.py``) are applied before anything is written: tables and
rows above the audience's level are left out, small counts suppressed where a contract
asks for it, and text neutralised against formula injection in CSV and XLSX.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cmc_pipeline import settings as project_settings
from cmc_pipeline.lib.attribution import loaded_raw_files, table_attribution
from cmc_pipeline.lib.contracts import TableContract, all_contracts
from cmc_pipeline.lib.datapackage import resource, write_datapackage
from cmc_pipeline.lib.disclosure import FREE, REASONS, Release, ReleaseLedger, protect
from cmc_pipeline.lib.labels import with_labels
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.sdmx_export import STRUCTURE_FILE, SdmxShape, to_sdmx_observations, write_structure
from cmc_pipeline.lib.sharing import (
    SharingSettings,
    audience_allows,
    neutralise_formulas,
    rows_for_audience,
    sharing_settings,
)
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse

FORMATS = ("parquet", "csv", "xlsx", "sdmx-csv")


@dataclass
class ExportResult:
    directory: Path
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    structure: Path | None = None  # the SDMX-ML structure message, when SDMX-CSV was written


def published_contracts() -> list[TableContract]:
    return [c for c in all_contracts().values() if c.schema_name == "marts"]


def export_marts(
    warehouse: Warehouse,
    output_dir: Path,
    *,
    audience: str = "public",
    formats: tuple[str, ...] = ("parquet",),
    settings: SharingSettings | None = None,
    ledger: ReleaseLedger | None = None,
) -> ExportResult:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; choose from {list(FORMATS)}")
    settings = settings or sharing_settings()
    ledger = ledger or default_ledger(warehouse)
    audience_allows(audience, "public")  # validates the audience name
    built_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult(output_dir)
    loaded = loaded_raw_files(warehouse)
    releases_read: dict = {}  # each source's provenance, read once for every table
    attributions: dict[str, dict] = {}
    resources: list[dict] = []
    shapes: list[SdmxShape] = []

    for contract in published_contracts():
        level = contract.custom_properties.get("dissemination_level", "restricted")
        if not audience_allows(audience, level):
            result.skipped.append({"table": contract.table, "reason": f"dissemination level {level}"})
            continue
        if not warehouse.table_exists(contract.table):
            result.skipped.append({"table": contract.table, "reason": "not built yet"})
            continue
        frame = warehouse.query(f"SELECT * FROM {contract.table}")[contract.column_names]
        frame, withheld, suppressed, releases = release_for_audience(
            frame, contract, audience=audience, settings=settings, ledger=ledger
        )
        attribution = table_attribution(
            contract, warehouse, loaded=loaded, built_at=built_at, read=releases_read
        )
        # What people open in a spreadsheet: labels beside codes, formulas neutralised.
        shown = neutralise_formulas(with_labels(frame, contract)) if {"csv", "xlsx"} & set(formats) else None
        for fmt in formats:
            written = _write(frame, shown, contract, output_dir, fmt, shapes, attribution)
            if written is None:
                result.skipped.append(
                    {"table": contract.table, "format": fmt, "reason": "not observation-shaped"}
                )
                continue
            resources.append(resource(written[0], fmt, contract, attribution, frame))
            attributions[contract.table] = attribution
            result.files.append(
                {
                    "table": contract.table,
                    "file": written[0].name,
                    "format": fmt,
                    "rows": written[1],
                    "contract_version": contract.version,
                    "sha256": hashlib.sha256(written[0].read_bytes()).hexdigest(),
                    "built_at": built_at,
                    "rows_withheld_for_audience": withheld,
                    "cells_suppressed": suppressed,
                    "contains_demonstration_data": bool(frame.get("demonstration_data", pd.Series()).any()),
                }
            )
        # Only a release that was written is one a reader can hold against the next.
        for column, release in releases.items():
            ledger.record(audience, contract.table, column, release, built_at)
    structure_entry = None
    if shapes:
        # The structure every SDMX-CSV file names in its DATAFLOW column.
        result.structure = write_structure(shapes, output_dir)
        structure_entry, structure_resource = _describe_structure(result.structure, shapes, built_at)
        resources.append(structure_resource)
    manifest = {
        "audience": audience,
        "built_at": built_at,
        "note": f"Rows with demonstration_data = true are {DEMONSTRATION_LABEL}.",
        "files": result.files,
        "skipped": result.skipped,
        "tables": attributions,
        "sdmx_structure": structure_entry,
    }
    (output_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    write_datapackage(
        output_dir, audience=audience, built_at=built_at, resources=resources, attributions=attributions
    )
    return result


def _describe_structure(path: Path, shapes: list[SdmxShape], built_at: str) -> tuple[dict, dict]:
    """The structure message's entry in manifest.json and its resource in datapackage.json."""
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    entry = {
        "file": path.name,
        "format": "sdmx-ml",
        "dataflows": [f"CMC:{s.dataflow}({s.version})" for s in shapes],
        "sha256": sha256,
        "built_at": built_at,
    }
    described = {
        "name": "sdmx-structure",
        "path": STRUCTURE_FILE,
        "profile": "data-resource",
        "format": "xml",
        "mediatype": "application/vnd.sdmx.structure+xml;version=2.1",
        "description": "SDMX-ML 2.1 Structure message: the dataflows, data structure definitions "
        "and code lists the SDMX-CSV files use.",
        "bytes": len(data),
        "hash": f"sha256:{sha256}",
    }
    return entry, described


def default_ledger(warehouse: Warehouse) -> ReleaseLedger:
    """The releases made from a warehouse are kept beside it (they hold hidden values)."""
    if warehouse.backend == "duckdb":
        return ReleaseLedger(Path(warehouse.url).parent / "disclosure_ledger")
    return ReleaseLedger(project_settings.data_dir() / "disclosure_ledger")


def release_for_audience(
    frame: pd.DataFrame,
    contract: TableContract,
    *,
    audience: str,
    settings: SharingSettings,
    ledger: ReleaseLedger,
) -> tuple[pd.DataFrame, int, int, dict[str, Release]]:
    """A table's rows as an audience receives them — the rows it may see, small counts
    suppressed — with how many rows were withheld, how many cells suppressed, and the
    release per count column. Every place that publishes a controlled table (exports,
    the report, the portal) goes through here, so each shows the same cells hidden."""
    dataset = contract.table.split(".", 1)[1]
    frame, withheld = rows_for_audience(frame, dataset=dataset, audience=audience, settings=settings)
    frame, suppressed, releases = apply_disclosure_control(
        frame, contract, settings, audience=audience, ledger=ledger
    )
    return frame, withheld, suppressed, releases


def apply_disclosure_control(
    frame: pd.DataFrame,
    contract: TableContract,
    settings: SharingSettings,
    *,
    audience: str,
    ledger: ReleaseLedger,
) -> tuple[pd.DataFrame, int, dict[str, Release]]:
    """Suppress the count columns a contract names under ``disclosure_control`` so that no
    suppressed cell can be worked out from this release or an earlier one to the same
    audience (``lib/disclosure.py``). Each count column gains ``<column>_conf_status``
    (SDMX CONF_STATUS: F, C primary, D secondary) and ``<column>_suppressed`` (why)."""
    rule = contract.custom_properties.get("disclosure_control")
    if not rule:
        return frame, 0, {}
    threshold = int(rule.get("threshold", settings.small_count_threshold))
    frame = frame.reset_index(drop=True).copy()
    suppressed, releases = 0, {}
    for column in rule["count_columns"]:
        release = Release.of(frame, contract.primary_key, column)
        earlier = ledger.earlier(audience, contract.table, column, contract.primary_key)
        status = protect(release, threshold, earlier).frame["status"]
        hidden = status.ne(FREE).to_numpy()
        frame[column] = frame[column].astype("Int64").mask(hidden)
        frame[f"{column}_conf_status"] = status.astype("string").to_numpy()
        frame[f"{column}_suppressed"] = status.map(REASONS).astype("string").to_numpy()
        suppressed += int(hidden.sum())
        releases[column] = release
    return frame, suppressed, releases


def _write(
    frame: pd.DataFrame,
    shown: pd.DataFrame | None,
    contract: TableContract,
    output_dir: Path,
    fmt: str,
    shapes: list[SdmxShape],
    attribution: dict,
) -> tuple[Path, int] | None:
    """Write one format; returns the file and the rows in it (observations for SDMX).
    ``shown`` is the frame as CSV and XLSX carry it (labels, formulas neutralised)."""
    name = contract.table.replace(".", "_")
    rows = len(frame)
    if fmt == "parquet":
        path = output_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        path = output_dir / f"{name}.csv"
        shown.to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        path = output_dir / f"{name}.xlsx"
        _write_xlsx(shown, contract, path, attribution)
    else:
        shaped = to_sdmx_observations(frame, contract)
        if shaped is None:
            return None
        observations, shape = shaped
        shapes.append(shape)
        path = output_dir / f"{name}.sdmx.csv"
        observations.to_csv(path, index=False, encoding="utf-8")
        rows = len(observations)
    return path, rows


def _write_xlsx(frame: pd.DataFrame, contract: TableContract, path: Path, attribution: dict) -> None:
    about = pd.DataFrame(
        [
            ("table", contract.table),
            ("contract version", contract.version),
            ("what one row is", contract.description),
            ("purpose", (contract.document.get("description") or {}).get("purpose", "")),
            ("note", f"Rows with demonstration_data = TRUE are {DEMONSTRATION_LABEL}."),
            ("licence", attribution["licence"]),
            ("attribution", attribution["attribution"]),
            ("cite as", attribution["citation"]),
        ]
        + [
            (
                f"source: {s['attribution']}",
                f"{s['licence']} {s['licence_url']}".strip() + f". {s['citation']}",
            )
            for s in attribution["sources"]
        ]
        + [(f"column {c.name}", c.description) for c in contract.columns],
        columns=["item", "text"],
    )
    # Excel has no time zones: write timestamps as UTC without an offset.
    frame = frame.assign(
        **{
            column: frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
            for column in frame.columns
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype)
        }
    )
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="data", index=False)
        about.to_excel(writer, sheet_name="about", index=False)
