"""Published marts: what BI tools, R, Excel and the regional report read.

Each mart is rebuilt whole, inside the warehouse, from core tables, by SQL that both DuckDB
and PostgreSQL accept. Their names and columns are a public interface (see their data
contracts): change them only with a contract version bump and a changelog note.

Which fact rows feed which column is data (``reference/mart_indicator_columns.yaml``);
which groups get regional aggregates, and how many members must report, likewise
(``reference/regional_groups.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import COUNTRY_FLAG_COLUMNS
from cmc_pipeline.lib.reference import countries as countries_reference
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import REFERENCE_DIR
from cmc_pipeline.steps.facts import NOT_APPLICABLE
from cmc_pipeline.steps.load_report import LoadReport

LABOUR_MIGRATION = "marts.labour_migration_indicators"
DATA_COVERAGE = "marts.data_coverage"
REMITTANCES = "marts.remittances"
REGIONAL_AGGREGATES = "marts.regional_aggregates"
MIGRATION_CORRIDORS = "marts.migration_corridors"
GOVERNANCE_NEEDS = "marts.governance_needs"
DISPLACEMENT = "marts.displacement"
# A need is a regional priority when at least this many countries report it.
SHARED_NEED_MIN_COUNTRIES = 3


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_CODE = re.compile(r"[A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class IndicatorColumn:
    column: str
    indicator_id: str
    unit: str
    sex: str = "SEX_T"
    age: str = NOT_APPLICABLE
    breakdown_1: str = NOT_APPLICABLE
    breakdown_2: str = NOT_APPLICABLE
    additive: bool = False

    def __post_init__(self):
        # These values are written into SQL; the spec is reviewed data, but refuse anything
        # that is not a plain code or identifier so a typo cannot become broken SQL.
        if not _IDENTIFIER.fullmatch(self.column):
            raise ValueError(f"mart column {self.column!r} is not a lower-case identifier")
        for code in (self.indicator_id, self.sex, self.age, self.breakdown_1, self.breakdown_2, self.unit):
            if not _CODE.fullmatch(code):
                raise ValueError(f"mart column {self.column}: {code!r} is not a plain code")

    def match_sql(self) -> str:
        """The condition selecting this column's fact rows (values are catalogue codes)."""
        return (
            f"(f.indicator_id = '{self.indicator_id}' AND f.sex = '{self.sex}' AND f.age = '{self.age}' "
            f"AND f.breakdown_1 = '{self.breakdown_1}' AND f.breakdown_2 = '{self.breakdown_2}')"
        )


@cache
def indicator_columns() -> tuple[IndicatorColumn, ...]:
    columns = read_yaml(REFERENCE_DIR / "mart_indicator_columns.yaml")["columns"]
    return tuple(IndicatorColumn(**entry) for entry in columns)


@cache
def regional_groups() -> dict:
    return read_yaml(REFERENCE_DIR / "regional_groups.yaml")


def _pivot_sql(columns: tuple[IndicatorColumn, ...]) -> str:
    """One row per country × year with each column's value (in units), source and status."""
    selects = []
    for c in columns:
        selects += [
            f"max(CASE WHEN {c.match_sql()} THEN f.value * power(10, f.unit_multiplier) END) AS {c.column}",
            f"max(CASE WHEN {c.match_sql()} THEN f.source END) AS {c.column}_source",
            f"max(CASE WHEN {c.match_sql()} THEN f.obs_status END) AS {c.column}_status",
        ]
    # Demonstration values must mark the row only when a published column used them.
    any_match = " OR ".join(c.match_sql() for c in columns)
    return f"""
        SELECT f.country_iso3, d.name_en AS country_name, CAST(f.period AS INTEGER) AS year,
               {", ".join(selects)},
               bool_or(f.demonstration_data) AS demonstration_data
        FROM core.fact_observation AS f
        JOIN core.dim_country AS d ON d.country_iso3 = f.country_iso3
        WHERE f.frequency = 'A' AND ({any_match})
        GROUP BY f.country_iso3, d.name_en, CAST(f.period AS INTEGER)
    """


