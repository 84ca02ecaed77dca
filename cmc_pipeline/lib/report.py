"""The regional report: one self-contained HTML file the working group can open, present and
e-mail, built from the published marts.

It shows where data exists (a country × indicator coverage heat-map), the key
labour-migration indicators per country over time, remittances, migration corridors, the
governance needs countries share, and the state of every source. Every figure names its
sources and carries the demonstration-data label when any value behind it is demonstration
data. Charts are inline SVG (``charts.py``), so the file needs no network and no JavaScript.

Sections whose mart has not been built (a partial build, a source not loaded) say so
instead of disappearing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from pathlib import Path

from cmc_pipeline import settings
from cmc_pipeline.lib import charts
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.marts import (
    DATA_COVERAGE,
    GOVERNANCE_NEEDS,
    LABOUR_MIGRATION,
    MIGRATION_CORRIDORS,
    REGIONAL_AGGREGATES,
    REMITTANCES,
    indicator_columns,
)
from cmc_pipeline.lib.raw_store import write_atomically
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse, WarehouseError
from cmc_pipeline.sources.ilostat.load import ILOSTAT_STAGING
from cmc_pipeline.sources.ilostat.to_core import SOURCE_ILOSTAT
from cmc_pipeline.sources.worldbank.load import WORLDBANK_STAGING
from cmc_pipeline.sources.worldbank.to_core import SOURCE_WORLDBANK
from cmc_pipeline.steps.facts import FACT_TABLE

REPORT_TITLE = "Labour migration in the Caribbean: regional data report"
COUNTRIES = "core.dim_country"
INDICATORS = "core.dim_indicator"
REQUIRED_TABLES = (COUNTRIES, INDICATORS, FACT_TABLE, LABOUR_MIGRATION, REMITTANCES, DATA_COVERAGE)
QUALITY_RESULTS = "quality.check_results"
STAGING_TABLES = {SOURCE_ILOSTAT: ILOSTAT_STAGING, SOURCE_WORLDBANK: WORLDBANK_STAGING}

TOP_CORRIDORS = 12
TOP_NEEDS = 10
# SDG target 10.c: reduce the cost of sending remittances to below 3 per cent.
SDG_REMITTANCE_COST_TARGET = 3.0

# Heat-map column headings: the catalogue labels are long ("… by sex, age and place of
# birth"); these fit a rotated heading. Indicators not listed fall back to their label.
SHORT_LABELS = {
    "MST_TEAP_SEX_AGE_CBR_NB": "Labour force by place of birth",
    "MST_TEMP_SEX_OCU_CBR_NB": "Employment by place of birth",
    "MFL_FPOP_SEX_CBR_NB": "Inflows, foreign-born",
    "MFL_NCIT_SEX_CCT_NB": "Inflows, non-citizens",
    "MNA_OPOP_SEX_CDS_NB": "Outflows of nationals",
    "MNA_XRET_SEX_CPR_NB": "Returned nationals",
    "MNA_TNAT_SEX_CRS_NB": "Nationals abroad",
    "EAP_TEAP_SEX_AGE_NB": "Labour force",
    "EMP_TEMP_SEX_AGE_NB": "Employment",
    "UNE_DEAP_SEX_AGE_RT": "Unemployment rate",
    "BX.TRF.PWKR.CD.DT": "Remittances received, US$",
    "BX.TRF.PWKR.DT.GD.ZS": "Remittances received, % GDP",
    "BM.TRF.PWKR.CD.DT": "Remittances paid, US$",
    "SI.RMT.COST.IB.ZS": "Cost of sending remittances",
    "SM.POP.TOTL": "International migrant stock",
    "SM.POP.NETM": "Net migration",
    "SL.TLF.TOTL.IN": "Labour force (WDI)",
    "SP.POP.TOTL": "Population",
    "UNDESA_IMS_MIGRANT_STOCK": "International migrant stock",
    "UNDESA_IMS_MIGRANT_STOCK_PCT_POP": "Migrant stock, % population",
    "UNDESA_IMS_FEMALE_PCT_STOCK": "Female migrants, % stock",
    "UNDESA_IMS_REFUGEES": "Refugees and asylum seekers",
    "UNDESA_IMS_REFUGEES_PCT_STOCK": "Refugees, % stock",
    "UNDESA_IMS_TOTAL_POPULATION": "Population (UN DESA)",
}
# Heat-map sub-headings name each column's source in a few letters.
SOURCE_ABBREVIATIONS = {SOURCE_ILOSTAT: "ILO", SOURCE_WORLDBANK: "WDI"}
# Migration-specific series first, context after: the gaps that matter most lead the map.
TOPIC_ORDER = [
    "migrant_labour_force",
    "migrant_employment",
    "migrant_inflows",
    "nationals_outflows",
    "nationals_returns",
    "nationals_abroad",
    "migrant_stock",
    "net_migration",
    "remittances",
    "remittance_costs",
    "labour_market_context",
    "population",
]


class ReportError(WarehouseError):
    pass


@dataclass
class Provenance:
    """Where a figure's values come from, and whether any of them is demonstration data."""

    sources: list[str] = field(default_factory=list)
    demonstration: bool = False

    def __add__(self, other: Provenance) -> Provenance:
        return Provenance(
            list(dict.fromkeys(self.sources + other.sources)), self.demonstration or other.demonstration
        )


@dataclass
class Figure:
    anchor: str
    title: str
    description: str
    provenance: Provenance
    svg: str | None = None
    note: str = ""


