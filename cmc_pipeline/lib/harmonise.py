"""Harmonisation: source-shaped staging rows → comparable ``core.fact_observation`` rows.

This is the only place codes are translated: countries to ISO3, sex and age to ILO codes,
periods to ``2019`` / ``2019-Q1`` / ``2019-M01``, and every value gets an explicit unit and
multiplier. A value that cannot be mapped stops the load with an error that lists every
such value, how often it occurs and where to find it: guessing would make figures
incomparable without anyone noticing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from cmc_pipeline.lib.reference import (
    IlostatIndicator,
    fold_name,
    ilo_code_lists,
    ilostat_indicators,
    resolve_country,
    source_aggregate_codes,
    worldbank_indicators,
)

NOT_APPLICABLE = "_Z"  # SDMX's code for "this breakdown does not apply"
SOURCE_ILOSTAT = "ILOSTAT"
SOURCE_WORLDBANK = "World Bank WDI"

FACT_COLUMNS = [
    "country_iso3",
    "period",
    "indicator_id",
    "sex",
    "age",
    "breakdown_1",
    "breakdown_2",
    "source",
    "frequency",
    "value",
    "unit",
    "unit_multiplier",
    "obs_status",
    "source_series_id",
    "source_survey",
    "raw_sha256",
    "demonstration_data",
    "loaded_at",
]


class HarmonisationError(ValueError):
    """Values that have no mapping; the message names each one and where it occurs."""


class UnmappedValues:
    """Collects unmappable values per column so that one error reports all of them."""

    def __init__(self, what: str):
        self.what = what
        self.problems: dict[str, pd.DataFrame] = {}

    def add(self, column: str, rows: pd.DataFrame, values: pd.Series) -> None:
        if len(rows):
            self.problems[column] = rows.assign(_value=values)

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        lines = []
        for column, rows in self.problems.items():
            for value, group in rows.groupby("_value", sort=True, dropna=False):
                first = group.iloc[0]
                lines.append(
                    f"  column {column!r}: {value!r} in {len(group)} row(s), first at line "
                    f"{first['source_row_number']} of {first['dataset_id']} "
                    f"(raw {str(first['raw_sha256'])[:12]})"
                )
        raise HarmonisationError(
            f"{self.what}: values with no mapping in the reference code lists "
            f"(add them to cmc_pipeline/reference/ if they are legitimate):\n" + "\n".join(lines)
        )


# --- countries --------------------------------------------------------------------------


def assign_countries(frame: pd.DataFrame, column: str, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Add ``country_iso3`` from a source's area column and drop what is not a CMC country.

    Returns the kept rows and a count of dropped rows by reason, so that the caller can
    record the skip: regional aggregates are recomputed by the warehouse, and a file may
    legitimately cover the whole world.
    """
    areas = frame[column].astype("string")
    aggregates = areas.isin(source_aggregate_codes(source))
    iso3 = areas.map(lambda v: resolve_country(v) if isinstance(v, str) else None)
    kept = frame.assign(country_iso3=iso3)[iso3.notna() & ~aggregates]
    skipped = {
        "regional aggregates": int(aggregates.sum()),
        "areas outside the CMC": int((iso3.isna() & ~aggregates).sum()),
    }
    return kept.reset_index(drop=True), {k: v for k, v in skipped.items() if v}


# --- periods ----------------------------------------------------------------------------

_PERIOD_PATTERNS = [
    (re.compile(r"^(\d{4})$"), "A", "{0}"),
    (re.compile(r"^(\d{4})-?Q([1-4])$"), "Q", "{0}-Q{1}"),
    (re.compile(r"^(\d{4})-?M(0[1-9]|1[0-2])$"), "M", "{0}-M{1}"),
]


def harmonise_period(text: str) -> tuple[str, str] | None:
    """``(period, frequency)`` for 2019 / 2019Q1 / 2019-Q1 / 2019M01 / 2019-M01, else None."""
    text = str(text).strip()
    for pattern, frequency, template in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if match:
            return template.format(*match.groups()), frequency
    return None


# --- ILOSTAT ----------------------------------------------------------------------------


def _indicator_lookup() -> dict[str, IlostatIndicator]:
    lookup: dict[str, IlostatIndicator] = {}
    for indicator in ilostat_indicators():
        lookup[indicator.indicator_id] = indicator
        if indicator.bulk_id:
            lookup[indicator.bulk_id] = indicator
        lookup[fold_name(indicator.label)] = indicator
    return lookup


