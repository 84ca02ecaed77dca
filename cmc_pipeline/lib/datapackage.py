"""A Frictionless Data Package (``datapackage.json``, Data Package v1) describing an export,
so that Frictionless tools, R's ``frictionless``, Open Data portals (CKAN) and anyone with
a JSON reader can load and check the files without this project's code: every file with
its hash and size, the CSV files with their schema (names, types, descriptions, primary
key, how a missing value is written), and licences, sources and citation per table.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cmc_pipeline.lib.contracts import TableContract
from cmc_pipeline.lib.disclosure import CONF_STATUS_LABELS
from cmc_pipeline.lib.lazy import pandas as pd

PROFILE_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "datetime",
}
MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sdmx-csv": "application/vnd.sdmx.data+csv;version=1.0.0",
    "sdmx-ml": "application/vnd.sdmx.structure+xml;version=2.1",
}


def field_of(name: str, contract: TableContract, frame: pd.DataFrame) -> dict:
    """A Table Schema field for one column of an exported frame: typed and described from
    the contract, or, for a column the export adds, from what the export puts there."""
    column = next((c for c in contract.columns if c.name == name), None)
    if column is not None:
        field = {"name": name, "type": PROFILE_TYPES.get(column.logical_type, "string")}
        if field["type"] == "datetime":
            field["format"] = "any"  # ISO 8601 with a UTC offset, as pandas writes it
        if column.description:
            field["description"] = column.description
        return field
    if name.endswith("_conf_status"):
        counted = name.removesuffix("_conf_status")
        return {
            "name": name,
            "type": "string",
            "description": f"SDMX CONF_STATUS of {counted}: "
            + "; ".join(f"{code} {label}" for code, label in CONF_STATUS_LABELS.items()),
            "constraints": {"enum": list(CONF_STATUS_LABELS)},
        }
    if name.endswith("_suppressed"):
        return {
            "name": name,
            "type": "string",
            "description": f"Why {name.removesuffix('_suppressed')} is empty.",
        }
    if name.endswith("_label"):
        return {
            "name": name,
            "type": "string",
            "description": f"Label of the code in {name.removesuffix('_label')}.",
        }
    dtype = frame[name].dtype if name in frame else None
    kind = (
        "integer"
        if dtype is not None and pd.api.types.is_integer_dtype(dtype)
        else "number"
        if dtype is not None
        and pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        else "string"
    )
    return {"name": name, "type": kind}


def licences_of(attribution: dict) -> list[dict]:
    found: dict[str, dict] = {}
    for source in attribution["sources"]:
        entry = {"title": source["licence"]}
        if source["licence_url"]:
            entry["path"] = source["licence_url"]
        found.setdefault(source["licence"], entry)
    return list(found.values()) or [{"title": attribution["licence"]}]


def sources_of(attribution: dict) -> list[dict]:
    return [
        {k: v for k, v in {"title": s["attribution"], "path": s["homepage"]}.items() if v}
        for s in attribution["sources"]
    ]


def resource(
    path: Path, fmt: str, contract: TableContract, attribution: dict, frame: pd.DataFrame | None
) -> dict:
    data = path.read_bytes()
    name = path.name.replace(".", "-").lower()
    entry = {
        "name": name,
        "path": path.name,
        "title": attribution["title"],
        "description": attribution["citation"],
        "format": fmt,
        "mediatype": MEDIA_TYPES[fmt],
        "bytes": len(data),
        "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "licenses": licences_of(attribution),
        "sources": sources_of(attribution),
    }
    if fmt in ("csv", "sdmx-csv") and frame is not None:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns.tolist()
        entry.update(
            profile="tabular-data-resource",
            encoding="utf-8-sig" if fmt == "csv" else "utf-8",
            dialect={"delimiter": ",", "header": True},
            schema={
                "fields": [field_of(column, contract, frame) for column in header],
                "missingValues": [""],
                **({"primaryKey": contract.primary_key} if fmt == "csv" and contract.primary_key else {}),
            },
        )
    else:
        entry["profile"] = "data-resource"
    return entry


def write_datapackage(
    folder: Path,
    *,
    audience: str,
    built_at: str,
    resources: list[dict],
    attributions: dict[str, dict],
) -> Path:
    licences: dict[str, dict] = {}
    sources: dict[str, dict] = {}
    for attribution in attributions.values():
        for entry in licences_of(attribution):
            licences.setdefault(entry["title"], entry)
        for entry in sources_of(attribution):
            sources.setdefault(entry["title"], entry)
    descriptor = {
        "profile": "data-package",
        "name": f"cmc-regional-warehouse-{audience}",
        "title": f"CMC regional labour-migration warehouse: export for the {audience} audience",
        "description": (
            "Published tables of the Caribbean Migration Consultations' labour migration data "
            "network. Each resource names its own licences and sources; cite them as its "
            "description says."
        ),
        "created": built_at,
        "contributors": [
            {
                "title": "Caribbean Migration Consultations (CMC), labour migration data network",
                "role": "publisher",
            }
        ],
        "licenses": list(licences.values()),
        "sources": list(sources.values()),
        "resources": resources,
    }
    path = Path(folder) / "datapackage.json"
    path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
