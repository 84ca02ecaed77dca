"""`cmc build` from the bundled files: migration stocks, incidents and governance needs
arrive in core next to the open-data sources, and a second build changes nothing."""

from __future__ import annotations

from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL


def test_every_source_owns_its_slice_of_the_fact_table(built_warehouse):
    warehouse, _ = built_warehouse
    sources = warehouse.query(
        "SELECT source, bool_and(demonstration_data) AS demo, count(*) AS n FROM core.fact_observation "
        "GROUP BY 1 ORDER BY 1"
    )
    assert sources["source"].tolist() == ["ILOSTAT", "IOM Missing Migrants", "UN DESA IMS", "World Bank WDI"]
    assert not sources.set_index("source").loc["IOM Missing Migrants", "demo"]  # IOM's real answers
    # UN DESA: the stocks by destination come from the real workbooks; only the corridors
    # by origin (no real destination × origin workbook offline) are demonstration data.
    undesa = warehouse.query(
        "SELECT indicator_id, bool_and(demonstration_data) AS demo, bool_or(demonstration_data) AS any_demo "
        "FROM core.fact_observation WHERE source = 'UN DESA IMS' GROUP BY 1"
    ).set_index("indicator_id")
    by_origin = ["UNDESA_IMS_IMMIGRANT_STOCK", "UNDESA_IMS_EMIGRANT_STOCK"]
    assert undesa.loc[by_origin, "demo"].all()
    assert not undesa.drop(index=by_origin)["any_demo"].any()


def test_stocks_are_kept_in_both_directions_and_agree(built_warehouse):
    warehouse, _ = built_warehouse
    both_ends = warehouse.query(
        """
        SELECT c.origin_iso3, c.destination_iso3, c.stock,
               emigrants.value AS seen_from_origin, immigrants.value AS seen_from_destination
        FROM core.migration_corridor c
        JOIN core.fact_observation emigrants
          ON emigrants.country_iso3 = c.origin_iso3 AND emigrants.period = c.period
         AND emigrants.sex = c.sex AND emigrants.indicator_id = 'UNDESA_IMS_EMIGRANT_STOCK'
         AND emigrants.breakdown_1 = 'CRS_RES_' || c.destination_iso3
        JOIN core.fact_observation immigrants
          ON immigrants.country_iso3 = c.destination_iso3 AND immigrants.period = c.period
         AND immigrants.sex = c.sex AND immigrants.indicator_id = 'UNDESA_IMS_IMMIGRANT_STOCK'
         AND immigrants.breakdown_1 = 'CBR_BRT_' || c.origin_iso3
        WHERE c.period = '2020' AND c.sex = 'SEX_T'
        """
    )
    assert len(both_ends) > 50  # corridors between two CMC countries
    assert (both_ends["stock"] == both_ends["seen_from_origin"]).all()
    assert (both_ends["stock"] == both_ends["seen_from_destination"]).all()

    jamaica = warehouse.query(
        "SELECT breakdown_1 FROM core.fact_observation WHERE country_iso3 = 'JAM' AND source = 'UN DESA IMS' "
        "AND period = '2024' AND sex = 'SEX_F'"
    )["breakdown_1"].tolist()
    assert {"CBR_BIR_FOREIGN", "CRS_RES_TOTAL", "CRS_RES_USA", "CRS_RES_GBR"} <= set(jamaica)


def test_regions_and_groups_never_become_countries(built_warehouse):
    warehouse, _ = built_warehouse
    codes = warehouse.query(
        "SELECT DISTINCT breakdown_1 FROM core.fact_observation WHERE source = 'UN DESA IMS'"
    )["breakdown_1"]
    assert codes.str.fullmatch(r"CBR_BRT_[A-Z]{3}|CBR_BIR_FOREIGN|CRS_RES_[A-Z]{3}|CRS_RES_TOTAL|_Z").all()
    corridor_ends = warehouse.query(
        "SELECT origin_iso3 AS iso3 FROM core.migration_corridor "
        "UNION SELECT destination_iso3 FROM core.migration_corridor"
    )["iso3"]
    assert corridor_ends.str.fullmatch(r"[A-Z]{3}").all()
    assert "USA" in set(corridor_ends)


