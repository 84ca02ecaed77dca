"""Published marts keep the promises their contracts make to analysts."""

from __future__ import annotations

import pytest


def one(warehouse, sql: str):
    return warehouse.query(sql).iloc[0]


def test_indicator_values_are_in_units_not_thousands(built_warehouse):
    warehouse, _ = built_warehouse
    fact = one(
        warehouse,
        "SELECT value, unit_multiplier FROM core.fact_observation "
        "WHERE country_iso3 = 'BRB' AND period = '2010' "
        "AND indicator_id = 'MST_TEAP_SEX_AGE_CBR_NB' AND sex = 'SEX_T' AND age = 'AGE_YTHADULT_YGE15' "
        "AND breakdown_1 = 'CBR_BIR_FOREIGN'",
    )
    mart = one(
        warehouse,
        "SELECT labour_force_foreign_born, labour_force_foreign_born_source, "
        "foreign_born_share_of_labour_force_pct, labour_force_native_born "
        "FROM marts.labour_migration_indicators WHERE country_iso3 = 'BRB' AND year = 2010",
    )
    assert mart.labour_force_foreign_born == pytest.approx(fact.value * 10**fact.unit_multiplier)
    assert mart.labour_force_foreign_born_source == "ILOSTAT"
    expected_share = (
        100
        * mart.labour_force_foreign_born
        / (mart.labour_force_foreign_born + mart.labour_force_native_born)
    )
    assert mart.foreign_born_share_of_labour_force_pct == pytest.approx(expected_share)


def test_one_row_per_country_and_year(built_warehouse):
    warehouse, _ = built_warehouse
    duplicates = warehouse.query(
        "SELECT country_iso3, year FROM marts.labour_migration_indicators GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert duplicates.empty


def test_regional_aggregates_only_where_enough_members_report(built_warehouse):
    warehouse, _ = built_warehouse
    rows = warehouse.query("SELECT * FROM marts.regional_aggregates")
    assert len(rows) > 0
    assert (rows["countries_reporting"] >= 0.6 * rows["countries_in_group"]).all()
    assert (rows["countries"].str.split().str.len() == rows["countries_reporting"]).all()
    population = one(
        warehouse,
        "SELECT value, countries FROM marts.regional_aggregates WHERE group_code = 'OECS' "
        "AND indicator = 'population' AND year = 2020",
    )
    members = "', '".join(population.countries.split())
    summed = one(
        warehouse,
        f"SELECT sum(population) AS s FROM marts.labour_migration_indicators WHERE year = 2020 "
        f"AND country_iso3 IN ('{members}')",
    )
    assert population.value == pytest.approx(summed.s)


def test_coverage_has_a_cell_for_every_country_indicator_and_year(built_warehouse):
    warehouse, _ = built_warehouse
    grid = one(
        warehouse,
        "SELECT count(*) AS cells, count(DISTINCT country_iso3) AS countries, "
        "count(DISTINCT indicator_id || source) AS indicators, count(DISTINCT year) AS years "
        "FROM marts.data_coverage",
    )
    assert grid.cells == grid.countries * grid.indicators * grid.years and grid.countries == 25
    montserrat = one(
        warehouse,
        "SELECT bool_or(has_value) AS any_value FROM marts.data_coverage "
        "WHERE country_iso3 = 'MSR' AND source = 'World Bank WDI'",
    )
    assert not montserrat.any_value  # not a World Bank economy: the gap shows


def test_shared_governance_needs_are_regional_priorities(built_warehouse):
    warehouse, _ = built_warehouse
    needs = warehouse.query("SELECT * FROM marts.governance_needs")
    assert (needs["regional_priority"] == (needs["countries_sharing"] >= 3)).all()
    top = needs[needs["regional_rank"] == 1]
    assert top["countries_sharing"].iloc[0] == needs["countries_sharing"].max()
    assert (needs.groupby(["country_iso3"])["rank_in_country"].min() == 1).all()


def test_corridors_touch_the_region_and_shares_add_up(built_warehouse):
    warehouse, _ = built_warehouse
    corridors = warehouse.query("SELECT * FROM marts.migration_corridors")
    assert (corridors["origin_is_cmc"] | corridors["destination_is_cmc"]).all()
    shares = corridors.groupby(["origin_iso3", "year", "sex"])["share_of_origin_diaspora_pct"].sum()
    assert shares.dropna().between(99.999, 100.001).all()
