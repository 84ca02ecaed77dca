"""Reference data: the CMC country list, the indicator catalogues and the ILO code lists.

These live as files under ``cmc_pipeline/reference/`` so that a change of membership or a
renamed indicator is a data change reviewed like any other, never an edit to code.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache

from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import REFERENCE_DIR

COUNTRY_FLAG_COLUMNS = (
    "caricom_member",
    "caricom_associate",
    "oecs_member",
    "oecs_associate",
    "csme_participant",
    "mgna_2018",
    "cmc_participant",
)


@dataclass(frozen=True)
class Country:
    iso3: str
    iso2: str
    m49: str
    name_en: str
    name_variants: tuple[str, ...]
    flags: dict[str, bool]


@cache
def countries() -> tuple[Country, ...]:
    """The CMC countries in reference-file order (that order is the partition order)."""
    with open(REFERENCE_DIR / "countries.csv", encoding="utf-8", newline="") as f:
        return tuple(
            Country(
                iso3=row["iso3"],
                iso2=row["iso2"],
                m49=row["m49"],
                name_en=row["name_en"],
                name_variants=tuple(v for v in row["name_variants"].split("|") if v),
                flags={flag: row[flag] == "true" for flag in COUNTRY_FLAG_COLUMNS},
            )
            for row in csv.DictReader(f)
        )


def cmc_iso3_codes() -> list[str]:
    return [c.iso3 for c in countries()]


def fold_name(text: str) -> str:
    """Case- and accent-insensitive key, so 'Curacao' matches 'Curaçao'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


@cache
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in countries():
        for name in (country.iso3, country.iso2, country.m49, country.name_en, *country.name_variants):
            index[fold_name(name)] = country.iso3
    return index


def resolve_country(value: str) -> str | None:
    """ISO3 of a CMC country given its ISO3, ISO2, M49 code or any known name, else None."""
    return _country_index().get(fold_name(str(value)))


@cache
def source_aggregate_codes(source: str) -> frozenset[str]:
    """Regional aggregates a source publishes beside countries (e.g. ILO X91 CARICOM)."""
    with open(REFERENCE_DIR / "source_aggregates.csv", encoding="utf-8", newline="") as f:
        return frozenset(row["code"] for row in csv.DictReader(f) if row["source"] == source)


# --- UN M49 (UN DESA locations) ---------------------------------------------------------


@dataclass(frozen=True)
class M49Aggregate:
    code: str
    name: str
    kind: str  # world, region, sdg_region, development_group, income_group, …


def _m49_key(code: str | int) -> str:
    """M49 codes are published as 28, "28" or "028": compare them without leading zeros."""
    return str(code).strip().lstrip("0") or "0"


@cache
def m49_aggregates() -> dict[str, M49Aggregate]:
    """Regions, development and income groups UN DESA publishes beside countries, by code.

    From ``reference/m49_aggregates.csv``: every code there is excluded from country
    figures on purpose, so a code in neither this file nor the country list is an error.
    """
    with open(REFERENCE_DIR / "m49_aggregates.csv", encoding="utf-8", newline="") as f:
        return {
            _m49_key(row["code"]): M49Aggregate(row["code"], row["name"], row["kind"])
            for row in csv.DictReader(f)
        }


@cache
def _m49_countries() -> dict[str, str]:
    import pycountry  # only needed here; keeps CLI start-up light

    # pycountry's ``numeric`` is the ISO 3166-1 numeric code, which the UN M49 standard
    # uses for every country or area that has one.
    return {_m49_key(c.numeric): c.alpha_3 for c in pycountry.countries}


def m49_to_iso3(code: str | int) -> str | None:
    """ISO3 of the country or area with this M49 code, else None."""
    return _m49_countries().get(_m49_key(code))


def m49_aggregate(code: str | int) -> M49Aggregate | None:
    return m49_aggregates().get(_m49_key(code))


# --- indicators of the migration sources (UN DESA, IOM) ---------------------------------


@dataclass(frozen=True)
class MigrationIndicator:
    indicator_id: str
    source: str
    label: str
    topic: str
    unit: str
    unit_multiplier: int
    frequency: str
    source_ids: str
    licence_key: str


@cache
def migration_indicators() -> tuple[MigrationIndicator, ...]:
    entries = read_yaml(REFERENCE_DIR / "migration_indicators.yaml")["indicators"]
    return tuple(
        MigrationIndicator(
            indicator_id=e["indicator_id"],
            source=e["source"],
            label=e["label"],
            topic=e["topic"],
            unit=e["unit"],
            unit_multiplier=int(e["unit_multiplier"]),
            frequency=e["frequency"],
            source_ids=e["source_ids"],
            licence_key=e["licence_key"],
        )
        for e in entries
    )


def migration_indicator(indicator_id: str) -> MigrationIndicator:
    for indicator in migration_indicators():
        if indicator.indicator_id == indicator_id:
            return indicator
    raise KeyError(f"{indicator_id} is not in reference/migration_indicators.yaml")