def _share(part: str, whole: str) -> str:
    return f"CASE WHEN ({whole}) > 0 THEN 100.0 * ({part}) / ({whole}) END"


def build_labour_migration_indicators(warehouse: Warehouse) -> LoadReport:
    """marts.labour_migration_indicators: the core indicators side by side, with shares
    and unemployment rates of foreign- and native-born workers derived where the labour
    force and employment of the same group and year are both published."""
    sql = f"""
        SELECT p.*,
            {_share("labour_force_foreign_born", "labour_force_foreign_born + labour_force_native_born")}
                AS foreign_born_share_of_labour_force_pct,
            CASE WHEN employment_foreign_born <= labour_force_foreign_born THEN
                {_share("labour_force_foreign_born - employment_foreign_born", "labour_force_foreign_born")}
            END AS unemployment_rate_foreign_born_pct,
            CASE WHEN employment_native_born <= labour_force_native_born THEN
                {_share("labour_force_native_born - employment_native_born", "labour_force_native_born")}
            END AS unemployment_rate_native_born_pct
        FROM ({_pivot_sql(indicator_columns())}) AS p
    """
    return rebuild_mart(warehouse, LABOUR_MIGRATION, sql, by="country_iso3")


def build_remittances(warehouse: Warehouse) -> LoadReport:
    """marts.remittances: received and paid, net, per head, share of GDP and cost."""
    remittance_columns = tuple(
        c
        for c in indicator_columns()
        if c.column.startswith("remittance") or c.column in ("population", "migrant_stock")
    )
    sql = f"""
        SELECT p.*,
            remittances_received_usd - remittances_paid_usd AS net_remittances_usd,
            CASE WHEN population > 0 THEN remittances_received_usd / population END
                AS remittances_received_usd_per_person
        FROM ({_pivot_sql(remittance_columns)}) AS p
        WHERE remittances_received_usd IS NOT NULL OR remittances_received_pct_gdp IS NOT NULL
           OR remittances_paid_usd IS NOT NULL OR remittance_cost_pct IS NOT NULL
    """
    return rebuild_mart(warehouse, REMITTANCES, sql, by="country_iso3")


def build_data_coverage(warehouse: Warehouse) -> LoadReport:
    """marts.data_coverage: every country × indicator × year, whether a value exists, from
    which source and how recent: the map of where the region's data is missing."""
    sql = """
        WITH bounds AS (
            SELECT 2000 AS first_year, max(CAST(period AS INTEGER)) AS last_year
            FROM core.fact_observation WHERE frequency = 'A'
        ),
        years AS (
            SELECT g.year FROM bounds, generate_series(bounds.first_year, bounds.last_year) AS g(year)
        ),
        observed AS (
            SELECT country_iso3, indicator_id, source, CAST(period AS INTEGER) AS year,
                   count(*) AS observations,
                   count(value) AS values_present,
                   max(loaded_at) AS latest_loaded_at,
                   bool_or(demonstration_data) AS demonstration_data
            FROM core.fact_observation WHERE frequency = 'A'
            GROUP BY 1, 2, 3, 4
        )
        SELECT c.country_iso3, c.name_en AS country_name, i.indicator_id, i.source, i.topic, y.year,
               coalesce(o.values_present, 0) > 0 AS has_value,
               coalesce(o.observations, 0) AS observations,
               o.latest_loaded_at,
               coalesce(o.demonstration_data, FALSE) AS demonstration_data
        FROM core.dim_country AS c
        CROSS JOIN core.dim_indicator AS i
        CROSS JOIN years AS y
        LEFT JOIN observed AS o
          ON o.country_iso3 = c.country_iso3 AND o.indicator_id = i.indicator_id
         AND o.source = i.source AND o.year = y.year
    """
    return rebuild_mart(warehouse, DATA_COVERAGE, sql, by="country_iso3")


