"""``cmc export``: every published mart, for one audience, in the formats tools read.

Formats: Parquet (BI tools, R arrow, pandas), CSV (UTF-8 with a byte-order mark so that
Excel shows accents right), XLSX (a data sheet and an "about" sheet per mart), and
SDMX-CSV (the exchange format of the ILO and statistics offices) for marts whose rows are
country- or group-year observations. A ``manifest.json`` lists every file with its rows,
contract version, sha256 and build time.

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

import pandas as pd

from cmc_pipeline import settings as project_settings
from cmc_pipeline.lib.contracts import TableContract, all_contracts
from cmc_pipeline.lib.disclosure import FREE, REASONS, Release, ReleaseLedger, protect
from cmc_pipeline.lib.marts import indicator_columns
from cmc_pipeline.lib.sharing import (
    SharingSettings,
    audience_allows,
    neutralise_formulas,
    rows_for_audience,
    sharing_settings,
)
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.ilostat.client import SDMX_CSV_KEY_COLUMNS, SDMX_CSV_OBSERVATION_COLUMNS

FORMATS = ("parquet", "csv", "xlsx", "sdmx-csv")
SDMX_HEADER = [*SDMX_CSV_KEY_COLUMNS, "SEX", "AGE", *SDMX_CSV_OBSERVATION_COLUMNS]


@dataclass
class ExportResult:
    directory: Path
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


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

    for contract in published_contracts():
        level = contract.custom_properties.get("dissemination_level", "restricted")
        if not audience_allows(audience, level):
            result.skipped.append({"table": contract.table, "reason": f"dissemination level {level}"})
            continue
        if not warehouse.table_exists(contract.table):
            result.skipped.append({"table": contract.table, "reason": "not built yet"})
            continue
        frame = warehouse.query(f"SELECT * FROM {contract.table}")[contract.column_names]
        dataset = contract.table.split(".", 1)[1]
        frame, withheld = rows_for_audience(frame, dataset=dataset, audience=audience, settings=settings)
        frame, suppressed, releases = _apply_disclosure_control(
            frame, contract, settings, audience=audience, ledger=ledger
        )
        for fmt in formats:
            written = _write(frame, contract, output_dir, fmt)
            if written is None:
                result.skipped.append(
                    {"table": contract.table, "format": fmt, "reason": "not observation-shaped"}
                )
                continue
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
    manifest = {
        "audience": audience,
        "built_at": built_at,
        "note": f"Rows with demonstration_data = true are {DEMONSTRATION_LABEL}.",
        "files": result.files,
        "skipped": result.skipped,
    }
    (output_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return result


def default_ledger(warehouse: Warehouse) -> ReleaseLedger:
    """The releases made from a warehouse are kept beside it (they hold hidden values)."""
    if warehouse.backend == "duckdb":
        return ReleaseLedger(Path(warehouse.url).parent / "disclosure_ledger")
    return ReleaseLedger(project_settings.data_dir() / "disclosure_ledger")


def _apply_disclosure_control(
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
    frame: pd.DataFrame, contract: TableContract, output_dir: Path, fmt: str
) -> tuple[Path, int] | None:
    """Write one format; returns the file and the rows in it (observations for SDMX)."""
    name = contract.table.replace(".", "_")
    rows = len(frame)
    if fmt == "parquet":
        path = output_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        path = output_dir / f"{name}.csv"
        neutralise_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        path = output_dir / f"{name}.xlsx"
        _write_xlsx(neutralise_formulas(frame), contract, path)
    else:
        observations = to_sdmx_observations(frame, contract)
        if observations is None:
            return None
        path = output_dir / f"{name}.sdmx.csv"
        observations.to_csv(path, index=False, encoding="utf-8")
        rows = len(observations)
    return path, rows


def _write_xlsx(frame: pd.DataFrame, contract: TableContract, path: Path) -> None:
    about = pd.DataFrame(
        [
            ("table", contract.table),
            ("contract version", contract.version),
            ("what one row is", contract.description),
            ("purpose", (contract.document.get("description") or {}).get("purpose", "")),
            ("note", f"Rows with demonstration_data = TRUE are {DEMONSTRATION_LABEL}."),
        ]
        + [(f"column {c.name}", c.description) for c in contract.columns],
        columns=["item", "text"],
    )
    # Excel has no time zones: write timestamps as UTC without an offset.
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="data", index=False)
        about.to_excel(writer, sheet_name="about", index=False)


def to_sdmx_observations(frame: pd.DataFrame, contract: TableContract) -> pd.DataFrame | None:
    """Observation rows (SDMX-CSV, the header ILOSTAT's SDMX API uses) from a mart whose
    rows are an area (country or group) × year with numeric value columns."""
    area = "country_iso3" if "country_iso3" in frame else "group_code" if "group_code" in frame else None
    if area is None or "year" not in frame:
        return None
    dataflow = f"CMC:DF_{contract.table.split('.', 1)[1].upper()}(1.0)"
    if "indicator" in frame and "value" in frame:  # already long: one indicator per row
        long = frame.rename(columns={"indicator": "MEASURE", "value": "OBS_VALUE"})
        long["UNIT_MEASURE"] = long.get("unit", "")
        long["OBS_STATUS"] = ""
        long["SOURCE"] = "CMC regional aggregate of " + long.get("countries", "").astype(str)
        sex_age = long["MEASURE"].map(_sex_and_age_of)
        long["SEX"], long["AGE"] = sex_age.str[0], sex_age.str[1]
    else:
        measures = [
            c.name
            for c in contract.columns
            if c.logical_type == "number" and not c.name.endswith(("_source", "_status"))
        ]
        if not measures:
            return None
        parts = []
        for measure in measures:
            part = frame[[area, "year", measure]].rename(columns={measure: "OBS_VALUE"})
            part["MEASURE"] = measure
            part["OBS_STATUS"] = frame.get(f"{measure}_status", pd.Series("", index=frame.index)).fillna("")
            part["SOURCE"] = frame.get(f"{measure}_source", pd.Series("", index=frame.index)).fillna("")
            part["UNIT_MEASURE"] = _unit_of(measure)
            part["SEX"], part["AGE"] = _sex_and_age_of(measure)
            parts.append(part[part["OBS_VALUE"].notna()])
        long = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(
        {
            "DATAFLOW": dataflow,
            "REF_AREA": long[area],
            "FREQ": "A",
            "MEASURE": long["MEASURE"],
            "SEX": long["SEX"],
            "AGE": long["AGE"],
            "TIME_PERIOD": long["year"].astype(str),
            "OBS_VALUE": long["OBS_VALUE"],
            "OBS_STATUS": long["OBS_STATUS"],
            "UNIT_MEASURE_TYPE": "",
            "UNIT_MEASURE": long["UNIT_MEASURE"],
            "UNIT_MULT": 0,
            "SOURCE": long["SOURCE"],
            "NOTE_SOURCE": "",
            "NOTE_INDICATOR": "",
            "NOTE_CLASSIF": "",
            "DECIMALS": "",
            "UPPER_BOUND": "",
            "LOWER_BOUND": "",
        }
    )
    return out[SDMX_HEADER]


def _sex_and_age_of(column: str) -> tuple[str, str]:
    """ILO sex and age codes of a mart column (derived columns: total, no age breakdown)."""
    for spec in indicator_columns():
        if spec.column == column:
            return spec.sex, spec.age
    return "SEX_T", "_Z"


def _unit_of(column: str) -> str:
    """Unit of a mart value column: from the mart column spec, or from the derived
    column's suffix (shares and rates are percent, amounts US$)."""
    spec = {c.column: c.unit for c in indicator_columns()}
    if column in spec:
        return spec[column]
    if column.endswith("_pct"):
        return "percent"
    if "_usd" in column:
        return "USD"
    return ""
