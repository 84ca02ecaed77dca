"""Generate the bundled snapshot files: mostly DEMONSTRATION data, not official statistics.

Snapshot mode (``CMC_SOURCE_MODE=snapshot``, the default) serves "recorded responses"
from this folder instead of calling the ILOSTAT API. This module writes
those files for a machine that has never been online:

- ILOSTAT bulk CSV (rplumber, ``type=code``) for the indicators fetched from the bulk
  API first, and SDMX-CSV for those fetched from the SDMX API first. All values are
  DEMONSTRATION values drawn from a seeded random generator; only the file format,
  the codes and the shape of the coverage mimic the real ILO data.
- The World Bank's demonstration series are written by
  ``cmc_pipeline.sources.worldbank.demonstration`` (from the country profiles below); its
  remittance series are real downloads bundled in ``sources/worldbank/snapshots/``.
- ``manifest.json``, one entry per file, saying which is which and which live URL each
  file stands in for.

This is NOT how real snapshots are recorded. Where there is internet, the pipeline's
``cmc snapshot record`` command calls the live APIs and stores their answers verbatim;
those recordings replace the demonstration files written here.

The output is deterministic: every dataset draws from its own ``random.Random`` seeded
with a fixed string, nothing depends on the clock or on dict/set hash order, so running
the module twice gives byte-identical files. Only the standard library and PyYAML are
used, and nothing from Dagster, so the module runs on a bare Python.

Run it with ``python -m cmc_pipeline.snapshots.generate_demo``.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.sources.ilostat import client as ilostat

SNAPSHOT_DIR = Path(__file__).resolve().parent
REFERENCE_DIR = SNAPSHOT_DIR.parent / "reference"
SOURCES_DIR = SNAPSHOT_DIR.parent / "sources"

# Changing the seed changes every demonstration value; keep it fixed.
SEED = 20261124
# Fixed, not the clock: a timestamp that moved on every run would break reproducibility.
RETRIEVED_AT = "2026-11-24T00:00:00Z"
GENERATED_BY = "cmc_pipeline.snapshots.generate_demo"

FIRST_YEAR = 2000
LAST_YEAR = 2024
YEARS = range(FIRST_YEAR, LAST_YEAR + 1)

# --------------------------------------------------------------------------------------
# Reference data (read, never written)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    iso3: str
    iso2: str
    name: str


def load_countries() -> list[Country]:
    """The 25 CMC countries, in the order of countries.csv (the order used in URLs)."""
    with open(REFERENCE_DIR / "countries.csv", encoding="utf-8", newline="") as handle:
        return [Country(row["iso3"], row["iso2"], row["name_en"]) for row in csv.DictReader(handle)]


def load_yaml_indicators(source: str) -> list[dict]:
    return read_yaml(SOURCES_DIR / source / "indicators.yaml")["indicators"]


# --------------------------------------------------------------------------------------
# Country profiles: the few facts the demonstration values are scaled from
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Rough, rounded orders of magnitude for one country (2020 unless stated).

    They only make the demonstration values look plausible; they are not statistics.
    """

    population: int  # persons
    population_growth: float  # per year
    labour_force_ratio: float  # labour force / population, reached in 2024
    female_share: float  # of the labour force
    youth_share: float  # 15-24 year olds in the labour force, in 2000
    unemployment_2000: float  # percent, before the cycle is applied
    unemployment_2024: float  # percent
    foreign_born_share: float  # of the labour force, at the 2010 census round
    net_migration_per_1000: float  # per year; negative = more people leave
    remittances_received: float | None  # current US$ in 2020; None = not published
    remittances_paid: float | None  # current US$ in 2020; None = not published