def build_regional_aggregates(warehouse: Warehouse) -> LoadReport:
    """marts.regional_aggregates: sums of additive indicators over CARICOM, OECS and CSME
    members, published only where enough members report, with the count behind each."""
    config = regional_groups()
    unions = []
    for group in config["groups"]:
        if group["member_flag"] not in COUNTRY_FLAG_COLUMNS:
            raise ValueError(
                f"regional group {group['group_code']}: unknown member_flag {group['member_flag']!r}"
            )
        members = f"(SELECT count(*) FROM core.dim_country WHERE {group['member_flag']})"
        for c in indicator_columns():
            if not c.additive:
                continue
            unions.append(
                f"""
                SELECT '{group["group_code"]}' AS group_code, '{group["name"]}' AS group_name,
                       '{c.column}' AS indicator, m.year, '{c.unit}' AS unit,
                       sum(m.{c.column}) AS value,
                       count(m.{c.column}) AS countries_reporting,
                       {members} AS countries_in_group,
                       string_agg(CASE WHEN m.{c.column} IS NOT NULL THEN m.country_iso3 END, ' '
                                  ORDER BY m.country_iso3) AS countries,
                       bool_or(CASE WHEN m.{c.column} IS NOT NULL THEN m.demonstration_data END)
                           AS demonstration_data
                FROM {LABOUR_MIGRATION} AS m
                JOIN core.dim_country AS d ON d.country_iso3 = m.country_iso3
                WHERE d.{group["member_flag"]}
                GROUP BY m.year"""
            )
    sql = f"""
        SELECT * FROM ({" UNION ALL ".join(unions)}) AS a
        WHERE countries_reporting >= ? * countries_in_group AND countries_reporting > 0
    """
    # Whole: a group's figure sums several countries, so it cannot keep one country's past.
    return rebuild_mart(warehouse, REGIONAL_AGGREGATES, sql, [config["min_reporting_share"]])


def build_migration_corridors(warehouse: Warehouse) -> LoadReport:
    """marts.migration_corridors: migrant stocks between an origin and a destination, at
    least one of them a CMC country, with each corridor's share of the origin's diaspora."""
    sql = """
        SELECT c.origin_iso3, c.origin_name, c.destination_iso3, c.destination_name,
               CAST(c.period AS INTEGER) AS year, c.sex, c.stock,
               o.country_iso3 IS NOT NULL AS origin_is_cmc,
               d.country_iso3 IS NOT NULL AS destination_is_cmc,
               o.country_iso3 IS NOT NULL AND d.country_iso3 IS NOT NULL AS intra_cmc,
               CASE WHEN sum(c.stock) OVER diaspora > 0
                    THEN 100.0 * c.stock / sum(c.stock) OVER diaspora END AS share_of_origin_diaspora_pct,
               c.source, c.demonstration_data
        FROM core.migration_corridor AS c
        LEFT JOIN core.dim_country AS o ON o.country_iso3 = c.origin_iso3
        LEFT JOIN core.dim_country AS d ON d.country_iso3 = c.destination_iso3
        WHERE o.country_iso3 IS NOT NULL OR d.country_iso3 IS NOT NULL
        WINDOW diaspora AS (PARTITION BY c.origin_iso3, c.period, c.sex)
    """
    # Whole: a corridor has two countries and its share depends on the origin's others.
    return rebuild_mart(warehouse, MIGRATION_CORRIDORS, sql)