@dataclass
class Section:
    """An optional section: its figures and tables when its table is loaded, else why not."""

    loaded: bool
    table: str | None = None
    message: str = ""
    figures: list[Figure] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    title: str = ""
    columns: list[str] = field(default_factory=list)


@dataclass
class ReportSummary:
    path: Path
    figures: int
    demonstration: bool
    sections_not_loaded: list[str]
    size_bytes: int


def default_output_path() -> Path:
    return settings.data_dir() / "reports" / "regional_report.html"


def write_report(
    warehouse: Warehouse, output: Path, *, generated_at: datetime | None = None
) -> ReportSummary:
    """Write the report to ``output`` (atomically: a reader never sees half a file)."""
    html, context = render_report(warehouse, generated_at=generated_at)
    output = Path(output)
    write_atomically(output, html.encode("utf-8"))
    # The temporary file it was written as is private (0600); the report is for people to read.
    output.chmod(0o644)
    not_loaded = [name for name, section in context["optional_sections"].items() if not section.loaded]
    return ReportSummary(
        path=output,
        figures=len(context["all_figures"]),
        demonstration=context["demonstration"],
        sections_not_loaded=not_loaded,
        size_bytes=len(html.encode("utf-8")),
    )


def render_report(warehouse: Warehouse, *, generated_at: datetime | None = None) -> tuple[str, dict]:
    """The report's HTML and the context it was rendered from."""
    # --- inputs ----------------------------------------------------------------------------
    existing = _existing_tables(warehouse)
    missing = [t for t in REQUIRED_TABLES if t not in existing]
    if len(missing) == len(REQUIRED_TABLES):
        raise ReportError(f"the warehouse {warehouse.where} is missing or empty: run `cmc build` first")
    if missing:
        raise ReportError(
            f"the warehouse {warehouse.where} has no {', '.join(missing)}: run `cmc build` first"
        )
    reader = _Reader(warehouse)
    indicators = warehouse.query(f"SELECT * FROM {INDICATORS}")
    labour = warehouse.query(f"SELECT * FROM {LABOUR_MIGRATION}")
    remittances = warehouse.query(f"SELECT * FROM {REMITTANCES}")
    years = reader.years()

    # --- sections --------------------------------------------------------------------------
    coverage = _coverage(warehouse, indicators)
    indicator_figures = _indicator_figures(reader, labour, years)
    remittance_figures = _remittance_figures(reader, remittances, years)
    regional = _regional_remittances(warehouse, existing)
    corridors = _corridors(warehouse, existing)
    governance = _governance_needs(warehouse, existing)
    stamp = generated_at or datetime.now(UTC)
    permits_released = (
        _public_release(warehouse, WORK_PERMITS, stamp=stamp) if WORK_PERMITS in existing else None
    )
    permits = _work_permits(permits_released)
    mirror = _mirror_flows(warehouse, existing, permits_released, stamp=stamp)
    quality = _source_quality(warehouse, indicators, existing)
    checks = _check_results(warehouse, existing)

    all_figures = indicator_figures + remittance_figures + corridors.figures
    shown = [f.provenance for f in all_figures] + [
        coverage["provenance"],
        regional.provenance,
        governance.provenance,
        permits.provenance,
        mirror.provenance,
    ]
    generated_at = generated_at or datetime.now(UTC)
    context = {
        "title": REPORT_TITLE,
        "generated_at": generated_at,
        "last_loaded_at": quality["last_loaded_at"],
        "backend": "PostgreSQL" if warehouse.backend == "postgres" else "DuckDB",
        "demonstration_label": DEMONSTRATION_LABEL,
        "demonstration": any(p.demonstration for p in shown),
        "years": years,
        "at_a_glance": _at_a_glance(coverage, labour, quality, years),
        "coverage": coverage,
        "indicator_figures": indicator_figures,
        "remittance_figures": remittance_figures,
        "regional": regional,
        "corridors": corridors,
        "governance": governance,
        "permits": permits,
        "mirror": mirror,
        "quality": quality,
        "checks": checks,
        "optional_sections": {
            "migration corridors": corridors,
            "governance needs": governance,
            "work permits": permits,
            "mirror statistics": mirror,
            "quality checks": checks,
        },
        "all_figures": all_figures,
        "licences": indicators[["source", "licence"]]
        .drop_duplicates()
        .sort_values("source")
        .to_dict("records"),
    }
    return _template().render(**context), context


# --- provenance ------------------------------------------------------------------------------