def _indicator_for(published: str, lookup: dict[str, IlostatIndicator]) -> IlostatIndicator | None:
    if published in lookup:
        return lookup[published]
    # Label downloads say "Labour force by sex and age (thousands)": drop the unit.
    without_unit = re.sub(r"\s*\([^)]*\)\s*$", "", str(published))
    return lookup.get(fold_name(without_unit))


def _to_code(values: pd.Series, allowed_dimensions: Iterable[str] | None = None) -> pd.Series:
    """Code for each value given as an ILO code or label; NA where neither is known."""
    codes = ilo_code_lists()
    allowed = set(allowed_dimensions) if allowed_dimensions else None

    def one(value):
        if value is None or value is pd.NA or value == "":
            return ""
        code = value if codes.dimension_of(value) else codes.code_for_label(value)
        if code is None or (allowed and codes.dimension_of(code) not in allowed):
            return None
        return code

    return values.map(one, na_action=None).astype("string")


def ilostat_to_facts(staging: pd.DataFrame) -> pd.DataFrame:
    """Fact rows from ``staging.ilostat_observations`` rows."""
    unmapped = UnmappedValues("ILOSTAT rows cannot be harmonised")
    codes = ilo_code_lists()
    lookup = _indicator_lookup()

    indicators = staging["indicator"].map(lambda v: _indicator_for(v, lookup))
    unmapped.add("indicator", staging[indicators.isna()], staging["indicator"][indicators.isna()])

    sex = _to_code(staging["sex"], ["sex"])
    unmapped.add("sex", staging[sex.isna() | (sex == "")], staging["sex"][sex.isna() | (sex == "")])

    classifications = []
    for column in ("classif1", "classif2"):
        mapped = _to_code(staging[column])
        bad = mapped.isna()
        unmapped.add(column, staging[bad], staging[column][bad])
        classifications.append(mapped)

    status = _to_code(staging["obs_status"], ["obs_status"])
    unmapped.add("obs_status", staging[status.isna()], staging["obs_status"][status.isna()])

    periods = staging["time"].map(harmonise_period)
    unmapped.add("time", staging[periods.isna()], staging["time"][periods.isna()])
    unmapped.raise_if_any()

    # Place each classification in its column by its dimension: age to `age`, the rest
    # to breakdown_1/2 in published order (occupation before place of birth, say).
    age, breakdown_1, breakdown_2 = [], [], []
    for first, second in zip(classifications[0], classifications[1], strict=True):
        others = []
        row_age = NOT_APPLICABLE
        for code in (first, second):
            if not code:
                continue
            if codes.dimension_of(code) == "age":
                row_age = code
            else:
                others.append(code)
        others += [NOT_APPLICABLE] * (2 - len(others))
        age.append(row_age)
        breakdown_1.append(others[0])
        breakdown_2.append(others[1])

    catalogue_multiplier = indicators.map(lambda i: i.unit_multiplier).astype("Int64")
    facts = pd.DataFrame(
        {
            "country_iso3": staging["country_iso3"],
            "period": periods.map(lambda p: p[0]),
            "indicator_id": indicators.map(lambda i: i.indicator_id),
            "sex": sex,
            "age": age,
            "breakdown_1": breakdown_1,
            "breakdown_2": breakdown_2,
            "source": SOURCE_ILOSTAT,
            "frequency": periods.map(lambda p: p[1]),
            "value": staging["obs_value"],
            "unit": indicators.map(lambda i: i.unit),
            # SDMX states the multiplier; the bulk CSV does not, so the catalogue's applies.
            "unit_multiplier": staging["unit_multiplier"].fillna(catalogue_multiplier),
            "obs_status": status.replace("", pd.NA),
            "source_series_id": staging["dataset_id"],
            "source_survey": staging["source_survey"].replace("", pd.NA),
            "raw_sha256": staging["raw_sha256"],
            "demonstration_data": staging["demonstration_data"],
            "loaded_at": staging["loaded_at"],
        }
    )
    return _keep_informative_rows(facts)


# --- World Bank -------------------------------------------------------------------------