def build_governance_needs(warehouse: Warehouse) -> LoadReport:
    """marts.governance_needs: each country's needs by Migration Governance Framework domain
    and topic, ranked within the country by priority, with how many countries share the
    same need; a need several countries share is a regional priority, ranked too."""
    priority = "CASE priority WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END"
    sql = f"""
        WITH per_country AS (
            SELECT g.assessment, g.country_iso3, d.name_en AS country_name,
                   g.mgf_domain_number, g.mgf_domain, g.topic,
                   count(*) AS needs_recorded,
                   max({priority}) AS priority_score,
                   string_agg(g.need, ' | ' ORDER BY g.source_row_number) AS needs,
                   bool_or(g.demonstration_data) AS demonstration_data
            FROM core.governance_need AS g
            JOIN core.dim_country AS d ON d.country_iso3 = g.country_iso3
            GROUP BY g.assessment, g.country_iso3, d.name_en, g.mgf_domain_number, g.mgf_domain, g.topic
        ),
        shared AS (
            SELECT assessment, mgf_domain_number, topic,
                   count(DISTINCT country_iso3) AS countries_sharing,
                   string_agg(country_iso3, ' ' ORDER BY country_iso3) AS sharing_countries,
                   sum(priority_score) AS regional_priority_score
            FROM per_country GROUP BY assessment, mgf_domain_number, topic
        )
        SELECT p.assessment, p.country_iso3, p.country_name, p.mgf_domain_number, p.mgf_domain, p.topic,
               p.needs, p.needs_recorded,
               CASE p.priority_score WHEN 3 THEN 'high' WHEN 2 THEN 'medium' WHEN 1 THEN 'low' END
                   AS highest_priority,
               dense_rank() OVER (PARTITION BY p.assessment, p.country_iso3
                                  ORDER BY p.priority_score DESC, p.needs_recorded DESC) AS rank_in_country,
               s.countries_sharing, s.sharing_countries,
               s.countries_sharing >= {SHARED_NEED_MIN_COUNTRIES} AS regional_priority,
               dense_rank() OVER (PARTITION BY p.assessment
                                  ORDER BY s.countries_sharing DESC, s.regional_priority_score DESC,
                                           p.mgf_domain_number, p.topic) AS regional_rank,
               p.demonstration_data
        FROM per_country AS p
        JOIN shared AS s ON s.assessment = p.assessment AND s.mgf_domain_number = p.mgf_domain_number
                        AND s.topic = p.topic
    """
    # Whole: how many countries share a need depends on every country's rows.
    return rebuild_mart(warehouse, GOVERNANCE_NEEDS, sql)


def build_displacement(warehouse: Warehouse) -> LoadReport:
    """marts.displacement: IOM DTM internally displaced persons by country, operation and
    round. DTM's licence forbids redistribution: the table and every row are marked
    restricted, so members can read it in the warehouse but no export ever contains it.

    Without a DTM key nothing is loaded upstream; the mart is then empty and says so."""
    if not warehouse.table_exists("core.displacement"):
        rows = warehouse.replace_slice(
            DISPLACEMENT, pd.DataFrame(columns=contract_for(DISPLACEMENT).column_names), {}
        )
        report = _report(warehouse, DISPLACEMENT, rows)
        report.skipped = {"no DTM figures loaded (DTM_API_KEY unset or snapshot mode)": 0}
        return report
    sql = """
        SELECT d.country_iso3, c.name_en AS country_name, d.operation, d.reporting_date,
               CAST(extract(year FROM d.reporting_date) AS INTEGER) AS year, d.round_number,
               d.displacement_reason, d.idp_origin_admin1_pcode, d.idp_origin_admin1_name,
               d.sex, d.idps, d.source,
               'restricted' AS dissemination_level,
               'IOM DTM: non-commercial use, no redistribution' AS licence
        FROM core.displacement AS d
        JOIN core.dim_country AS c ON c.country_iso3 = d.country_iso3
    """
    return rebuild_mart(warehouse, DISPLACEMENT, sql, by="country_iso3")


def rebuild_mart(
    warehouse: Warehouse, table: str, sql: str, params: list | None = None, *, by: str | None = None
) -> LoadReport:
    """Compute a mart inside the warehouse, then write it through the gate every table
    write goes through: checked against every rule of its contract (keys, required columns,
    code lists, its own invariants), per country or area with ``by``; what breaks an error
    rule keeps its previous rows."""
    from cmc_pipeline.steps.gate import validate_and_replace

    contract = contract_for(table)
    # A mart whose contract changed beyond an added column is recreated, not refused: every
    # row is computed again next.
    warehouse.ensure_tables([contract], rebuilt_whole=True)
    columns = ", ".join(f'"{c}"' for c in contract.column_names)
    frame = warehouse.query(f"SELECT {columns} FROM ({sql}) AS rebuilt", params)
    report = LoadReport(table)
    validate_and_replace(warehouse, table, frame, report, by=by)
    rows = int(warehouse.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])
    return _report(warehouse, table, rows, report)


