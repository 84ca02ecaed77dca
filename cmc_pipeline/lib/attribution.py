"""What an export must say about each table: its licence, whom to credit, how to cite it,
and which releases of which sources it holds.

The terms come from the table's contract (``licence``, ``sources``, version) and from each
source's ``origin.yaml`` (licence, licence URL, attribution, citation); the releases are
the raw files whose rows are loaded in the warehouse now, with their provenance from the
raw store (retrieved when, from where, real or demonstration data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cmc_pipeline import settings
from cmc_pipeline.lib.contracts import TableContract, all_contracts
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources import UPLOADS, origin

PUBLISHER = "Caribbean Migration Consultations (CMC), labour migration data network"
PROJECT_LICENCE_NOTE = (
    "Each figure keeps the licence of the source it comes from; credit every source listed."
)


@dataclass(frozen=True)
class SourceRelease:
    """One raw file whose rows are in the warehouse."""

    sha256: str
    dataset: str
    retrieved_at: str
    location: str
    demonstration_data: bool


def loaded_raw_files(warehouse: Warehouse) -> set[str]:
    """sha256 of every raw file that has rows in a core table now."""
    tables = [
        c.table
        for c in all_contracts().values()
        if c.schema_name == "core" and "raw_sha256" in c.column_names and warehouse.table_exists(c.table)
    ]
    if not tables:
        return set()
    union = " UNION ".join(f"SELECT DISTINCT raw_sha256 FROM {t}" for t in tables)
    return set(warehouse.query(union)["raw_sha256"].dropna().astype(str))


def source_releases(source: str, loaded: set[str], raw_root: Path) -> list[SourceRelease]:
    """The raw files of a source that are loaded, from their provenance sidecars."""
    folder = Path(raw_root) / source
    releases = []
    for sidecar in sorted(folder.glob("*/*.provenance.json")) if folder.is_dir() else ():
        sha256 = sidecar.name.split(".", 1)[0]
        if sha256 not in loaded:
            continue
        provenance = json.loads(sidecar.read_text(encoding="utf-8"))
        releases.append(
            SourceRelease(
                sha256=sha256,
                dataset=str(provenance.get("dataset") or provenance.get("api") or ""),
                retrieved_at=str(provenance.get("retrieved_at") or provenance.get("received_at") or ""),
                location=str(provenance.get("url") or provenance.get("original_name") or ""),
                demonstration_data=bool(provenance.get("demonstration_data")),
            )
        )
    return sorted(releases, key=lambda r: (r.dataset, r.retrieved_at, r.sha256))


def table_attribution(
    contract: TableContract,
    warehouse: Warehouse,
    *,
    loaded: set[str] | None = None,
    built_at: str = "",
    read: dict[str, list[SourceRelease]] | None = None,
) -> dict:
    """Licence, attribution, citation, contract version and sources of one published table.
    ``read`` keeps each source's loaded releases across the tables of one export, so its
    provenance files are read once."""
    loaded = loaded_raw_files(warehouse) if loaded is None else loaded
    read = {} if read is None else read
    names = contract.custom_properties.get("sources") or []
    dataset = contract.table.split(".", 1)[1]
    sources = []
    for name in names:
        found = origin(name)
        if name not in read:
            read[name] = source_releases(name, loaded, settings.raw_dir())
        # a national-upload table holds its own dataset's files only
        releases = [r for r in read[name] if name != UPLOADS or r.dataset == dataset]
        sources.append(
            {
                "name": name,
                "title": found.title,
                "publisher": found.publisher,
                "homepage": found.homepage,
                "licence": found.licence,
                "licence_url": found.licence_url,
                "attribution": found.attribution,
                "citation": found.citation,
                "releases": [release.__dict__ for release in releases],
            }
        )
    year = (built_at or "")[:4]
    purpose = " ".join(str((contract.document.get("description") or {}).get("purpose", "")).split())
    title = purpose.split(". ")[0].rstrip(".") or contract.table
    credits = "; ".join(s["attribution"] for s in sources)
    return {
        "table": contract.table,
        "title": title,
        "contract_version": contract.version,
        "dissemination_level": contract.custom_properties.get("dissemination_level", "restricted"),
        "licence": contract.custom_properties.get("licence", ""),
        "licence_note": PROJECT_LICENCE_NOTE,
        "attribution": f"{PUBLISHER}, from: {credits}" if credits else PUBLISHER,
        "citation": (
            f"{PUBLISHER} ({year}). {contract.table}, version {contract.version}. "
            f"Sources: {credits or 'see the sources listed'}."
        ),
        "sources": sources,
        "demonstration_note": f"Rows with demonstration_data = true are {DEMONSTRATION_LABEL}.",
    }