# Anguilla and Montserrat appear only to complete the table: they are neither World Bank
# economies nor covered by any of the demonstration ILOSTAT series below.
PROFILES: dict[str, Profile] = {
    # population, growth, LF ratio, female share, youth share, unemployment 2000 / 2024,
    # foreign-born share, net migration per 1000, remittances received / paid (US$)
    "ATG": Profile(90_000, 0.010, 0.54, 0.49, 0.14, 10.0, 7.0, 0.30, 3.0, 37e6, 30e6),
    "BHS": Profile(400_000, 0.012, 0.55, 0.49, 0.15, 7.0, 9.0, 0.17, 2.0, None, 190e6),
    "BRB": Profile(280_000, 0.002, 0.50, 0.49, 0.13, 9.5, 8.0, 0.11, 0.5, 110e6, 60e6),
    "BLZ": Profile(400_000, 0.020, 0.45, 0.38, 0.22, 11.0, 5.0, 0.16, 1.5, 120e6, 40e6),
    "DMA": Profile(70_000, 0.003, 0.45, 0.44, 0.15, 11.0, 9.0, 0.08, -4.0, 68e6, 10e6),
    "GRD": Profile(110_000, 0.006, 0.49, 0.47, 0.16, 24.0, 14.0, 0.07, -2.0, 70e6, 15e6),
    "GUY": Profile(790_000, 0.005, 0.40, 0.38, 0.20, 12.0, 12.0, 0.012, -8.0, 440e6, 90e6),
    "HTI": Profile(11_000_000, 0.014, 0.42, 0.45, 0.21, 13.0, 15.0, 0.003, -3.0, 3.8e9, 450e6),
    "JAM": Profile(2_800_000, 0.004, 0.48, 0.46, 0.16, 15.5, 4.5, 0.010, -4.0, 3.5e9, 250e6),
    "MSR": Profile(4_500, 0.000, 0.50, 0.45, 0.13, 10.0, 8.0, 0.20, 0.0, None, None),
    "KNA": Profile(47_000, 0.010, 0.50, 0.48, 0.14, 9.0, 7.0, 0.14, 1.0, 30e6, 20e6),
    "LCA": Profile(180_000, 0.006, 0.52, 0.48, 0.17, 17.0, 12.0, 0.06, -1.0, 60e6, 20e6),
    "VCT": Profile(104_000, 0.001, 0.50, 0.43, 0.17, 20.0, 13.0, 0.04, -5.0, 60e6, 12e6),
    "SUR": Profile(600_000, 0.010, 0.40, 0.39, 0.17, 10.0, 8.0, 0.08, -2.0, 125e6, 15e6),
    "TTO": Profile(1_400_000, 0.005, 0.45, 0.42, 0.14, 12.0, 5.0, 0.03, -0.5, 190e6, 110e6),
    "AIA": Profile(15_000, 0.010, 0.55, 0.48, 0.13, 8.0, 8.0, 0.35, 5.0, None, None),
    "BMU": Profile(64_000, -0.001, 0.52, 0.50, 0.10, 5.0, 5.0, 0.30, -2.0, 1.6e9, 200e6),
    "VGB": Profile(30_000, 0.015, 0.55, 0.49, 0.12, 5.0, 5.0, 0.60, 10.0, None, None),
    "CYM": Profile(66_000, 0.025, 0.55, 0.48, 0.11, 5.0, 4.0, 0.55, 12.0, 14e6, 250e6),
    "TCA": Profile(44_000, 0.030, 0.55, 0.47, 0.13, 8.0, 8.0, 0.35, 20.0, 7e6, 80e6),
    "DOM": Profile(10_500_000, 0.011, 0.46, 0.41, 0.19, 7.0, 5.5, 0.05, -2.5, 8.2e9, 550e6),
    "CUB": Profile(11_200_000, 0.001, 0.45, 0.38, 0.13, 5.5, 3.2, 0.003, -1.5, None, None),
    "ABW": Profile(107_000, 0.008, 0.50, 0.49, 0.12, 7.0, 7.0, 0.35, 5.0, 37e6, 60e6),
    "CUW": Profile(155_000, 0.003, 0.45, 0.50, 0.12, 14.0, 12.0, 0.25, -3.0, 150e6, 90e6),
    "SXM": Profile(43_000, 0.015, 0.55, 0.50, 0.12, 10.0, 10.0, 0.70, 10.0, 50e6, 70e6),
}


def population(iso3: str, year: int) -> float:
    """Smooth population path through the 2020 value (Cuba shrinks after 2020)."""
    profile = PROFILES[iso3]
    growth = profile.population_growth
    if iso3 == "CUB" and year > 2020:
        growth = -0.015  # Cuba's population has fallen fast since 2021 through emigration.
    return profile.population * (1 + growth) ** (year - 2020)


def labour_force_persons(iso3: str, year: int) -> float:
    """Labour force in persons: population times a participation ratio that creeps up."""
    ratio = PROFILES[iso3].labour_force_ratio * (0.94 + 0.06 * (year - FIRST_YEAR) / 24)
    return population(iso3, year) * ratio


def jitter(rng: random.Random, spread: float) -> float:
    """A multiplicative noise factor in [1 - spread, 1 + spread]."""
    return 1 + rng.uniform(-spread, spread)


# --------------------------------------------------------------------------------------
# ILOSTAT: labour force, employment and unemployment by sex and age (bulk API first)
# --------------------------------------------------------------------------------------

ILO_SEXES = ("SEX_T", "SEX_M", "SEX_F")
ILO_AGES = ("AGE_YTHADULT_YGE15", "AGE_YTHADULT_Y15-24", "AGE_YTHADULT_YGE25")
YOUTH, ADULT = "AGE_YTHADULT_Y15-24", "AGE_YTHADULT_YGE25"


@dataclass(frozen=True)
class SurveyCoverage:
    """Which years a country's labour force survey (LFS) appears in ILOSTAT.

    Only 14 CMC countries run an LFS. Several started late (Guyana 2017, Grenada 2013),
    some ran it only now and then (Haiti, Antigua, St Vincent, Suriname), and several
    skipped the census year or 2020 (COVID-19). The small territories have none.
    """

    years: tuple[int, ...]
    source_ids: dict[int, str]  # first year -> ILO source code (a survey redesign = new id)
    note_source: str
    breaks: tuple[int, ...] = ()  # obs_status B: first year of a redesigned survey
    estimates: tuple[int, ...] = ()  # obs_status E
    provisional: tuple[int, ...] = ()  # obs_status P
    not_available: tuple[int, ...] = ()  # rows kept with an empty value, obs_status N


def _span(first: int, last: int, *, skip: Iterable[int] = ()) -> tuple[int, ...]:
    skipped = set(skip)
    return tuple(year for year in range(first, last + 1) if year not in skipped)


