"""One folder per upstream source: everything about a source lives in its folder.

Each folder holds ``origin.yaml`` (publisher, URLs, licence, citation, cadence — what OWID's
ETL keeps beside each snapshot), the client and parser, the mapping to the core, the
source's code lists or how they are derived from their authority, its recorded real
bodies under ``snapshots/``, and its Dagster assets. Fixing or adding a source happens in
one place; the steps every source shares (landing, the load report, the validate-and-save
gate, the fact-table schema, the review list of unmapped values) are in
``cmc_pipeline.steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.yaml_files import read_yaml

SOURCES_DIR = Path(__file__).resolve().parent
# Every source, in the order `cmc build --sources` lists them. Adding a source means
# adding its folder (with origin.yaml) and its name here.
SOURCE_NAMES = ("ilostat", "worldbank", "undesa", "missing_migrants", "dtm", "governance_needs")
# National uploads are not fetched from a publisher, but exports cite them like a source.
UPLOADS = "uploads"
UPLOADS_ORIGIN = SOURCES_DIR.parent / "lib" / "uploads" / "origin.yaml"


@dataclass(frozen=True)
class Origin:
    """Where a source's data come from and on what terms (``<source>/origin.yaml``)."""

    name: str
    title: str
    publisher: str
    producer: str
    homepage: str
    urls: dict[str, str]
    base_url_settings: dict[str, str]
    licence: str
    licence_url: str
    attribution: str
    citation: str
    cadence: str
    redistribution: bool
    notes: str

    @property
    def folder(self) -> Path:
        return SOURCES_DIR / self.name

    @property
    def snapshot_dir(self) -> Path:
        return self.folder / "snapshots"


@cache
def origin(name: str) -> Origin:
    """The origin metadata of one source, read from its folder."""
    if name not in (*SOURCE_NAMES, UPLOADS):
        raise KeyError(f"no source named {name!r}; the sources are {', '.join(SOURCE_NAMES)}")
    path = UPLOADS_ORIGIN if name == UPLOADS else SOURCES_DIR / name / "origin.yaml"
    entry = read_yaml(path)
    return Origin(
        name=name,
        title=entry["title"],
        publisher=entry["publisher"],
        producer=entry["producer"],
        homepage=entry["homepage"],
        urls=dict(entry.get("urls") or {}),
        base_url_settings=dict(entry.get("base_url_settings") or {}),
        licence=entry["licence"],
        licence_url=entry.get("licence_url", ""),
        attribution=entry["attribution"],
        citation=entry["citation"].strip(),
        cadence=entry["cadence"],
        redistribution=bool(entry.get("redistribution", True)),
        notes=(entry.get("notes") or "").strip(),
    )


def origins() -> list[Origin]:
    return [origin(name) for name in SOURCE_NAMES]


def licence_statement(name: str) -> str:
    """The licence as tables and raw provenance state it: "CC BY 4.0 (ILO, ILOSTAT)"."""
    found = origin(name)
    return f"{found.licence} ({found.attribution})"
