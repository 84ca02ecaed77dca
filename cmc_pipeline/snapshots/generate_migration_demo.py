"""Generate the bundled UN DESA and governance-needs files: DEMONSTRATION
data, not official statistics and not IOM findings.

The machines this project is built on have no internet, so these files stand in for:

- the UN DESA International Migrant Stock 2024 "destination and origin" workbook, in the
  official layout (title rows with merged cells, sheet "Table 1", the documented column
  labels, year blocks for both sexes / males / females × 1990, 1995 … 2020, 2024), kept
  small: the CMC countries plus a handful of partners (USA, CAN, GBR, FRA, NLD, VEN), the
  world total and a few regional rows that the pipeline must recognise and exclude;
- a governance-needs workbook keyed for the ten countries of the 2018 Migration
  Governance Needs Assessment, with ILLUSTRATIVE findings written for this project. They
  are generic statements of the kind such assessments make, not quotes from or
  summaries of IOM's report.

Every value comes from a ``random.Random`` seeded with a fixed string and the workbooks
are written with fixed timestamps, so running the module twice gives byte-identical files.
It merges its entries into ``manifest.json`` and leaves the other sources' entries alone.
No Dagster imports. Run it with ``python -m cmc_pipeline.snapshots.generate_migration_demo``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from cmc_pipeline.lib.reference import countries
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.templates import workbook_bytes
from cmc_pipeline.snapshots.generate_demo import (
    PROFILES,
    RETRIEVED_AT,
    SEED,
    jitter,
    population,
    snapshot_path,
)
from cmc_pipeline.sources.governance_needs import workbook as governance_needs
from cmc_pipeline.sources.undesa import client as undesa

SNAPSHOT_DIR = Path(__file__).resolve().parent
SOURCES = ("undesa", "governance_needs")
UNDESA_FILE = "undesa/undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx"
GOVERNANCE_FILE = "governance_needs/governance_needs_MGNA-2018_demonstration.xlsx"
GENERATOR = "cmc_pipeline.snapshots.generate_migration_demo"

# --------------------------------------------------------------------------------------
# UN DESA International Migrant Stock
# --------------------------------------------------------------------------------------

IMS_YEARS = (1990, 1995, 2000, 2005, 2010, 2015, 2020, 2024)
# Partner countries outside the CMC: M49 code, UN DESA name, migrants living there in
# 2020 (all origins; rounded orders of magnitude).
PARTNERS = {
    "USA": ("840", "United States of America", 51_000_000),
    "CAN": ("124", "Canada", 8_000_000),
    "GBR": ("826", "United Kingdom", 9_400_000),
    "FRA": ("250", "France", 8_500_000),
    "NLD": ("528", "Netherlands", 2_400_000),
    "VEN": ("862", "Venezuela (Bolivarian Republic of)", 1_300_000),
}
# Share of each CMC country's population living abroad around 2020 (orders of magnitude
# that make the demonstration plausible; not estimates).
EMIGRANT_SHARE = {
    "GUY": 0.55, "SUR": 0.50, "GRD": 0.45, "DMA": 0.50, "VCT": 0.40, "KNA": 0.40, "JAM": 0.38,
    "BRB": 0.35, "LCA": 0.30, "ATG": 0.30, "TTO": 0.25, "MSR": 0.60, "BLZ": 0.17, "HTI": 0.16,
    "DOM": 0.15, "CUB": 0.15, "BHS": 0.12, "CUW": 0.35, "ABW": 0.15, "SXM": 0.15,
}  # fmt: skip
# Where each CMC country's emigrants mostly live, as weights over the partners.
DIASPORA_WEIGHTS = {
    "default": {"USA": 6, "CAN": 2, "GBR": 2},
    "HTI": {"USA": 6, "CAN": 2, "FRA": 2},
    "DOM": {"USA": 8, "VEN": 1},
    "CUB": {"USA": 9, "VEN": 1},
    "SUR": {"NLD": 9, "USA": 1},
    "CUW": {"NLD": 9, "USA": 1},
    "ABW": {"NLD": 8, "USA": 2},
    "SXM": {"NLD": 6, "USA": 4},
    "GUY": {"USA": 6, "CAN": 3, "GBR": 1},
    "TTO": {"USA": 6, "CAN": 3, "GBR": 1, "VEN": 1},
}
ORIGIN_AGGREGATES = (("1830", "Latin America and the Caribbean"),)
DATA_TYPE = {"BHS": "C", "CYM": "C", "VGB": "C"}  # the rest count by country of birth ("B")


def _sexes(rng: random.Random, total: int | None) -> tuple:
    if total is None:
        return None, None, None
    male = round(total * rng.uniform(0.46, 0.53))
    return total, male, total - male  # both sexes is exactly male + female


def _path(rng: random.Random, value_2020: float, growth: float) -> dict[int, int]:
    return {
        year: max(0, round(value_2020 * (1 + growth) ** (year - 2020) * jitter(rng, 0.04)))
        for year in IMS_YEARS
    }


def undesa_rows() -> list[dict]:
    """(destination, origin) rows with {year: (both, male, female)} in the official order:
    the world first, then regions, then countries."""
    cmc = [c for c in countries()]
    names = {c.iso3: (c.m49.lstrip("0"), c.name_en) for c in cmc} | {k: v[:2] for k, v in PARTNERS.items()}
    emigrants = {
        c.iso3: EMIGRANT_SHARE.get(c.iso3, 0.08) * population(c.iso3, 2020) for c in cmc
    }  # people born in the country living abroad, 2020
    flows: dict[tuple[str, str], dict[int, int]] = {}
    # Diaspora in the partner countries.
    for origin, total in emigrants.items():
        weights = DIASPORA_WEIGHTS.get(origin, DIASPORA_WEIGHTS["default"])
        share_abroad_in_partners = 0.85
        for destination, weight in weights.items():
            rng = random.Random(f"{SEED}/undesa/{destination}/{origin}")
            value = total * share_abroad_in_partners * weight / sum(weights.values())
            flows[(destination, origin)] = _path(rng, value, 0.02)
    # Migrants living in each CMC country: from partners and from a few neighbours.
    for destination in cmc:
        rng = random.Random(f"{SEED}/undesa/origins/{destination.iso3}")
        immigrants = PROFILES[destination.iso3].foreign_born_share * population(destination.iso3, 2020)
        neighbours = rng.sample([c.iso3 for c in cmc if c.iso3 != destination.iso3], 6)
        for origin in [*neighbours, "USA", "CAN", "GBR", "VEN"]:
            value = immigrants * rng.uniform(0.03, 0.15)
            flows[(destination.iso3, origin)] = _path(rng, value, 0.015)

    rows = []

    def add(dest: tuple[str, str], origin: tuple[str, str], values: dict[int, int], dest_iso3: str = ""):
        rng = random.Random(f"{SEED}/undesa/sex/{dest[0]}/{origin[0]}")
        by_year = {}
        for year in IMS_YEARS:
            # Sint Maarten has no estimate before its 2010 constitutional change in this model.
            missing = dest_iso3 == "SXM" and year < 2010
            by_year[year] = _sexes(rng, None if missing else values[year])
        rows.append(
            {
                "destination": dest,
                "origin": origin,
                "values": by_year,
                "data_type": DATA_TYPE.get(dest_iso3, "B") if dest_iso3 else "",
            }
        )

    world = ("900", "World")
    caribbean = ("915", "Caribbean")
    # World and regional destinations: totals of each CMC country's emigrants.
    for origin in cmc:
        rng = random.Random(f"{SEED}/undesa/world/{origin.iso3}")
        add(world, names[origin.iso3], _path(rng, emigrants[origin.iso3], 0.02))
    for origin in cmc:
        within = [v for (d, o), v in flows.items() if o == origin.iso3 and d in names and d not in PARTNERS]
        if within:
            add(caribbean, names[origin.iso3], {y: sum(v[y] for v in within) for y in IMS_YEARS})
    # Country destinations: the world total first, a regional origin, then countries.
    for destination in [*(c.iso3 for c in cmc), *PARTNERS]:
        origins = sorted(o for (d, o) in flows if d == destination)
        listed = {y: sum(flows[(destination, o)][y] for o in origins) for y in IMS_YEARS}
        if destination in PARTNERS:
            rng = random.Random(f"{SEED}/undesa/total/{destination}")
            total = _path(rng, PARTNERS[destination][2], 0.02)
        else:
            # Unlisted origins make up the rest: the total exceeds the listed origins.
            total = {y: round(listed[y] * 1.25) for y in IMS_YEARS}
        add(names[destination], world, total, destination)
        for code, name in ORIGIN_AGGREGATES:
            add(names[destination], (code, name), {y: round(listed[y] * 0.6) for y in IMS_YEARS}, destination)
        for origin in origins:
            add(names[destination], names[origin], flows[(destination, origin)], destination)
    return rows


def undesa_workbook_bytes() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = undesa.SHEET
    width = 7 + 3 * len(IMS_YEARS)
    last = undesa.column_letter(width - 1)
    titles = [
        "International Migrant Stock 2024: Destination and origin",
        "Table 1. International migrant stock at mid-year by sex and by region, country or area of "
        "destination and origin, 1990-2024",
        f"{DEMONSTRATION_LABEL.upper()}: generated by {GENERATOR} in the layout of the UN DESA "
        "workbook; every value is invented.",
        "Layout: United Nations, Department of Economic and Social Affairs, Population Division (2024). "
        "International Migrant Stock 2024.",
        "Licence of the official data: Creative Commons CC BY 3.0 IGO.",
    ]
    for number, text in enumerate(titles, start=1):
        sheet.cell(number, 1, text).font = Font(bold=number <= 3)
        sheet.merge_cells(f"A{number}:{last}{number}")
    header_row = 11
    for block, label in enumerate(("both sexes", "males", "females")):
        first = 8 + block * len(IMS_YEARS)
        sheet.cell(header_row - 1, first, f"International migrant stocks at mid-year ({label})")
        sheet.merge_cells(
            start_row=header_row - 1,
            start_column=first,
            end_row=header_row - 1,
            end_column=first + len(IMS_YEARS) - 1,
        )
    labels = [
        "Index",
        "Region, development group, country or area of destination",
        "Coverage",
        "Location code of destination",
        "Data type",
        "Region, development group, country or area of origin",
        "Location code of origin",
        *IMS_YEARS * 3,
    ]
    for column, label in enumerate(labels, start=1):
        sheet.cell(header_row, column, label).font = Font(bold=True)
    for index, row in enumerate(undesa_rows(), start=1):
        (dest_code, dest_name), (origin_code, origin_name) = row["destination"], row["origin"]
        values = [
            row["values"][year][block] if row["values"][year][block] is not None else ".."
            for block in range(3)
            for year in IMS_YEARS
        ]
        sheet.append(
            [index, dest_name, "", int(dest_code), row["data_type"], origin_name, int(origin_code), *values]
        )
    sheet.append([])
    sheet.append(["Note: '..' = no estimate. " + DEMONSTRATION_LABEL + "."])
    return workbook_bytes(workbook)


# --------------------------------------------------------------------------------------
# Governance-needs workbook (MGNA 2018 countries), illustrative findings
# --------------------------------------------------------------------------------------

# (domain, topic, finding, need): generic statements of the kind a governance assessment
# makes. Written for this project as illustrations; not IOM's findings.
ILLUSTRATIVE_FINDINGS = [
    (
        "Migrants' rights",
        "access to services",
        "Migrants' access to public health care depends on their immigration status.",
        "Guidance so that frontline health staff know which services migrants may use.",
    ),
    (
        "Migrants' rights",
        "labour rights",
        "Labour inspection does not record whether workers are migrants.",
        "Add migrant status to labour inspection records.",
    ),
    (
        "Whole-of-government approach",
        "coordination",
        "No standing body coordinates migration policy across ministries.",
        "A national coordination mechanism on migration with clear terms of reference.",
    ),
    (
        "Whole-of-government approach",
        "migration data",
        "Administrative records on entries, permits and departures are kept separately and not shared.",
        "A common data-sharing agreement and regular migration statistics.",
    ),
    (
        "Partnerships",
        "regional cooperation",
        "Cooperation with neighbouring states on migration is mostly informal.",
        "Formal bilateral and regional agreements on information exchange.",
    ),
    (
        "Partnerships",
        "diaspora engagement",
        "There is no dedicated point of contact for the diaspora.",
        "A diaspora engagement strategy and focal point.",
    ),
    (
        "Well-being of migrants",
        "labour migration",
        "Recognition of foreign qualifications is slow and case by case.",
        "A published procedure for recognising qualifications, aligned with CSME.",
    ),
    (
        "Well-being of migrants",
        "remittances",
        "Sending remittances is costly and few low-cost channels exist.",
        "Work with financial regulators to lower remittance costs.",
    ),
    (
        "Mobility dimensions of crises",
        "disaster displacement",
        "Hurricane preparedness plans do not mention migrants or displaced persons.",
        "Include migrants and cross-border displacement in disaster plans.",
    ),
    (
        "Mobility dimensions of crises",
        "crisis communication",
        "Emergency information is issued in one language only.",
        "Multilingual emergency communication.",
    ),
    (
        "Safe, orderly and regular migration",
        "border management",
        "Border posts lack electronic systems to record entries and exits.",
        "Electronic border management systems and staff training.",
    ),
    (
        "Safe, orderly and regular migration",
        "counter-trafficking",
        "Few trafficking cases are identified and referral is ad hoc.",
        "Standard operating procedures for identifying and referring victims of trafficking.",
    ),
]


def governance_rows() -> list[dict]:
    rows = []
    mgna = [c for c in countries() if c.flags["mgna_2018"]]
    for country in mgna:
        rng = random.Random(f"{SEED}/governance_needs/{country.iso3}")
        chosen = sorted(rng.sample(range(len(ILLUSTRATIVE_FINDINGS)), 5))
        for index in chosen:
            domain, topic, finding, need = ILLUSTRATIVE_FINDINGS[index]
            rows.append(
                {
                    "country": country.name_en,
                    "assessment": "MGNA-2018",
                    "mgf_domain": domain,
                    "topic": topic,
                    "finding": finding,
                    "need": need,
                    "priority": rng.choice(["high", "high", "medium", "low"]),
                    "status_score": None,  # MGNA 2018 did not score indicators
                    "source_reference": "Illustrative demonstration row, not from the MGNA report",
                }
            )
    return rows


def governance_workbook_bytes() -> bytes:
    note = (
        f"{DEMONSTRATION_LABEL.upper()}: ILLUSTRATIVE findings written to demonstrate the pipeline "
        "for the ten countries of the 2018 Migration Governance Needs Assessment. They are NOT "
        "findings of IOM's assessment; replace them with rows keyed from the report."
    )
    return workbook_bytes(governance_needs.build_workbook(governance_rows(), note=note))


# --------------------------------------------------------------------------------------
# Writing and the manifest
# --------------------------------------------------------------------------------------


def _write(relative: str, data: bytes) -> None:
    path = snapshot_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _entry(source: str, dataset: str, api: str, file: str, url: str, note: str) -> dict:
    return {
        "source": source,
        "dataset": dataset,
        "api": api,
        "page": 1,
        "file": file,
        "url": url,
        "retrieved_at": RETRIEVED_AT,
        "demonstration": True,
        "note": note,
    }


def main() -> None:
    entries = []
    _write(UNDESA_FILE, undesa_workbook_bytes())
    entries.append(
        _entry(
            "undesa",
            undesa.DATASET_ID,
            undesa.API,
            UNDESA_FILE,
            undesa.WORKBOOK_URL,
            f"Demonstration values generated by {GENERATOR} in the layout of the official UN DESA "
            "workbook (Table 1); not UN DESA data.",
        )
    )
    _write(GOVERNANCE_FILE, governance_workbook_bytes())
    entries.append(
        _entry(
            "governance_needs",
            "MGNA-2018",
            "governance_workbook",
            GOVERNANCE_FILE,
            "",
            f"Illustrative findings generated by {GENERATOR} in the governance-needs template for "
            "the ten MGNA 2018 countries; not IOM's findings.",
        )
    )

    manifest_path = SNAPSHOT_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    kept = [e for e in manifest["entries"] if e["source"] not in SOURCES]
    manifest["entries"] = sorted(
        kept + entries, key=lambda e: (e["source"], e["api"], e["dataset"], e["page"])
    )
    _write("manifest.json", (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    print(f"wrote {len(entries)} demonstration files and updated manifest.json under {SNAPSHOT_DIR}")


if __name__ == "__main__":
    main()