def test_incident_counts_add_up_to_the_incidents(built_warehouse):
    warehouse, _ = built_warehouse
    totals = warehouse.query(
        """
        SELECT i.country_iso3, sum(i.dead_and_missing) AS from_incidents,
               -- records sharing a web_id are one incident (counted once per year, cause and route)
               count(DISTINCT i.incident_id || i.period || i.cause_code || i.route_code) AS incidents,
               (SELECT sum(value) FROM core.fact_observation f WHERE f.country_iso3 = i.country_iso3
                AND f.indicator_id = 'MMP_DEAD_MISSING') AS from_facts,
               (SELECT sum(value) FROM core.fact_observation f WHERE f.country_iso3 = i.country_iso3
                AND f.indicator_id = 'MMP_INCIDENTS') AS incident_facts
        FROM core.migrant_incident i WHERE i.country_iso3 IS NOT NULL GROUP BY 1
        """
    )
    assert len(totals) >= 3
    assert (totals["from_incidents"] == totals["from_facts"]).all()
    assert (totals["incidents"] == totals["incident_facts"]).all()
    at_sea = warehouse.query("SELECT count(*) AS n FROM core.migrant_incident WHERE country_iso3 IS NULL")
    assert at_sea["n"].iloc[0] > 0  # kept in the incident table, without country facts


def test_governance_needs_and_indicators_are_described(built_warehouse):
    warehouse, _ = built_warehouse
    needs = warehouse.query(
        "SELECT count(DISTINCT country_iso3) AS countries, bool_and(demonstration_data) AS demo "
        "FROM core.governance_need"
    )
    assert needs.values.tolist() == [[10, True]]
    indicators = warehouse.query(
        "SELECT indicator_id, source, licence FROM core.dim_indicator WHERE source LIKE 'IOM%'"
    )
    assert "DTM_IDP_PRESENT" in set(indicators["indicator_id"])
    assert "no redistribution" in indicators.set_index("indicator_id").loc["DTM_IDP_PRESENT", "licence"]


def test_the_build_says_why_dtm_was_not_loaded(built_warehouse):
    warehouse, outcome = built_warehouse
    assert outcome.success
    assert [s.split(":")[0] for s in outcome.skipped] == ["staging/dtm_displacement"]
    assert "DTM figures are never bundled" in outcome.skipped[0]
    assert not warehouse.table_exists("core.displacement")


def test_building_twice_leaves_identical_row_counts(built_warehouse, data_dir):
    """`cmc build` over a built warehouse (the session's, copied with its raw store and run
    history): every table keeps the same row count, and the summary says what was not
    loaded and which data is demonstration data."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from cmc_pipeline.cli import main

    first_build = Path(built_warehouse[0].url).parents[1]
    shutil.copytree(first_build, data_dir, dirs_exist_ok=True)
    before = table_row_counts(data_dir / "warehouse" / "cmc.duckdb")

    second = CliRunner().invoke(main, ["build"])

    assert second.exit_code == 0, second.output
    assert "Build succeeded" in second.output
    assert table_row_counts(data_dir / "warehouse" / "cmc.duckdb") == before
    after_second = second.output.splitlines()
    counts = [line for line in after_second if " rows" in line or "observations" in line]
    assert any("core.migration_corridor" in line for line in counts)
    assert any("core.fact_observation" in line for line in counts)
    assert any("not loaded: staging/dtm_displacement" in line for line in after_second)
    assert any(DEMONSTRATION_LABEL in line and "UN DESA IMS" in line for line in after_second)


def table_row_counts(path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        tables = connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'core', 'marts', 'uploads', 'quality')"
        ).fetchall()
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for (t,) in tables}