# The source ids ("BA:<n>", BA = labour force survey) are invented for the demonstration;
# the note codes reuse ones seen in real ILOSTAT files.
LFS_COVERAGE: dict[str, SurveyCoverage] = {
    "ATG": SurveyCoverage((2015, 2018, 2023), {2015: "BA:9104"}, "R1:3513"),
    "BHS": SurveyCoverage(
        # No survey in the 2010 census year; the 2020 round was cancelled (COVID-19) and
        # is published as "not available" so that the N status appears in the files.
        _span(2000, 2024, skip=[2010]),
        {2000: "BA:2112"},
        "R1:3513_T2:85",
        provisional=(2024,),
        not_available=(2020,),
    ),
    "BRB": SurveyCoverage(_span(2000, 2024), {2000: "BA:2131"}, "R1:3513_T2:85", provisional=(2024,)),
    "BLZ": SurveyCoverage(_span(2000, 2024, skip=[2010, 2020]), {2000: "BA:2154"}, "R1:3513"),
    "GUY": SurveyCoverage(_span(2017, 2024), {2017: "BA:9322"}, "R1:3513_T2:85", provisional=(2024,)),
    "HTI": SurveyCoverage((2007, 2012), {2007: "BA:3320"}, "R1:3513", estimates=(2007,)),
    "JAM": SurveyCoverage(_span(2000, 2024), {2000: "BA:2388"}, "R1:3513_R1:2803_T2:85", provisional=(2024,)),
    "LCA": SurveyCoverage(_span(2004, 2024, skip=[2020]), {2004: "BA:2662"}, "R1:3513_T2:85"),
    "VCT": SurveyCoverage((2015, 2016, 2017, 2019, 2022), {2015: "BA:9670"}, "R1:3513"),
    "SUR": SurveyCoverage((2016, 2017, 2022, 2023, 2024), {2016: "BA:9740"}, "R1:3513", estimates=(2016,)),
    "TTO": SurveyCoverage(
        _span(2000, 2024, skip=[2020, 2021]),
        {2000: "BA:2780", 2022: "BA:9780"},
        "R1:3513_T2:85",
        breaks=(2022,),
    ),
    "DOM": SurveyCoverage(
        # The 2014 switch from the ENFT to the ENCFT survey is a real break in series.
        _span(2000, 2024),
        {2000: "BA:2214", 2014: "BA:8214"},
        "R1:3513_R1:2803_T2:85",
        breaks=(2014,),
    ),
    "CUB": SurveyCoverage(
        _span(2000, 2024), {2000: "BA:2192"}, "R1:3513", estimates=(2022, 2023), provisional=(2024,)
    ),
    "GRD": SurveyCoverage(_span(2013, 2024, skip=[2020]), {2013: "BA:9308"}, "R1:3513"),
}

# How much the 2008-09 crisis and COVID-19 pushed unemployment above its trend.
UNEMPLOYMENT_CYCLE = {
    2008: 1.05,
    2009: 1.15,
    2010: 1.25,
    2011: 1.30,
    2012: 1.30,
    2013: 1.25,
    2014: 1.15,
    2015: 1.05,
    2020: 1.35,
    2021: 1.20,
    2022: 1.05,
}
# Caribbean women face markedly higher unemployment than men; youth two to three times
# the adult rate.
FEMALE_UNEMPLOYMENT_FACTOR = {"SEX_M": 0.80, "SEX_F": 1.30}
AGE_UNEMPLOYMENT_FACTOR = {YOUTH: 2.30, ADULT: 0.80}


@dataclass
class LabourCell:
    """One country-year of the LFS: persons in the labour force and unemployed, by the
    four (sex, age) leaves. Totals are always sums of leaves, so they add up exactly."""

    labour_force: dict[tuple[str, str], int]
    unemployed: dict[tuple[str, str], int]


def leaf_keys() -> list[tuple[str, str]]:
    return [(sex, age) for sex in ("SEX_M", "SEX_F") for age in (YOUTH, ADULT)]


def trend(start: float, end: float, year: int) -> float:
    return start + (end - start) * (year - FIRST_YEAR) / (LAST_YEAR - FIRST_YEAR)


def simulate_labour_cell(rng: random.Random, iso3: str, year: int) -> LabourCell:
    profile = PROFILES[iso3]
    total = labour_force_persons(iso3, year) * jitter(rng, 0.02)
    # Youth make up a shrinking part of the labour force as the region ages.
    youth_share = profile.youth_share * trend(1.0, 0.72, year)
    overall_rate = trend(profile.unemployment_2000, profile.unemployment_2024, year)
    overall_rate *= UNEMPLOYMENT_CYCLE.get(year, 1.0)

    labour_force: dict[tuple[str, str], int] = {}
    unemployed: dict[tuple[str, str], int] = {}
    for sex, age in leaf_keys():
        sex_share = profile.female_share if sex == "SEX_F" else 1 - profile.female_share
        age_share = youth_share if age == YOUTH else 1 - youth_share
        persons = round(total * sex_share * age_share * jitter(rng, 0.03))
        rate = overall_rate * FEMALE_UNEMPLOYMENT_FACTOR[sex] * AGE_UNEMPLOYMENT_FACTOR[age]
        # Keep leaf rates inside 3-30 %, with a margin for counting whole persons.
        rate = min(29.8, max(3.2, rate * jitter(rng, 0.08)))
        labour_force[sex, age] = persons
        unemployed[sex, age] = round(persons * rate / 100)
    return LabourCell(labour_force, unemployed)