def worldbank_to_facts(staging: pd.DataFrame) -> pd.DataFrame:
    """Fact rows from ``staging.worldbank_observations`` rows."""
    unmapped = UnmappedValues("World Bank rows cannot be harmonised")
    catalogue = {i.indicator_id: i for i in worldbank_indicators()}
    known = staging["indicator_id"].isin(list(catalogue))
    unmapped.add("indicator_id", staging[~known], staging["indicator_id"][~known])
    periods = staging["date"].map(harmonise_period)
    unmapped.add("date", staging[periods.isna()], staging["date"][periods.isna()])
    unmapped.raise_if_any()

    facts = pd.DataFrame(
        {
            "country_iso3": staging["country_iso3"],
            "period": periods.map(lambda p: p[0]),
            "indicator_id": staging["indicator_id"],
            "sex": "SEX_T",
            "age": NOT_APPLICABLE,
            "breakdown_1": NOT_APPLICABLE,
            "breakdown_2": NOT_APPLICABLE,
            "source": SOURCE_WORLDBANK,
            "frequency": periods.map(lambda p: p[1]),
            "value": staging["value"],
            "unit": staging["indicator_id"].map(lambda i: catalogue[i].unit),
            "unit_multiplier": staging["indicator_id"].map(lambda i: catalogue[i].unit_multiplier),
            "obs_status": staging["obs_status"].replace("", pd.NA),
            "source_series_id": staging["indicator_id"],
            "source_survey": pd.NA,
            "raw_sha256": staging["raw_sha256"],
            "demonstration_data": staging["demonstration_data"],
            "loaded_at": staging["loaded_at"],
        }
    )
    return _keep_informative_rows(facts)


