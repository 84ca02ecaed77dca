"""Reference data: the CMC country list, the indicator catalogues and the ILO code lists.

These live as files under ``cmc_pipeline/reference/`` so that a change of membership or a
renamed indicator is a data change reviewed like any other, never an edit to code.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache

import yaml

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


# --- indicator catalogues ---------------------------------------------------------------


@dataclass(frozen=True)
class IlostatIndicator:
    indicator_id: str
    label: str
    topic: str
    unit: str
    unit_multiplier: int
    frequency: str
    bulk_id: str | None
    sdmx_dataflow: str | None
    sdmx_breakdowns: tuple[str, ...]
    fetch_order: tuple[str, ...]

    @property
    def bulk_dataset_id(self) -> str | None:
        """The rplumber id carries the frequency: EAP_TEAP_SEX_AGE_NB_A."""
        return f"{self.bulk_id}_{self.frequency}" if self.bulk_id else None


@dataclass(frozen=True)
class WorldBankIndicator:
    indicator_id: str
    label: str
    topic: str
    unit: str
    unit_multiplier: int


@cache
def ilostat_indicators() -> tuple[IlostatIndicator, ...]:
    with open(REFERENCE_DIR / "ilostat_indicators.yaml", encoding="utf-8") as f:
        entries = yaml.safe_load(f)["indicators"]
    return tuple(
        IlostatIndicator(
            indicator_id=e["indicator_id"],
            label=e["label"],
            topic=e["topic"],
            unit=e["unit"],
            unit_multiplier=int(e["unit_multiplier"]),
            frequency=e["frequency"],
            bulk_id=e.get("bulk_id"),
            sdmx_dataflow=e.get("sdmx_dataflow"),
            sdmx_breakdowns=tuple(e.get("sdmx_breakdowns") or ()),
            fetch_order=tuple(e["fetch_order"]),
        )
        for e in entries
    )


@cache
def worldbank_indicators() -> tuple[WorldBankIndicator, ...]:
    with open(REFERENCE_DIR / "worldbank_indicators.yaml", encoding="utf-8") as f:
        entries = yaml.safe_load(f)["indicators"]
    return tuple(
        WorldBankIndicator(
            indicator_id=e["indicator_id"],
            label=e["label"],
            topic=e["topic"],
            unit=e["unit"],
            unit_multiplier=int(e["unit_multiplier"]),
        )
        for e in entries
    )


# --- ILO code lists ---------------------------------------------------------------------


@dataclass(frozen=True)
class IloCodeLists:
    """Every ILO code the warehouse accepts, with its label, by dimension."""

    code_dimension: dict[str, str]
    label_to_code: dict[str, str]

    def dimension_of(self, code: str) -> str | None:
        return self.code_dimension.get(code)

    def code_for_label(self, label: str) -> str | None:
        return self.label_to_code.get(fold_name(label))


@dataclass(frozen=True)
class IloCode:
    dimension: str
    code: str
    label: str


@cache
def ilo_code_rows() -> tuple[IloCode, ...]:
    """Every row of ``ilo_codelists.csv``, with ``{ISO3}`` templates expanded over ISO 3166-1.

    Country-based breakdowns (place of birth, destination …) can name any country in the
    world, so their codes are generated from pycountry rather than listed by hand.
    """
    import pycountry  # only needed here; keeps CLI start-up light

    rows: list[IloCode] = []
    with open(REFERENCE_DIR / "ilo_codelists.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if "{ISO3}" in row["code"]:
                rows.extend(
                    IloCode(
                        row["dimension"],
                        row["code"].replace("{ISO3}", country.alpha_3),
                        row["label"].replace("{COUNTRY}", country.name),
                    )
                    for country in pycountry.countries
                )
            else:
                rows.append(IloCode(row["dimension"], row["code"], row["label"]))
    return tuple(rows)


@cache
def ilo_code_lists() -> IloCodeLists:
    """The ILO codes by dimension, and labels (folded) to codes, for harmonisation."""
    rows = ilo_code_rows()
    return IloCodeLists(
        code_dimension={r.code: r.dimension for r in rows},
        label_to_code={fold_name(r.label): r.code for r in rows},
    )


LICENCES = {
    "ilostat": "CC BY 4.0 (ILOSTAT, International Labour Organization)",
    "worldbank": "CC BY 4.0 (World Bank, World Development Indicators)",
    "undesa": "CC BY 3.0 IGO (UN DESA Population Division)",
    "missing_migrants": "CC BY IGO (IOM Missing Migrants Project)",
    "dtm": "IOM DTM terms: non-commercial use, no redistribution (restricted)",
    "governance_needs": "CMC working-group material, keyed from IOM assessment reports",
}


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
    with open(REFERENCE_DIR / "migration_indicators.yaml", encoding="utf-8") as f:
        entries = yaml.safe_load(f)["indicators"]
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


@cache
def missing_migrants_codes() -> dict[str, dict[str, str]]:
    """{dimension: {folded label: code}} for Missing Migrants causes of death and routes."""
    codes: dict[str, dict[str, str]] = {}
    with open(REFERENCE_DIR / "missing_migrants_codes.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            codes.setdefault(row["dimension"], {})[fold_name(row["label"])] = row["code"]
    return codes