def _report(warehouse: Warehouse, table: str, rows: int, report: LoadReport | None = None) -> LoadReport:
    report = report or LoadReport(table)
    report.rows_written = rows
    report.preview = warehouse.query(f"SELECT * FROM {table} LIMIT 10")
    if "demonstration_data" in report.preview:
        flagged = warehouse.query(f"SELECT count(*) AS n FROM {table} WHERE demonstration_data")
        report.demonstration = bool(flagged["n"].iloc[0])
    return report


# --- national uploads: one mart per dataset ---------------------------------------------

REGION_CODE = "CMC"
REGION_NAME = "CMC countries reporting"


def build_upload_mart(warehouse: Warehouse, dataset: str) -> LoadReport:
    """marts.<dataset> for a national-upload dataset: each country's current figures as
    reported, and regional (CMC) totals of every annual period and breakdown, summed over
    the countries that reported it.

    A country that keeps the dataset at a stricter level than the mart's
    (``reference/country_sharing.yaml``) is left out of the regional totals, which would
    otherwise publish its figures inside a sum.
    """
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.sharing import LEVELS, sharing_settings
    from cmc_pipeline.lib.uploads.datasets import upload_dataset

    spec = upload_dataset(dataset)
    mart = contract_for(spec.mart_table)
    warehouse.ensure_tables([contract_for(spec.current_table)])
    breakdowns = [k for k in spec.key_columns if k not in ("country_iso3", "period")]
    counts = spec.count_columns
    level = mart.custom_properties.get("dissemination_level", "public")
    settings = sharing_settings()
    withheld = [
        c.iso3
        for c in countries_reference()
        if LEVELS.index(settings.country_level(c.iso3, dataset) or level) > LEVELS.index(level)
    ]
    keep_out = ("AND u.country_iso3 NOT IN (" + ", ".join("?" * len(withheld)) + ")") if withheld else ""
    by = ", ".join(f"u.{b}" for b in breakdowns)
    # No '%' in this SQL: PostgreSQL's driver reads it as a parameter marker.
    sql = f"""
        SELECT u.country_iso3 AS area_code, 'country' AS area_type, d.name_en AS area_name,
               u.country_iso3, u.period, CAST(left(u.period, 4) AS INTEGER) AS year,
               CASE WHEN position('-Q' IN u.period) > 0 THEN 'Q'
                    WHEN position('-M' IN u.period) > 0 THEN 'M' ELSE 'A' END AS frequency,
               {by}, {", ".join(f"u.{c}" for c in counts)},
               1 AS countries_reporting, u.country_iso3 AS countries, u.upload_id AS latest_upload_id,
               u.demonstration_data
        FROM {spec.current_table} AS u
        JOIN core.dim_country AS d ON d.country_iso3 = u.country_iso3
        UNION ALL
        SELECT '{REGION_CODE}', 'region', '{REGION_NAME}', NULL, u.period,
               CAST(u.period AS INTEGER), 'A', {by}, {", ".join(f"sum(u.{c})" for c in counts)},
               count(DISTINCT u.country_iso3),
               string_agg(DISTINCT u.country_iso3, ' ' ORDER BY u.country_iso3),
               max(u.upload_id), bool_or(u.demonstration_data)
        FROM {spec.current_table} AS u
        WHERE length(u.period) = 4 {keep_out}
        GROUP BY u.period, {by}
    """
    # Per area: a country's broken rows keep its previous ones; the regional (CMC) rows are
    # an area of their own, checked against the sum of their members.
    return rebuild_mart(warehouse, spec.mart_table, sql, withheld, by="area_code")


def upload_mart_note(dataset: str) -> str:
    """What a reader of the mart must know about sharing it, from its contract."""
    from cmc_pipeline.lib.contracts import contract_for

    contract = contract_for(f"marts.{dataset}")
    level = contract.custom_properties.get("dissemination_level", "public")
    note = f"Dissemination level: {level}."
    control = contract.custom_properties.get("disclosure_control")
    if control:
        note += f" Exports suppress small counts of {', '.join(control['count_columns'])}."
    return note