def _keep_informative_rows(facts: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with neither a value nor a status (the World Bank pads empty years), and
    keep one row per key, the most recently loaded one (a user's import of a newer
    download supersedes the API's older answer for the same figure)."""
    informative = facts["value"].notna() | facts["obs_status"].notna()
    facts = facts[informative]
    key = FACT_COLUMNS[:8]
    facts = facts.sort_values("loaded_at", kind="stable").drop_duplicates(key, keep="last")
    return facts[FACT_COLUMNS].sort_values(key).reset_index(drop=True)


# --- UN DESA International Migrant Stock -------------------------------------------------

SOURCE_UNDESA = "UN DESA IMS"
UNDESA_SEX = {"both sexes": "SEX_T", "male": "SEX_M", "female": "SEX_F"}
UNDESA_SERIES = "IMS destination and origin, Table 1"


def undesa_to_facts(staging: pd.DataFrame, batch: Iterable[str]) -> pd.DataFrame:
    """Stocks of the batch's countries, both directions: migrants living in the country by
    origin (``CBR_BRT_<ISO3>``, all origins ``CBR_BIR_FOREIGN``) and people born there
    living abroad by destination (``CRS_RES_<ISO3>``, all destinations ``CRS_RES_TOTAL``).

    Regions and groups other than the world total are left out on purpose: the warehouse
    computes its own regional figures from countries.
    """
    batch = list(batch)
    immigrants = staging[
        staging["destination_iso3"].isin(batch) & staging["origin_kind"].isin(["country", "world"])
    ]
    emigrants = staging[
        staging["origin_iso3"].isin(batch) & staging["destination_kind"].isin(["country", "world"])
    ]
    parts = [
        _undesa_facts(
            immigrants,
            immigrants["destination_iso3"],
            "UNDESA_IMS_IMMIGRANT_STOCK",
            ("CBR_BRT_" + immigrants["origin_iso3"]).fillna("CBR_BIR_FOREIGN"),
        ),
        _undesa_facts(
            emigrants,
            emigrants["origin_iso3"],
            "UNDESA_IMS_EMIGRANT_STOCK",
            ("CRS_RES_" + emigrants["destination_iso3"]).fillna("CRS_RES_TOTAL"),
        ),
    ]
    return _keep_informative_rows(pd.concat(parts, ignore_index=True))


def _undesa_facts(rows: pd.DataFrame, country: pd.Series, indicator_id: str, breakdown: pd.Series):
    unknown_sex = ~rows["sex"].isin(list(UNDESA_SEX))
    if unknown_sex.any():
        raise HarmonisationError(
            f"UN DESA sex blocks with no mapping: {sorted(set(rows['sex'][unknown_sex]))}"
        )
    return pd.DataFrame(
        {
            "country_iso3": country,
            "period": rows["year"].astype("string"),
            "indicator_id": indicator_id,
            "sex": rows["sex"].map(UNDESA_SEX),
            "age": NOT_APPLICABLE,
            "breakdown_1": breakdown,
            "breakdown_2": NOT_APPLICABLE,
            "source": SOURCE_UNDESA,
            "frequency": "A",
            "value": rows["value"],
            "unit": "persons",
            "unit_multiplier": 0,
            "obs_status": pd.NA,
            "source_series_id": UNDESA_SERIES,
            "source_survey": rows["data_type"],
            "raw_sha256": rows["raw_sha256"],
            "demonstration_data": rows["demonstration_data"],
            "loaded_at": rows["loaded_at"],
        }
    )


def undesa_to_corridors(staging: pd.DataFrame) -> pd.DataFrame:
    """Country-to-country stocks (both ends with an ISO3 code) that have a value."""
    pairs = staging[
        staging["origin_iso3"].notna() & staging["destination_iso3"].notna() & staging["value"].notna()
    ]
    corridors = pd.DataFrame(
        {
            "origin_iso3": pairs["origin_iso3"],
            "destination_iso3": pairs["destination_iso3"],
            "period": pairs["year"].astype("string"),
            "sex": pairs["sex"].map(UNDESA_SEX),
            "stock": pairs["value"],
            "origin_name": pairs["origin_name"],
            "destination_name": pairs["destination_name"],
            "data_type": pairs["data_type"],
            "source": SOURCE_UNDESA,
            "raw_sha256": pairs["raw_sha256"],
            "demonstration_data": pairs["demonstration_data"],
            "loaded_at": pairs["loaded_at"],
        }
    )
    if corridors["sex"].isna().any():
        raise HarmonisationError(
            f"UN DESA sex blocks with no mapping: {sorted(set(pairs['sex']) - set(UNDESA_SEX))}"
        )
    return corridors.sort_values(["origin_iso3", "destination_iso3", "period", "sex"]).reset_index(drop=True)


# --- IOM Missing Migrants Project --------------------------------------------------------

SOURCE_MISSING_MIGRANTS = "IOM Missing Migrants"
ROUTE_NOT_STATED = "MMP_RTE_NOT_STATED"


def missing_migrants_to_incidents(staging: pd.DataFrame) -> pd.DataFrame:
    """``core.migrant_incident`` rows: CMC country, cause and route codes, whole numbers."""
    from cmc_pipeline.lib.reference import missing_migrants_codes

    codes = missing_migrants_codes()
    located = staging.assign(dataset_id=staging["dataset_year"].astype("string"))
    unmapped = UnmappedValues("Missing Migrants incidents cannot be harmonised")

    causes = located["cause_of_death"].map(
        lambda v: codes["cause"].get(fold_name(v)) if isinstance(v, str) else None
    )
    unmapped.add("cause_of_death", located[causes.isna()], located["cause_of_death"][causes.isna()])
    # Most incidents name no route: that is "not stated", not an unmapped route.
    routes = located["migration_route"].map(
        lambda v: codes["route"].get(fold_name(v)) if isinstance(v, str) and v.strip() else ROUTE_NOT_STATED
    )
    unmapped.add("migration_route", located[routes.isna()], located["migration_route"][routes.isna()])
    years = located["incident_year"].str.extract(r"^\s*(\d{4})", expand=False)
    unmapped.add("incident_year", located[years.isna()], located["incident_year"][years.isna()])
    unmapped.raise_if_any()

    def whole(column: str) -> pd.Series:
        return located[column].round().astype("Int64")

    incidents = pd.DataFrame(
        {
            "incident_id": located["incident_id"],
            "period": years,
            "incident_date": pd.to_datetime(
                located["incident_date"], errors="coerce", format="mixed"
            ).dt.normalize(),
            "country_iso3": located["country_of_incident"].map(
                lambda v: resolve_country(v) if isinstance(v, str) else None
            ),
            "country_of_incident": located["country_of_incident"],
            "cause_code": causes,
            "route_code": routes,
            "dead": whole("number_dead"),
            "missing": whole("number_missing"),
            "dead_and_missing": whole("total_dead_and_missing"),
            "survivors": whole("number_survivors"),
            "country_of_origin": located["country_of_origin"],
            "source_quality": located["source_quality"],
            "raw_sha256": located["raw_sha256"],
            "demonstration_data": located["demonstration_data"],
            "loaded_at": located["loaded_at"],
        }
    )
    return incidents.sort_values("incident_id").reset_index(drop=True)


def incidents_to_facts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Dead and missing, and incident counts, by country × year × cause × route."""
    located = incidents[incidents["country_iso3"].notna()]
    keys = ["country_iso3", "period", "cause_code", "route_code"]
    grouped = located.groupby(keys, sort=True).agg(
        dead_and_missing=("dead_and_missing", "sum"),
        incidents=("incident_id", "count"),
        raw_sha256=("raw_sha256", "first"),
        demonstration_data=("demonstration_data", "any"),
        loaded_at=("loaded_at", "max"),
    )
    grouped = grouped.reset_index()
    parts = []
    for indicator_id, column, unit in (
        ("MMP_DEAD_MISSING", "dead_and_missing", "persons"),
        ("MMP_INCIDENTS", "incidents", "incidents"),
    ):
        parts.append(
            pd.DataFrame(
                {
                    "country_iso3": grouped["country_iso3"],
                    "period": grouped["period"],
                    "indicator_id": indicator_id,
                    "sex": "SEX_T",
                    "age": NOT_APPLICABLE,
                    "breakdown_1": grouped["cause_code"],
                    "breakdown_2": grouped["route_code"],
                    "source": SOURCE_MISSING_MIGRANTS,
                    "frequency": "A",
                    "value": grouped[column].astype("Float64"),
                    "unit": unit,
                    "unit_multiplier": 0,
                    "obs_status": pd.NA,
                    "source_series_id": "global-figures json",
                    "source_survey": pd.NA,
                    "raw_sha256": grouped["raw_sha256"],
                    "demonstration_data": grouped["demonstration_data"],
                    "loaded_at": grouped["loaded_at"],
                }
            )
        )
    if not parts[0].empty:
        return _keep_informative_rows(pd.concat(parts, ignore_index=True))
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FACT_COLUMNS})


# --- IOM Displacement Tracking Matrix ----------------------------------------------------

SOURCE_DTM = "IOM DTM"


def dtm_to_displacement(staging: pd.DataFrame) -> pd.DataFrame:
    """``core.displacement`` rows: one per record and sex (total, males, females)."""
    from cmc_pipeline.lib.sources.dtm import RESTRICTED

    dates = pd.to_datetime(staging["reporting_date"].str.slice(0, 10), errors="coerce", format="%Y-%m-%d")
    bad = dates.isna()
    if bad.any():
        raise HarmonisationError(
            "DTM reporting dates that are not YYYY-MM-DD…: "
            + ", ".join(
                f"{v!r} (record {n})"
                for v, n in zip(
                    staging["reporting_date"][bad], staging["source_row_number"][bad], strict=True
                )
            )
        )
    common = {
        "country_iso3": staging["country_iso3"],
        "operation": staging["operation"],
        "reporting_date": dates,
        "round_number": staging["round_number"].fillna(0),
        "displacement_reason": staging["displacement_reason"].fillna("not stated").replace("", "not stated"),
        "indicator_id": "DTM_IDP_PRESENT",
        "assessment_type": staging["assessment_type"],
        "source": SOURCE_DTM,
        "dissemination_level": RESTRICTED,
        "raw_sha256": staging["raw_sha256"],
        "loaded_at": staging["loaded_at"],
    }
    parts = [
        pd.DataFrame({**common, "sex": sex, "idps": staging[column]})
        for sex, column in (
            ("SEX_T", "num_present_idp_ind"),
            ("SEX_M", "number_males"),
            ("SEX_F", "number_females"),
        )
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[(rows["sex"] == "SEX_T") | rows["idps"].notna()]
    key = ["country_iso3", "operation", "reporting_date", "round_number", "displacement_reason", "sex"]
    duplicated = rows.duplicated(key, keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise HarmonisationError(
            f"DTM records repeat the same country, operation, date, round and reason "
            f"({int(duplicated.sum())} rows), e.g. {first['country_iso3']} {first['operation']!r} "
            f"{first['reporting_date']:%Y-%m-%d} round {first['round_number']}"
        )
    return rows.sort_values(key).reset_index(drop=True)