def aggregate(leaves: dict[tuple[str, str], int], sex: str, age: str) -> int:
    """Sum the leaves under one (sex, age) pair, where SEX_T and YGE15 are totals."""
    sexes = ("SEX_M", "SEX_F") if sex == "SEX_T" else (sex,)
    ages = (YOUTH, ADULT) if age == "AGE_YTHADULT_YGE15" else (age,)
    return sum(leaves[s, a] for s in sexes for a in ages)


def format_thousands(persons: int) -> str:
    """Persons as thousands with up to 3 decimals, trailing zeros dropped as R writes them.

    Working in whole persons keeps SEX_T = SEX_M + SEX_F exact after rounding."""
    whole, rest = divmod(persons, 1000)
    return f"{whole}.{rest:03d}".rstrip("0").rstrip(".")


def format_decimal(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def labour_indicator_values(indicator_id: str, cell: LabourCell) -> dict[tuple[str, str], str]:
    """The formatted value of one bulk indicator for every (sex, age) of a country-year."""
    values = {}
    for sex in ILO_SEXES:
        for age in ILO_AGES:
            labour_force = aggregate(cell.labour_force, sex, age)
            unemployed = aggregate(cell.unemployed, sex, age)
            if indicator_id == "EAP_TEAP_SEX_AGE_NB":
                values[sex, age] = format_thousands(labour_force)
            elif indicator_id == "EMP_TEMP_SEX_AGE_NB":
                values[sex, age] = format_thousands(labour_force - unemployed)
            elif indicator_id == "UNE_DEAP_SEX_AGE_RT":
                values[sex, age] = format_decimal(100 * unemployed / labour_force)
            else:
                raise ValueError(f"no demonstration model for {indicator_id}")
    return values


def simulate_all_labour_cells() -> dict[tuple[str, int], LabourCell]:
    """One LabourCell per covered country-year, shared by the three bulk files so that
    employment = labour force - unemployed and the rate = unemployed / labour force."""
    cells = {}
    for iso3, coverage in LFS_COVERAGE.items():
        rng = random.Random(f"{SEED}/lfs/{iso3}")
        for year in sorted({*coverage.years, *coverage.not_available}):
            cells[iso3, year] = simulate_labour_cell(rng, iso3, year)
    return cells


def source_for(coverage: SurveyCoverage, year: int) -> str:
    first_years = [first for first in coverage.source_ids if first <= year]
    return coverage.source_ids[max(first_years)] if first_years else ""


def obs_status_for(coverage: SurveyCoverage, year: int) -> str:
    if year in coverage.not_available:
        return "N"
    if year in coverage.breaks:
        return "B"
    if year in coverage.estimates:
        return "E"
    if year in coverage.provisional:
        return "P"
    return ""


BULK_HEADER = (
    "ref_area",
    "source",
    "indicator",
    "sex",
    "classif1",
    "time",
    "obs_value",
    "obs_status",
    "note_classif",
    "note_indicator",
    "note_source",
)


def quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def bulk_csv_line(fields: dict[str, str]) -> str:
    """One rplumber CSV line: every text field quoted, obs_value bare (empty if missing)."""
    return ",".join(fields[name] if name == "obs_value" else quote(fields[name]) for name in BULK_HEADER)


def bulk_csv_text(indicator_id: str, cells: dict[tuple[str, int], LabourCell]) -> str:
    lines = [",".join(quote(name) for name in BULK_HEADER)]
    rows = []
    for (iso3, year), cell in cells.items():
        coverage = LFS_COVERAGE[iso3]
        values = labour_indicator_values(indicator_id, cell)
        status = obs_status_for(coverage, year)
        for sex_index, sex in enumerate(ILO_SEXES):
            for age_index, age in enumerate(ILO_AGES):
                fields = {
                    "ref_area": iso3,
                    "source": source_for(coverage, year),
                    "indicator": indicator_id,
                    "sex": sex,
                    "classif1": age,
                    "time": str(year),
                    "obs_value": "" if status == "N" else values[sex, age],
                    "obs_status": status,
                    "note_classif": "",
                    "note_indicator": "",
                    "note_source": coverage.note_source,
                }
                sort_key = (iso3, fields["source"], sex_index, age_index, year)
                rows.append((sort_key, bulk_csv_line(fields)))
    lines.extend(line for _, line in sorted(rows))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# ILOSTAT: labour-migration (ILMS) series in SDMX-CSV (SDMX API first)
# --------------------------------------------------------------------------------------
#
# The ILMS series come from population censuses (and a few administrative sources), so
# each country has at most one value per census round (~2001, ~2011, ~2021) and most
# countries have none at all. That sparseness is the point: the working group needs to
# see the gaps. Outflow, return and diaspora series are sparser still.

SDMX_VERSION = "1.0"
CENSUS = "Population and Housing Census"
ADMINISTRATIVE = "Administrative records and related sources"
OFFICIAL_ESTIMATE = "Official estimate"

# Census rounds as each country actually held them.
LABOUR_FORCE_BY_BIRTH_YEARS = {
    "ATG": (2001, 2011),
    "BHS": (2000, 2010),
    "BRB": (2000, 2010, 2021),
    "BLZ": (2000, 2010, 2022),
    "CYM": (2010, 2021),
    "GUY": (2002, 2012),
    "JAM": (2001, 2011),
    "LCA": (2001, 2010),
    "TTO": (2000, 2011),
}
EMPLOYMENT_BY_OCCUPATION_YEARS = {
    "ATG": (2011,),
    "BHS": (2010,),
    "BRB": (2010, 2021),
    "CYM": (2010, 2021),
    "JAM": (2011,),
    "TTO": (2011,),
}


@dataclass(frozen=True)
class InflowSeries:
    """Arrivals in a census year, split into a country's own people coming back
    (native-born or citizens) and everybody else."""

    years: tuple[int, ...]
    arrivals_per_person: float  # arrivals in the year / population
    own_share: float  # share of arrivals who are native-born (or citizens)


INFLOWS_BY_BIRTH = {
    "ATG": InflowSeries((2011,), 0.015, 0.35),
    "BHS": InflowSeries((2010,), 0.010, 0.30),
    "BRB": InflowSeries((2010, 2021), 0.007, 0.40),
    "CYM": InflowSeries((2010, 2021), 0.080, 0.10),
    "KNA": InflowSeries((2011,), 0.012, 0.35),
    "TTO": InflowSeries((2011,), 0.003, 0.45),
}
# Naturalised citizens make the citizen share a little higher than the native-born share.
INFLOWS_BY_CITIZENSHIP = {
    "BHS": InflowSeries((2010,), 0.010, 0.35),
    "BRB": InflowSeries((2010, 2021), 0.007, 0.45),
    "CYM": InflowSeries((2010, 2021), 0.080, 0.15),
    "TCA": InflowSeries((2012,), 0.060, 0.12),
    "VGB": InflowSeries((2010,), 0.050, 0.15),
}


@dataclass(frozen=True)
class PartnerSeries:
    """Persons by partner country (destination, previous residence or residence).

    The partner lists are not exhaustive: the TOTAL row also counts the countries not
    itemised, so it exceeds the sum of the itemised rows (as real ILOSTAT totals do)."""

    scale_by_year: dict[int, float]  # years covered, and a size factor for each
    female_share: float
    thousands_by_partner: dict[str, float]  # ISO3 -> thousands of persons at scale 1.0


OUTFLOWS_BY_DESTINATION = {
    "JAM": PartnerSeries(
        {2011: 1.0, 2021: 0.9},
        0.55,
        {"USA": 19.0, "CAN": 2.8, "GBR": 1.9, "CYM": 1.4, "BHS": 0.4, "TTO": 0.3, "BRB": 0.2},
    ),
    "GUY": PartnerSeries(
        {2012: 1.0},
        0.52,
        {"USA": 6.5, "CAN": 1.4, "TTO": 0.9, "BRB": 0.6, "SUR": 0.4, "GBR": 0.3, "ATG": 0.2},
    ),
    "LCA": PartnerSeries(
        {2010: 1.0},
        0.54,
        {"USA": 0.9, "CAN": 0.3, "GBR": 0.25, "BRB": 0.2, "MTQ": 0.15, "ATG": 0.1},
    ),
}
# Returns are male-heavy, Jamaica's especially (deportations from the US and the UK).
RETURNS_BY_PREVIOUS_RESIDENCE = {
    "JAM": PartnerSeries({2011: 1.0}, 0.35, {"USA": 1.6, "GBR": 0.7, "CAN": 0.4, "CYM": 0.3, "BHS": 0.1}),
    "BRB": PartnerSeries({2010: 1.0}, 0.45, {"GBR": 0.45, "USA": 0.35, "CAN": 0.25, "TTO": 0.1, "ATG": 0.05}),
    "DMA": PartnerSeries(
        {2011: 1.0}, 0.48, {"USA": 0.15, "GBR": 0.12, "ATG": 0.08, "GLP": 0.05, "VGB": 0.04}
    ),
}
# Diasporas as counted by the destination countries' censuses around 2010 and 2020.
NATIONALS_ABROAD_BY_RESIDENCE = {
    "JAM": PartnerSeries(
        {2010: 1.0, 2020: 1.1},
        0.55,
        {"USA": 680.0, "GBR": 160.0, "CAN": 125.0, "CYM": 9.0, "BHS": 5.0},
    ),
    "GUY": PartnerSeries(
        {2010: 1.0, 2020: 1.12},
        0.54,
        {"USA": 255.0, "CAN": 90.0, "GBR": 25.0, "TTO": 12.0, "SUR": 10.0, "BRB": 6.0},
    ),
    "HTI": PartnerSeries(
        {2020: 1.0},
        0.52,
        {"USA": 700.0, "DOM": 500.0, "CHL": 180.0, "CAN": 100.0, "FRA": 85.0, "BHS": 25.0},
    ),
}

# Occupation mix (ISCO-08 major groups 1-9, in percent) by sex and place of birth.
# Foreign-born women cluster in service and elementary jobs (domestic work), foreign-born
# men in crafts and construction.
OCCUPATION_MIX = {
    ("SEX_M", "NATIVE"): (5, 8, 10, 4, 15, 8, 22, 10, 18),
    ("SEX_F", "NATIVE"): (6, 15, 12, 16, 28, 2, 4, 2, 15),
    ("SEX_M", "FOREIGN"): (6, 10, 8, 2, 12, 6, 28, 8, 20),
    ("SEX_F", "FOREIGN"): (4, 12, 7, 6, 30, 1, 3, 1, 36),
}
OCCUPATIONS = tuple(f"OCU_ISCO08_{group}" for group in range(1, 10))


@dataclass
class SdmxRow:
    """One observation: the breakdown codes in the dataflow's order, and persons."""

    iso3: str
    year: int
    codes: tuple[str, ...]
    persons: int
    source: str


def sum_over_sexes(leaves: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Add SEX_T = SEX_M + SEX_F for every combination of the other breakdowns."""
    totals = dict(leaves)
    for (sex, *rest), persons in leaves.items():
        if sex != "SEX_M":
            continue
        female = leaves[("SEX_F", *rest)]
        totals[("SEX_T", *rest)] = persons + female
    return totals


def add_total(
    values: dict[tuple[str, ...], int], position: int, parts: tuple[str, ...], total: str
) -> dict[tuple[str, ...], int]:
    """Add a total code at `position` as the exact sum of the `parts` codes there."""
    result = dict(values)
    groups: dict[tuple[str, ...], int] = {}
    for codes, persons in values.items():
        if codes[position] in parts:
            key = (*codes[:position], total, *codes[position + 1 :])
            groups[key] = groups.get(key, 0) + persons
    result.update(groups)
    return result


def labour_force_by_birth_rows(rng: random.Random) -> list[SdmxRow]:
    """Labour force by sex, age and place of birth: TOTAL = NATIVE + FOREIGN exactly."""
    rows = []
    for iso3, years in LABOUR_FORCE_BY_BIRTH_YEARS.items():
        profile = PROFILES[iso3]
        for year in years:
            total = labour_force_persons(iso3, year) * jitter(rng, 0.03)
            youth_share = profile.youth_share * trend(1.0, 0.72, year)
            # The foreign-born share grew a little census after census.
            foreign_share = profile.foreign_born_share * (1 + 0.01 * (year - 2010))
            leaves = {}
            for sex in ("SEX_M", "SEX_F"):
                sex_share = profile.female_share if sex == "SEX_F" else 1 - profile.female_share
                for age in (YOUTH, ADULT):
                    age_share = youth_share if age == YOUTH else 1 - youth_share
                    persons = total * sex_share * age_share * jitter(rng, 0.03)
                    # Migrants are mostly of prime working age: fewer young are foreign born.
                    share = foreign_share * (0.6 if age == YOUTH else 1.0) * jitter(rng, 0.1)
                    foreign = round(persons * min(share, 0.9))
                    leaves[sex, age, "CBR_BIR_FOREIGN"] = foreign
                    leaves[sex, age, "CBR_BIR_NATIVE"] = round(persons) - foreign
            values = sum_over_sexes(leaves)
            values = add_total(values, 1, (YOUTH, ADULT), "AGE_YTHADULT_YGE15")
            values = add_total(values, 2, ("CBR_BIR_NATIVE", "CBR_BIR_FOREIGN"), "CBR_BIR_TOTAL")
            rows.extend(SdmxRow(iso3, year, codes, persons, CENSUS) for codes, persons in values.items())
    return rows


def employment_by_occupation_rows(rng: random.Random) -> list[SdmxRow]:
    """Employment by sex, occupation and place of birth; totals are sums of groups."""
    rows = []
    for iso3, years in EMPLOYMENT_BY_OCCUPATION_YEARS.items():
        profile = PROFILES[iso3]
        for year in years:
            # A census counts fewer unemployed than an LFS; the recent rate is close enough.
            employed = labour_force_persons(iso3, year) * (1 - profile.unemployment_2024 / 100)
            employed *= jitter(rng, 0.03)
            foreign_share = profile.foreign_born_share * (1 + 0.01 * (year - 2010))
            leaves = {}
            for sex in ("SEX_M", "SEX_F"):
                sex_share = profile.female_share if sex == "SEX_F" else 1 - profile.female_share
                for birth in ("NATIVE", "FOREIGN"):
                    birth_share = foreign_share if birth == "FOREIGN" else 1 - foreign_share
                    group_total = employed * sex_share * birth_share
                    weights = [w * jitter(rng, 0.2) for w in OCCUPATION_MIX[sex, birth]]
                    for occupation, weight in zip(OCCUPATIONS, weights, strict=True):
                        persons = round(group_total * weight / sum(weights))
                        leaves[sex, occupation, f"CBR_BIR_{birth}"] = persons
            values = sum_over_sexes(leaves)
            values = add_total(values, 1, OCCUPATIONS, "OCU_ISCO08_TOTAL")
            values = add_total(values, 2, ("CBR_BIR_NATIVE", "CBR_BIR_FOREIGN"), "CBR_BIR_TOTAL")
            rows.extend(SdmxRow(iso3, year, codes, persons, CENSUS) for codes, persons in values.items())
    return rows


def inflow_rows(
    rng: random.Random,
    coverage: dict[str, InflowSeries],
    own_code: str,
    other_code: str,
    total_code: str,
) -> list[SdmxRow]:
    """Arrivals by sex, split into own people and others; TOTAL is their exact sum."""
    rows = []
    for iso3, series in coverage.items():
        for year in series.years:
            arrivals = population(iso3, year) * series.arrivals_per_person * jitter(rng, 0.15)
            leaves = {}
            for sex, sex_share in (("SEX_M", 0.52), ("SEX_F", 0.48)):
                persons = arrivals * sex_share * jitter(rng, 0.05)
                own = round(persons * series.own_share * jitter(rng, 0.1))
                leaves[sex, own_code] = own
                leaves[sex, other_code] = round(persons) - own
            values = sum_over_sexes(leaves)
            values = add_total(values, 1, (own_code, other_code), total_code)
            rows.extend(SdmxRow(iso3, year, codes, persons, CENSUS) for codes, persons in values.items())
    return rows


def partner_country_rows(
    rng: random.Random, coverage: dict[str, PartnerSeries], prefix: str, source: str
) -> list[SdmxRow]:
    """Persons by sex and partner country, codes such as CDS_DES_USA, plus a TOTAL row
    that adds 5-15 % for the partner countries not itemised."""
    rows = []
    for iso3, series in coverage.items():
        for year, scale in series.scale_by_year.items():
            leaves = {}
            for partner, thousands in series.thousands_by_partner.items():
                persons = thousands * 1000 * scale * jitter(rng, 0.08)
                female = round(persons * series.female_share * jitter(rng, 0.04))
                leaves["SEX_F", f"{prefix}_{partner}"] = female
                leaves["SEX_M", f"{prefix}_{partner}"] = round(persons) - female
            not_itemised = 1 + rng.uniform(0.05, 0.15)
            for sex in ("SEX_M", "SEX_F"):
                itemised = sum(v for (s, _), v in leaves.items() if s == sex)
                leaves[sex, f"{prefix}_TOTAL"] = round(itemised * not_itemised)
            values = sum_over_sexes(leaves)
            rows.extend(SdmxRow(iso3, year, codes, persons, source) for codes, persons in values.items())
    return rows


def ilms_rows(dataflow: str) -> list[SdmxRow]:
    """The demonstration observations of one ILMS dataflow, from its own seeded stream."""
    rng = random.Random(f"{SEED}/sdmx/{dataflow}")
    builders = {
        "DF_EAP_TEAP_SEX_AGE_CBR_NB": lambda: labour_force_by_birth_rows(rng),
        "DF_EMP_TEMP_SEX_OCU_CBR_NB": lambda: employment_by_occupation_rows(rng),
        "DF_POP_MFLB_SEX_CBR_NB": lambda: inflow_rows(
            rng, INFLOWS_BY_BIRTH, "CBR_BIR_NATIVE", "CBR_BIR_FOREIGN", "CBR_BIR_TOTAL"
        ),
        "DF_POP_MFLC_SEX_CCT_NB": lambda: inflow_rows(
            rng, INFLOWS_BY_CITIZENSHIP, "CCT_CIT_CITIZEN", "CCT_CIT_NONCIT", "CCT_CIT_TOTAL"
        ),
        "DF_POP_MNAO_SEX_CDS_NB": lambda: partner_country_rows(
            rng, OUTFLOWS_BY_DESTINATION, "CDS_DES", ADMINISTRATIVE
        ),
        "DF_POP_MNAR_SEX_CPR_NB": lambda: partner_country_rows(
            rng, RETURNS_BY_PREVIOUS_RESIDENCE, "CPR_PRV", ADMINISTRATIVE
        ),
        "DF_POP_MNAS_SEX_CRS_NB": lambda: partner_country_rows(
            rng, NATIONALS_ABROAD_BY_RESIDENCE, "CRS_RES", OFFICIAL_ESTIMATE
        ),
    }
    if dataflow not in builders:
        raise ValueError(f"no demonstration model for SDMX dataflow {dataflow}")
    return builders[dataflow]()


def load_code_list() -> tuple[dict[str, int], list[str]]:
    """ILO codes in code-list order, and the country templates such as ``CDS_DES_``."""
    positions: dict[str, int] = {}
    template_prefixes = []
    with open(SOURCES_DIR / "ilostat" / "ilo_codelists.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["code"].endswith("{ISO3}"):
                template_prefixes.append(row["code"].removesuffix("{ISO3}"))
            else:
                positions.setdefault(row["code"], len(positions))
    return positions, template_prefixes


CODE_POSITIONS, COUNTRY_CODE_PREFIXES = load_code_list()


def code_sort_key(code: str) -> tuple[int, str]:
    """Code-list order (totals first); country codes such as CDS_DES_USA after, A-Z.

    Also refuses a code the code list does not know, so a typo cannot reach a file."""
    if code in CODE_POSITIONS:
        return CODE_POSITIONS[code], ""
    prefix, _, iso3 = code.rpartition("_")
    if f"{prefix}_" in COUNTRY_CODE_PREFIXES and len(iso3) == 3 and iso3.isupper():
        return len(CODE_POSITIONS), code
    raise ValueError(f"{code} is not in reference/ilo_codelists.csv")


def sdmx_csv_text(indicator: dict, rows: list[SdmxRow]) -> str:
    breakdowns = indicator["sdmx_breakdowns"]
    dataflow = f"ILO:{indicator['sdmx_dataflow']}({SDMX_VERSION})"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*ilostat.SDMX_CSV_KEY_COLUMNS, *breakdowns, *ilostat.SDMX_CSV_OBSERVATION_COLUMNS])
    ordered = sorted(rows, key=lambda r: (r.iso3, [code_sort_key(c) for c in r.codes], r.year))
    for row in ordered:
        writer.writerow(
            [
                dataflow,
                row.iso3,
                "A",
                # Real SDMX answers carry the measure code (CL_MEASURE), not the bulk id.
                indicator["sdmx_measure"],
                *row.codes,
                str(row.year),
                format_thousands(row.persons),
                "",
                "NB",
                "PS",
                str(indicator["unit_multiplier"]),
                row.source,
                "",
                "",
                "",
                "3",
                "",
                "",
            ]
        )
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# URLs the files stand in for, and the manifest
# --------------------------------------------------------------------------------------


def rplumber_url(bulk_id: str, countries: list[Country]) -> str:
    areas = "+".join(c.iso3 for c in countries)  # a literal "+": "%2B" breaks rplumber
    return (
        f"https://rplumber.ilo.org/data/indicator/?id={bulk_id}_A&ref_area={areas}"
        "&timefrom=2000&type=code&format=.csv"
    )


def sdmx_url(indicator: dict, countries: list[Country]) -> str:
    # Key: REF_AREA.FREQ.MEASURE.<breakdowns>; empty positions are wildcards.
    areas = "+".join(c.iso3 for c in countries)
    wildcards = "." * (1 + len(indicator["sdmx_breakdowns"]))
    return (
        f"https://sdmx.ilo.org/rest/data/ILO,{indicator['sdmx_dataflow']}/"
        f"{areas}.A{wildcards}?startPeriod=2000&format=csv"
    )


def manifest_entry(
    source: str,
    dataset: str,
    api: str,
    page: int,
    file: str,
    url: str,
    demonstration: bool,
    note: str,
) -> dict:
    return {
        "source": source,
        "dataset": dataset,
        "api": api,
        "page": page,
        "file": file,
        "url": url,
        "retrieved_at": RETRIEVED_AT,
        "demonstration": demonstration,
        "note": note,
    }


DEMO_ILOSTAT_NOTE = (
    "Demonstration values generated by cmc_pipeline.snapshots.generate_demo in the exact "
    "{fmt} format of the ILOSTAT API; not ILO data."
)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def snapshot_path(relative: str) -> Path:
    """``ilostat/X.csv`` → the ILOSTAT folder's ``snapshots/X.csv``."""
    source, _, rest = relative.partition("/")
    return SOURCES_DIR / source / "snapshots" / rest


def write_text(relative: str, text: str, *, bom: bool = False) -> None:
    path = snapshot_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\ufeff" + text if bom else text).encode("utf-8")
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


REAL_ILOSTAT_FILES = {"EMP_TEMP_SEX_INS_NB", "EMP_NIFL_SEX_RT"}


def write_ilostat(countries: list[Country]) -> list[dict]:
    entries = []
    cells = simulate_all_labour_cells()
    for indicator in load_yaml_indicators("ilostat"):
        if indicator["indicator_id"] in REAL_ILOSTAT_FILES:
            continue  # a real download is bundled (sources/ilostat/snapshots/README.md)
        generation = indicator["fetch_order"][0]
        if generation == "bulk":
            dataset = f"{indicator['bulk_id']}_A"
            file = f"ilostat/{dataset}.csv"
            write_text(file, bulk_csv_text(indicator["bulk_id"], cells), bom=True)
            entries.append(
                manifest_entry(
                    "ilostat",
                    dataset,
                    "ilostat_bulk",
                    1,
                    file,
                    rplumber_url(indicator["bulk_id"], countries),
                    True,
                    DEMO_ILOSTAT_NOTE.format(fmt="rplumber bulk CSV (type=code)"),
                )
            )
        elif generation == "sdmx":
            dataset = indicator["sdmx_dataflow"]
            file = f"ilostat/{dataset}.csv"
            write_text(file, sdmx_csv_text(indicator, ilms_rows(dataset)))
            entries.append(
                manifest_entry(
                    "ilostat",
                    dataset,
                    "ilostat_sdmx",
                    1,
                    file,
                    sdmx_url(indicator, countries),
                    True,
                    DEMO_ILOSTAT_NOTE.format(fmt="SDMX-CSV"),
                )
            )
        else:
            raise ValueError(f"unknown API generation {generation!r} for {indicator}")
    return entries


def main() -> None:
    countries = load_countries()
    entries = write_ilostat(countries)
    # Other generators (generate_migration_demo) own the other sources' entries: keep them.
    manifest_path = SNAPSHOT_DIR / "manifest.json"
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))["entries"]
        entries += [e for e in previous if e["source"] not in ("ilostat", "worldbank")]
    entries.sort(key=lambda e: (e["source"], e["api"], e["dataset"], e["page"]))
    manifest = {"generated_by": GENERATED_BY, "entries": entries}
    write_text("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {len(entries)} snapshot files and manifest.json under {SNAPSHOT_DIR}")


if __name__ == "__main__":
    main()