class _Reader:
    """Reads the facts behind mart columns: their sources and demonstration flags."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.columns = {c.column: c for c in indicator_columns()}
        self.labels = dict(
            warehouse.query(f"SELECT indicator_id, label FROM {INDICATORS}").itertuples(index=False)
        )

    def years(self) -> tuple[int, int]:
        bounds = self.warehouse.query(f"SELECT min(year) AS first, max(year) AS last FROM {DATA_COVERAGE}")
        if pd.isna(bounds["last"].iloc[0]):
            raise ReportError(f"{DATA_COVERAGE} is empty: no source has loaded any observation yet")
        return int(bounds["first"].iloc[0]), int(bounds["last"].iloc[0])

    @cached_property
    def country_names(self) -> list[str]:
        """Every CMC country, alphabetically: the order of the small-multiple panels."""
        names = self.warehouse.query(f"SELECT name_en FROM {COUNTRIES}")["name_en"].tolist()
        return sorted(names, key=str.casefold)

    def provenance(self, columns: Sequence[str], table: str) -> Provenance:
        """The sources of the fact rows feeding ``columns`` of a mart, named with the mart."""
        matches = " OR ".join(self.columns[c].match_sql() for c in columns)
        found = self.warehouse.query(
            f"""SELECT f.source, f.indicator_id, bool_or(f.demonstration_data) AS demonstration
                FROM {FACT_TABLE} AS f WHERE f.frequency = 'A' AND ({matches})
                GROUP BY f.source, f.indicator_id ORDER BY f.source, f.indicator_id"""
        )
        sources = [
            f"{row.source}: {self.labels.get(row.indicator_id, row.indicator_id)} ({row.indicator_id})"
            for row in found.itertuples()
        ]
        sources.append(f"CMC regional warehouse, {table}")
        return Provenance(sources, bool(found["demonstration"].fillna(False).astype(bool).any()))


# --- coverage ----------------------------------------------------------------------------------


def _coverage(warehouse: Warehouse, indicators: pd.DataFrame) -> dict:
    """Share of years with a value per country × indicator, as heat-map rows."""
    cells = warehouse.query(
        f"""SELECT country_iso3, country_name, indicator_id, source,
                   sum(CASE WHEN has_value THEN 1 ELSE 0 END) AS years_with_value,
                   count(*) AS years,
                   max(CASE WHEN has_value THEN year END) AS latest_year,
                   bool_or(has_value AND demonstration_data) AS demonstration
            FROM {DATA_COVERAGE}
            GROUP BY country_iso3, country_name, indicator_id, source"""
    )
    cells["years_with_value"] = pd.to_numeric(cells["years_with_value"])
    cells["years"] = pd.to_numeric(cells["years"])
    cells["share"] = cells["years_with_value"] / cells["years"].where(cells["years"] > 0)
    cells["demonstration"] = cells["demonstration"].fillna(False).astype(bool)

    topic_rank = {topic: i for i, topic in enumerate(TOPIC_ORDER)}
    ordered = indicators.assign(
        rank=indicators["topic"].map(topic_rank).fillna(len(TOPIC_ORDER)),
        source_rank=(indicators["source"] != SOURCE_ILOSTAT).astype(int),
    ).sort_values(["rank", "source_rank", "indicator_id"])
    demo_by_indicator = cells.groupby(["indicator_id", "source"])["demonstration"].any()
    columns = [
        {
            "key": (row.indicator_id, row.source),
            "indicator_id": row.indicator_id,
            "source": row.source,
            "source_abbreviation": SOURCE_ABBREVIATIONS.get(row.source, row.source.split()[-1]),
            "label": row.label,
            "short_label": SHORT_LABELS.get(row.indicator_id, row.label.split(" by ")[0]),
            "demonstration": bool(demo_by_indicator.get((row.indicator_id, row.source), False)),
        }
        for row in ordered.itertuples()
    ]
    by_cell = {(r.country_iso3, r.indicator_id, r.source): r for r in cells.itertuples()}
    rows = []
    for (iso3, name), _ in cells.groupby(["country_iso3", "country_name"], sort=False):
        row_cells = []
        for column in columns:
            cell = by_cell.get((iso3, *column["key"]))
            share = 0.0 if cell is None or pd.isna(cell.share) else float(cell.share)
            row_cells.append(
                {
                    "share": share,
                    "level": _coverage_level(share),
                    "years_with_value": 0 if cell is None else int(cell.years_with_value),
                    "years": 0 if cell is None else int(cell.years),
                    "latest_year": None
                    if cell is None or pd.isna(cell.latest_year)
                    else int(cell.latest_year),
                    "label": column["label"],
                }
            )
        with_any = sum(1 for c in row_cells if c["years_with_value"])
        rows.append(
            {
                "iso3": iso3,
                "name": name,
                "cells": row_cells,
                "indicators_with_data": with_any,
                "mean_share": sum(c["share"] for c in row_cells) / len(row_cells) if row_cells else 0.0,
            }
        )
    rows.sort(key=lambda r: (-r["mean_share"], r["name"]))
    pairs = [c for r in rows for c in r["cells"]]
    empty_pairs = sum(1 for c in pairs if not c["years_with_value"])
    sources = sorted(indicators["source"].unique())
    return {
        "columns": columns,
        "rows": rows,
        "countries_without_data": [r["name"] for r in rows if not r["indicators_with_data"]],
        "empty_pairs": empty_pairs,
        "pairs": len(pairs),
        "overall_share": (
            float(cells["years_with_value"].sum() / cells["years"].sum()) if cells["years"].sum() else 0.0
        ),
        "provenance": Provenance(
            [f"{s}, as loaded in core.fact_observation" for s in sources]
            + [f"CMC regional warehouse, {DATA_COVERAGE}"],
            bool(cells["demonstration"].any()),
        ),
    }


def _coverage_level(share: float) -> int:
    """0 = no value at all, then four bands up to 4 = a value every year."""
    if share <= 0:
        return 0
    if share >= 1:
        return 4
    return 1 + min(2, int(share * 3))


# --- indicators over time ----------------------------------------------------------------------


def _long(frame: pd.DataFrame, series: dict[str, pd.Series]) -> pd.DataFrame:
    """Tidy rows (country_name, year, series, value) with the empty values dropped."""
    parts = [
        pd.DataFrame(
            {"country_name": frame["country_name"], "year": frame["year"], "series": key, "value": values}
        )
        for key, values in series.items()
    ]
    tidy = pd.concat(parts, ignore_index=True)
    tidy["value"] = pd.to_numeric(tidy["value"], errors="coerce")
    tidy["year"] = pd.to_numeric(tidy["year"]).astype(int)
    return tidy.dropna(subset=["value"]).sort_values(["country_name", "year"]).reset_index(drop=True)


def _ratio(frame: pd.DataFrame, part: str, whole: str, scale: float) -> pd.Series:
    numerator = pd.to_numeric(frame[part], errors="coerce")
    denominator = pd.to_numeric(frame[whole], errors="coerce")
    return scale * numerator / denominator.where(denominator > 0)


def _small_multiples_figure(
    *,
    anchor: str,
    title: str,
    description: str,
    provenance: Provenance,
    tidy: pd.DataFrame,
    all_countries: Sequence[str],
    series: Sequence[tuple[str, str]],
    years: tuple[int, int],
    scale: charts.Scale,
    shared_y: bool,
    zero_line: bool = False,
) -> Figure:
    figure = Figure(anchor, title, description, provenance)
    with_data = set(tidy["country_name"])
    without = [c for c in all_countries if c not in with_data]
    if tidy.empty:
        figure.note = "No CMC country has a value for this indicator in the warehouse yet."
        return figure
    figure.svg = charts.small_multiples(
        tidy,
        figure_id=anchor,
        years=years,
        series=series,
        scale=scale,
        shared_y=shared_y,
        zero_line=zero_line,
    )
    if without:
        figure.note = f"No value for {len(without)} of {len(all_countries)} countries: {', '.join(without)}."
    return figure


def _indicator_figures(reader: _Reader, labour: pd.DataFrame, years: tuple[int, int]) -> list[Figure]:
    table = LABOUR_MIGRATION
    figure = partial(_small_multiples_figure, all_countries=reader.country_names, years=years)
    one = [("value", "")]
    return [
        figure(
            anchor="foreign-born-share",
            title="Foreign-born share of the labour force (%)",
            description="Workers aged 15+ born abroad as a share of the labour force with a known place of "
            "birth; most values come from population censuses, hence the ten-year steps.",
            provenance=reader.provenance(["labour_force_foreign_born", "labour_force_native_born"], table),
            tidy=_long(labour, {"value": labour["foreign_born_share_of_labour_force_pct"]}),
            series=one,
            scale=charts.PERCENT,
            shared_y=True,
        ),
        figure(
            anchor="unemployment-by-birth",
            title="Unemployment rate of foreign-born and native-born workers (%)",
            description="Derived as (labour force − employment) ÷ labour force for each group, in the years "
            "both are published.",
            provenance=reader.provenance(
                [
                    "labour_force_foreign_born",
                    "employment_foreign_born",
                    "labour_force_native_born",
                    "employment_native_born",
                ],
                table,
            ),
            tidy=_long(
                labour,
                {
                    "foreign": labour["unemployment_rate_foreign_born_pct"],
                    "native": labour["unemployment_rate_native_born_pct"],
                },
            ),
            series=[("foreign", "Foreign-born"), ("native", "Native-born")],
            scale=charts.PERCENT,
            shared_y=True,
        ),
        figure(
            anchor="unemployment-total",
            title="Unemployment rate, all workers aged 15+ (%)",
            description="The labour-market context the migration figures sit in.",
            provenance=reader.provenance(["unemployment_rate_total_pct"], table),
            tidy=_long(labour, {"value": labour["unemployment_rate_total_pct"]}),
            series=one,
            scale=charts.PERCENT,
            shared_y=True,
        ),
        figure(
            anchor="migration-flows",
            title="Migration flows (persons per year)",
            description="Inflows of foreign-born people and of non-citizens, outflows of nationals and "
            "returning nationals, where a country publishes them. Scales differ by country.",
            provenance=reader.provenance(
                ["inflows_foreign_born", "inflows_non_citizens", "outflows_nationals", "returned_nationals"],
                table,
            ),
            tidy=_long(
                labour,
                {
                    "inflows_foreign_born": labour["inflows_foreign_born"],
                    "inflows_non_citizens": labour["inflows_non_citizens"],
                    "outflows_nationals": labour["outflows_nationals"],
                    "returned_nationals": labour["returned_nationals"],
                },
            ),
            series=[
                ("inflows_foreign_born", "Inflows, foreign-born"),
                ("inflows_non_citizens", "Inflows, non-citizens"),
                ("outflows_nationals", "Outflows of nationals"),
                ("returned_nationals", "Returned nationals"),
            ],
            scale=charts.PERSONS,
            shared_y=False,
        ),
        figure(
            anchor="migrant-stock",
            title="International migrants as a share of the population (%)",
            description="International migrant stock as a percentage of the total population, as UN DESA "
            "publishes it, in the years the stock is estimated.",
            provenance=reader.provenance(["migrant_stock_pct_population"], table),
            tidy=_long(labour, {"value": labour["migrant_stock_pct_population"]}),
            series=one,
            scale=charts.PERCENT,
            shared_y=True,
        ),
        figure(
            anchor="nationals-abroad",
            title="Nationals living abroad (persons)",
            description="Nationals of the country counted as residents of other countries.",
            provenance=reader.provenance(["nationals_abroad"], table),
            tidy=_long(labour, {"value": labour["nationals_abroad"]}),
            series=one,
            scale=charts.PERSONS,
            shared_y=False,
        ),
        figure(
            anchor="net-migration",
            title="Net migration per 1,000 population",
            description="Immigrants minus emigrants in the year ÷ population × 1,000; below zero, more "
            "people left than arrived.",
            provenance=reader.provenance(["net_migration", "population"], table),
            tidy=_long(labour, {"value": _ratio(labour, "net_migration", "population", 1000)}),
            series=one,
            scale=charts.PER_THOUSAND,
            shared_y=True,
            zero_line=True,
        ),
    ]


# --- remittances -----------------------------------------------------------------------------


def _remittance_figures(reader: _Reader, remittances: pd.DataFrame, years: tuple[int, int]) -> list[Figure]:
    table = REMITTANCES
    countries = reader.country_names
    share_of_gdp = _long(remittances, {"value": remittances["remittances_received_pct_gdp"]})
    share_provenance = reader.provenance(["remittances_received_pct_gdp"], table)

    latest = Figure(
        "remittances-latest",
        "Remittances received, % of GDP, latest year",
        "Personal remittances received as a share of the economy, in each country's latest year.",
        share_provenance,
    )
    if share_of_gdp.empty:
        latest.note = "No CMC country has a value for this indicator in the warehouse yet."
    else:
        newest = share_of_gdp.sort_values("year").groupby("country_name").tail(1)
        common_year = int(newest["year"].max())
        labels = [
            name if year == common_year else f"{name} ({year})"
            for name, year in zip(newest["country_name"], newest["year"], strict=True)
        ]
        latest.title = f"Remittances received, % of GDP, {common_year}"
        latest.svg = charts.ranked_bars(
            labels,
            newest["value"].tolist(),
            figure_id=latest.anchor,
            scale=charts.PERCENT,
            axis_label="% of GDP",
        )
        older = int((newest["year"] != common_year).sum())
        if older:
            latest.note = f"Where a country's latest value is older than {common_year}, its year is shown."

    over_time = _small_multiples_figure(
        anchor="remittances-over-time",
        title="Remittances received, % of GDP, over time",
        description="The same share, year by year.",
        provenance=share_provenance,
        tidy=share_of_gdp,
        all_countries=countries,
        series=[("value", "")],
        years=years,
        scale=charts.PERCENT,
        shared_y=True,
    )

    cost = Figure(
        "remittance-cost",
        "Cost of sending USD 200 to the country (% of the amount sent)",
        "Average total cost charged by senders, by receiving country. The dashed line is the "
        "Sustainable Development Goal target 10.c of less than 3%.",
        reader.provenance(["remittance_cost_pct"], table),
    )
    cost_points = _long(remittances, {"value": remittances["remittance_cost_pct"]})
    if cost_points.empty:
        cost.note = "No CMC country has a value for this indicator in the warehouse yet."
    else:
        cost.svg = charts.lines_by_country(
            cost_points,
            figure_id=cost.anchor,
            years=(int(cost_points["year"].min()), int(cost_points["year"].max())),
            scale=charts.PERCENT,
            axis_label="% of USD 200",
            reference=(SDG_REMITTANCE_COST_TARGET, "SDG 10.c target: below 3%"),
        )
        measured = sorted(set(cost_points["country_name"]), key=str.casefold)
        cost.note = (
            f"Measured for {len(measured)} of {len(countries)} countries ({', '.join(measured)}): the "
            "World Bank surveys the largest sending corridors only."
        )
    return [latest, over_time, cost]


def _regional_remittances(warehouse: Warehouse, existing: set[str]) -> Section:
    """Latest remittance totals of CARICOM, OECS and CSME where enough members report."""
    if REGIONAL_AGGREGATES not in existing:
        return Section(loaded=False, table=REGIONAL_AGGREGATES, message=_not_loaded([REGIONAL_AGGREGATES]))
    totals = warehouse.query(
        f"""SELECT a.* FROM {REGIONAL_AGGREGATES} AS a
            WHERE a.indicator IN ('remittances_received_usd', 'remittances_paid_usd')
              AND a.year = (SELECT max(b.year) FROM {REGIONAL_AGGREGATES} AS b
                            WHERE b.group_code = a.group_code AND b.indicator = a.indicator)
            ORDER BY a.group_code, a.indicator DESC"""
    )
    rows = [
        {
            "group": row.group_name,
            "indicator": "received" if row.indicator == "remittances_received_usd" else "paid",
            "year": int(row.year),
            "value": float(row.value),
            "reporting": f"{int(row.countries_reporting)} of {int(row.countries_in_group)}",
        }
        for row in totals.itertuples()
    ]
    demonstration = (
        bool(totals["demonstration_data"].fillna(False).astype(bool).any()) if len(totals) else False
    )
    return Section(
        loaded=True,
        table=REGIONAL_AGGREGATES,
        rows=rows,
        provenance=Provenance(
            [
                f"{SOURCE_WORLDBANK}: Personal remittances, received and paid (current US$)",
                f"CMC regional warehouse, {REGIONAL_AGGREGATES}",
            ],
            demonstration,
        ),
    )


# --- tables other parts of the pipeline are adding ---------------------------------------------


def _columns(warehouse: Warehouse, table: str) -> set[str]:
    schema, name = table.split(".")
    found = warehouse.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    )
    return set(found["column_name"])


def _existing_tables(warehouse: Warehouse) -> set[str]:
    """Every table in the warehouse as ``schema.name``, read once: DuckDB opens a connection per query."""
    if warehouse.backend == "duckdb" and not Path(warehouse.url).exists():
        return set()
    found = warehouse.query(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
    )
    return set(found["name"])


def _not_loaded(tables: Sequence[str]) -> str:
    return f"Not yet loaded: the warehouse has no {' or '.join(tables)}."


def _unreadable(table: str, needed: Sequence[str]) -> str:
    return (
        f"{table} is loaded but lacks the columns this report reads ({', '.join(needed)}); "
        "the section stays empty until they agree."
    )


def _corridors(warehouse: Warehouse, existing: set[str]) -> Section:
    """The largest corridors out of and into CMC countries, in the latest year."""
    if MIGRATION_CORRIDORS not in existing:
        return Section(loaded=False, message=_not_loaded([MIGRATION_CORRIDORS]))
    latest = f"(SELECT max(year) FROM {MIGRATION_CORRIDORS})"
    figures, provenance = [], Provenance()
    for anchor, title, cmc_end in (
        ("corridors-emigration", "Where nationals of CMC countries live: largest corridors", "origin"),
        (
            "corridors-immigration",
            "Where migrants in CMC countries come from: largest corridors",
            "destination",
        ),
    ):
        top = warehouse.query(
            f"""SELECT origin_name AS origin, destination_name AS destination, year, stock,
                       source, demonstration_data AS demonstration
                FROM {MIGRATION_CORRIDORS}
                WHERE year = {latest} AND sex = 'SEX_T' AND {cmc_end}_is_cmc AND stock > 0
                ORDER BY stock DESC LIMIT {TOP_CORRIDORS}"""
        )
        figure_provenance = Provenance(
            [*sorted(set(top["source"].dropna())), f"CMC regional warehouse, {MIGRATION_CORRIDORS}"],
            bool(top["demonstration"].fillna(False).astype(bool).any()),
        )
        figure = Figure(anchor, title, "", figure_provenance)
        if top.empty:
            figure.note = f"{MIGRATION_CORRIDORS} has no corridor touching a CMC country."
        else:
            figure.title = f"{title}, {int(top['year'].iloc[0])}"
            figure.svg = charts.ranked_bars(
                [f"{o} → {d}" for o, d in zip(top["origin"], top["destination"], strict=True)],
                pd.to_numeric(top["stock"]).tolist(),
                figure_id=anchor,
                scale=charts.PERSONS,
                axis_label="migrants (persons)",
            )
        figures.append(figure)
        provenance = provenance + figure_provenance
    return Section(loaded=True, table=MIGRATION_CORRIDORS, figures=figures, provenance=provenance)


def _governance_needs(warehouse: Warehouse, existing: set[str]) -> Section:
    """The needs shared by most countries (the mart's regional ranking), with how many
    countries rate them high priority."""
    if GOVERNANCE_NEEDS not in existing:
        return Section(loaded=False, message=_not_loaded([GOVERNANCE_NEEDS]))
    shared = warehouse.query(
        f"""SELECT assessment, mgf_domain AS domain, topic, min(regional_rank) AS regional_rank,
                   string_agg(country_name, ', ' ORDER BY country_name) AS countries,
                   count(*) FILTER (WHERE highest_priority = 'high') AS high_priority,
                   min(needs) AS example_need,
                   bool_or(demonstration_data) AS demonstration
            FROM {GOVERNANCE_NEEDS}
            GROUP BY assessment, mgf_domain, topic
            ORDER BY regional_rank, topic
            LIMIT {TOP_NEEDS}"""
    )
    rows = [
        {
            "domain": r.domain,
            "topic": r.topic,
            "countries": r.countries.split(", "),
            "high_priority": int(r.high_priority),
            "example_need": str(r.example_need).split(" | ")[0],
            "demonstration": bool(r.demonstration),
        }
        for r in shared.itertuples()
    ]
    assessments = sorted(set(shared["assessment"].dropna().astype(str)))
    return Section(
        loaded=True,
        table=GOVERNANCE_NEEDS,
        rows=rows,
        message="" if rows else f"{GOVERNANCE_NEEDS} holds no needs yet.",
        provenance=Provenance(
            [*(f"Assessment {a}" for a in assessments), f"CMC regional warehouse, {GOVERNANCE_NEEDS}"],
            any(r["demonstration"] for r in rows),
        ),
    )


# --- national figures: work permits ---------------------------------------------------------

WORK_PERMITS = "marts.work_permits"
SEASONAL_WORKERS = "marts.seasonal_workers"
CSME_CERTIFICATES = "marts.csme_skills_certificates"
PERMIT_BREAKDOWNS = ("nationality_iso3", "occupation", "permit_type")


def _public_release(warehouse: Warehouse, table: str, *, stamp: datetime) -> pd.DataFrame:
    """A mart as its public release shows it: the rows the public may see, small counts
    suppressed with their CONF_STATUS. The report is a release like an export: it is
    protected against, and recorded with, the earlier public releases (``lib/disclosure.py``)."""
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.exports import default_ledger, release_for_audience
    from cmc_pipeline.lib.sharing import sharing_settings

    contract = contract_for(table)
    frame = warehouse.query(f"SELECT * FROM {table}")[contract.column_names]
    ledger = default_ledger(warehouse)
    released, _, _, releases = release_for_audience(
        frame, contract, audience="public", settings=sharing_settings(), ledger=ledger
    )
    for column, release in releases.items():
        ledger.record("public", table, column, release, stamp.isoformat())
    return released


def _work_permits(released: pd.DataFrame | None) -> Section:
    """Work permits granted in the latest year, per reporting country and for the region,
    both sexes, by nationality, occupation and permit type: cells of the mart exactly as
    its public release shows them (``released``), small counts suppressed with their
    CONF_STATUS."""
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.disclosure import FREE
    from cmc_pipeline.lib.labels import column_labels

    if released is None:
        return Section(loaded=False, message=_not_loaded([WORK_PERMITS]))
    contract = contract_for(WORK_PERMITS)
    annual = released[(released["frequency"] == "A") & (released["sex"] == "SEX_T")]
    if annual.empty:
        return Section(loaded=True, table=WORK_PERMITS, message=f"{WORK_PERMITS} has no annual figures yet.")
    year = annual["period"].astype(str).max()
    latest = annual[annual["period"].astype(str) == year]
    areas = sorted(set(latest["area_code"]) - {"CMC"}) + (
        ["CMC"] if "CMC" in set(latest["area_code"]) else []
    )
    names = dict(zip(latest["area_code"], latest["area_name"], strict=False))
    labels = column_labels(contract)
    rows = []
    for key, group in latest.groupby(list(PERMIT_BREAKDOWNS), sort=True):
        by_area = group.set_index("area_code")
        cells = []
        for area in areas:
            if area not in by_area.index:
                cells.append({"value": None, "code": ""})
                continue
            status = by_area.loc[area, "permits_granted_conf_status"]
            value = by_area.loc[area, "permits_granted"]
            cells.append(
                {"value": None if status != FREE else int(value), "code": "" if status == FREE else status}
            )
        rows.append(
            {
                "breakdown": {
                    column: labels.get(column, {}).get(code, code)
                    for column, code in zip(PERMIT_BREAKDOWNS, key, strict=True)
                },
                "cells": cells,
            }
        )
    return Section(
        loaded=True,
        table=WORK_PERMITS,
        rows=rows,
        title=f"Work permits granted, {year}, both sexes",
        columns=[f"{names.get(a, a)} ({a})" if a != "CMC" else "CMC countries reporting" for a in areas],
        provenance=Provenance(
            [
                f"National authorities of {', '.join(names.get(a, a) for a in areas if a != 'CMC')}",
                f"CMC regional warehouse, {WORK_PERMITS}",
            ],
            bool(latest["demonstration_data"].any()),
        ),
    )


def _mirror_flows(
    warehouse: Warehouse, existing: set[str], permits: pd.DataFrame | None, *, stamp: datetime
) -> Section:
    """The flows two member states both report, side by side (``lib/mirror.py``), each
    figure only where the public releases of the tables it adds up show every part."""
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.labels import column_labels
    from cmc_pipeline.lib.mirror import CSME, MIRROR_FLOWS, released_rows, tolerance_pct

    needed = [MIRROR_FLOWS, WORK_PERMITS, SEASONAL_WORKERS, CSME_CERTIFICATES]
    missing = [t for t in needed if t not in existing]
    if missing or permits is None:
        return Section(loaded=False, message=_not_loaded(missing))
    frame = warehouse.query(
        f"SELECT * FROM {MIRROR_FLOWS} ORDER BY flow DESC, year, origin_iso3, destination_iso3, breakdown"
    )
    if frame.empty:
        return Section(
            loaded=True,
            table=MIRROR_FLOWS,
            message="No flow is reported from both ends yet: a mirror needs the sending and the "
            "receiving country's uploads for the same year.",
        )
    rows = released_rows(
        frame,
        permits=permits,
        seasonal=_public_release(warehouse, SEASONAL_WORKERS, stamp=stamp),
        certificates=_public_release(warehouse, CSME_CERTIFICATES, stamp=stamp),
    )
    categories = column_labels(contract_for(CSME_CERTIFICATES)).get("skill_category", {})
    for row in rows:
        row["flow_label"] = (
            "CSME skills certificates: issued by the home country / verified on arrival"
            if row["flow"] == CSME
            else "Seasonal workers: departed (sending country) / work permits granted (receiving country)"
        )
        row["breakdown_label"] = (
            "all" if row["breakdown"] == "_T" else categories.get(row["breakdown"], row["breakdown"])
        )
    names = dict(warehouse.query(f"SELECT country_iso3, name_en FROM {COUNTRIES}").itertuples(index=False))
    codes = {r["origin"] for r in rows} | {c for r in rows for c in r["destination_countries"]}
    reporters = sorted(names.get(code, code) for code in codes)
    return Section(
        loaded=True,
        table=MIRROR_FLOWS,
        rows=rows,
        title=f"Figures agree when they differ by at most {tolerance_pct():g} % of the larger",
        provenance=Provenance(
            [f"National authorities of {', '.join(reporters)}", f"CMC regional warehouse, {MIRROR_FLOWS}"],
            any(r["demonstration"] for r in rows),
        ),
    )


# --- data quality ------------------------------------------------------------------------------


def _utc(value) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def _source_quality(warehouse: Warehouse, indicators: pd.DataFrame, existing: set[str]) -> dict:
    """Per source, from the latest load: what arrived, for whom, when, and how much of it is
    demonstration data."""
    loaded = warehouse.query(
        f"""SELECT source, count(*) AS observations, count(value) AS with_value,
                   count(DISTINCT country_iso3) AS countries, count(DISTINCT indicator_id) AS indicators,
                   min(period) AS first_period, max(period) AS last_period,
                   count(DISTINCT raw_sha256) AS raw_files, max(loaded_at) AS last_loaded_at,
                   sum(CASE WHEN demonstration_data THEN 1 ELSE 0 END) AS demonstration_rows
            FROM {FACT_TABLE} GROUP BY source ORDER BY source"""
    )
    by_source = warehouse.query(f"SELECT DISTINCT source, country_iso3 FROM {FACT_TABLE}")
    countries = warehouse.query(f"SELECT country_iso3, name_en FROM {COUNTRIES} ORDER BY name_en")
    catalogue = indicators.groupby("source")["indicator_id"].nunique()
    rows = []
    for source in sorted(set(catalogue.index) | set(loaded["source"])):
        found = loaded[loaded["source"] == source]
        covered = set(by_source.loc[by_source["source"] == source, "country_iso3"])
        row = {
            "source": source,
            "catalogue_indicators": int(catalogue.get(source, 0)),
            "indicators": 0,
            "observations": 0,
            "with_value": 0,
            "countries": len(covered),
            "missing_countries": [n for i, n in countries.itertuples(index=False) if i not in covered],
            "periods": "",
            "raw_files": 0,
            "last_loaded_at": None,
            "demonstration_share": 0.0,
            "staging_table": STAGING_TABLES.get(source),
            "staging_rows": None,
        }
        if len(found):
            first = found.iloc[0]
            row.update(
                indicators=int(first["indicators"]),
                observations=int(first["observations"]),
                with_value=int(first["with_value"]),
                periods=f"{first['first_period']}–{first['last_period']}",
                raw_files=int(first["raw_files"]),
                last_loaded_at=_utc(first["last_loaded_at"]),
                demonstration_share=float(first["demonstration_rows"]) / int(first["observations"]),
            )
        if row["staging_table"] in existing:
            staged = warehouse.query(f"SELECT count(*) AS n FROM {row['staging_table']}")
            row["staging_rows"] = int(staged["n"].iloc[0])
        rows.append(row)
    stamps = [r["last_loaded_at"] for r in rows if r["last_loaded_at"]]
    return {"rows": rows, "countries_total": len(countries), "last_loaded_at": max(stamps, default=None)}


def _check_results(warehouse: Warehouse, existing: set[str]) -> Section:
    """Pass and fail counts of the latest quality checks, per table."""
    if QUALITY_RESULTS not in existing:
        return Section(loaded=False, message=_not_loaded([QUALITY_RESULTS]))
    columns = _columns(warehouse, QUALITY_RESULTS)
    if not {"table_name", "passed"} <= columns:
        return Section(
            loaded=False,
            table=QUALITY_RESULTS,
            message=_unreadable(QUALITY_RESULTS, ["table_name", "passed"]),
        )
    blocking = (
        "sum(CASE WHEN NOT passed AND lower(severity) = 'error' THEN 1 ELSE 0 END)"
        if "severity" in columns
        else "NULL"
    )
    counts = warehouse.query(
        f"""SELECT table_name, count(*) AS checks,
                   sum(CASE WHEN passed THEN 1 ELSE 0 END) AS passed,
                   sum(CASE WHEN passed THEN 0 ELSE 1 END) AS failed,
                   {blocking} AS blocking
            FROM {QUALITY_RESULTS} GROUP BY table_name ORDER BY table_name"""
    )
    # Which rule failed for which countries: every country's result, not the batch's.
    failing: dict[str, list[str]] = {}
    if {"rule_id", "country_iso3"} <= columns:
        found = warehouse.query(
            f"""SELECT table_name, rule_id, string_agg(country_iso3, ', ' ORDER BY country_iso3) AS countries
                FROM {QUALITY_RESULTS} WHERE NOT passed GROUP BY table_name, rule_id
                ORDER BY table_name, rule_id"""
        )
        for row in found.itertuples():
            failing.setdefault(row.table_name, []).append(f"{row.rule_id}: {row.countries}")
    rows = [
        {
            "table": row.table_name,
            "checks": int(row.checks),
            "passed": int(row.passed),
            "failed": int(row.failed),
            "blocking": None if pd.isna(row.blocking) else int(row.blocking),
            "failing": failing.get(row.table_name, []),
        }
        for row in counts.itertuples()
    ]
    return Section(
        loaded=True,
        table=QUALITY_RESULTS,
        rows=rows,
        message="" if rows else f"{QUALITY_RESULTS} holds no results yet.",
    )


# --- summary and template --------------------------------------------------------------------


def _at_a_glance(coverage: dict, labour: pd.DataFrame, quality: dict, years: tuple[int, int]) -> list[str]:
    total = quality["countries_total"]
    with_data = total - len(coverage["countries_without_data"])
    place_of_birth = labour.loc[labour["labour_force_foreign_born"].notna(), "country_iso3"].nunique()
    facts = [
        f"{with_data} of {total} CMC countries have at least one value from "
        f"{' or '.join(r['source'] for r in quality['rows'])}.",
        f"{coverage['overall_share']:.0%} of country × indicator × year combinations from {years[0]} to "
        f"{years[1]} have a value; "
        f"{coverage['empty_pairs']} of {coverage['pairs']} country × indicator pairs have none at all.",
        f"{place_of_birth} of {total} countries publish their labour force by place of birth, the basis "
        "of most labour-migration indicators.",
    ]
    if coverage["countries_without_data"]:
        facts.append(f"No data at all yet for: {', '.join(coverage['countries_without_data'])}.")
    return facts


def _template():
    from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined

    cache = settings.cache_dir() / "report_template"
    cache.mkdir(parents=True, exist_ok=True)
    environment = Environment(
        loader=PackageLoader("cmc_pipeline", "templates"),
        # The template compiled to Python once, not at every build (Jinja keys what it
        # keeps by the template's name and a checksum of its text).
        bytecode_cache=FileSystemBytecodeCache(str(cache)),
        # Country names, needs and source names come from data and uploads: always escape.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["thousands"] = lambda v: "" if v is None else f"{v:,.0f}"
    environment.filters["usd"] = _usd
    environment.filters["utc"] = lambda v: "" if v is None else v.strftime("%d %B %Y, %H:%M UTC")
    environment.filters["utc_short"] = lambda v: v.strftime("%d %b %Y %H:%M UTC")
    environment.filters["pct"] = lambda v, digits=0: f"{v * 100:.{digits}f}%"
    return environment.get_template("regional_report.html.j2")


def _usd(value: float) -> str:
    if abs(value) >= 1e9:
        return f"US$ {value / 1e9:,.2f} bn"
    return f"US$ {value / 1e6:,.0f} m"
