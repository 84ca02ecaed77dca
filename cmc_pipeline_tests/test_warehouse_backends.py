"""The warehouse behaves the same on DuckDB and PostgreSQL: slices replaced whole or not at
all, writes by column name, and a full build with identical tables."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from cmc_pipeline.lib.warehouse import WarehouseError

TABLE = "core.dim_indicator"


def indicator_rows(**overrides) -> pd.DataFrame:
    row = {
        "indicator_id": "SP.POP.TOTL",
        "source": "World Bank WDI",
        "label": "Population, total",
        "topic": "population",
        "unit": "persons",
        "unit_multiplier": 0,
        "frequency": "A",
        "source_ids": "wdi=SP.POP.TOTL",
        "licence": "CC BY 4.0",
    }
    return pd.DataFrame([{**row, **overrides}])


def test_writes_go_by_column_name_not_position(any_warehouse):
    shuffled = indicator_rows()
    shuffled = shuffled[list(reversed(shuffled.columns))]
    any_warehouse.replace_slice(TABLE, shuffled, {})
    stored = any_warehouse.query(f"SELECT label, unit FROM {TABLE}")
    assert stored.values.tolist() == [["Population, total", "persons"]]


def test_replacing_a_slice_leaves_other_slices_alone(any_warehouse):
    both = pd.concat([indicator_rows(), indicator_rows(indicator_id="SM.POP.TOTL", label="Migrant stock")])
    any_warehouse.replace_slice(TABLE, both, {})
    any_warehouse.replace_slice(
        TABLE, indicator_rows(label="Population (revised)"), {"indicator_id": ["SP.POP.TOTL"]}
    )
    labels = any_warehouse.query(f"SELECT indicator_id, label FROM {TABLE} ORDER BY 1")
    assert labels.values.tolist() == [
        ["SM.POP.TOTL", "Migrant stock"],
        ["SP.POP.TOTL", "Population (revised)"],
    ]


def test_a_failed_write_leaves_the_slice_as_it_was(any_warehouse):
    any_warehouse.replace_slice(TABLE, indicator_rows(), {})
    duplicate_key = pd.concat([indicator_rows(label="new"), indicator_rows(label="new again")])
    with pytest.raises(Exception, match=r"(?i)(duplicate|primary key|unique|constraint)"):
        any_warehouse.replace_slice(TABLE, duplicate_key, {"indicator_id": ["SP.POP.TOTL"]})
    assert any_warehouse.query(f"SELECT label FROM {TABLE}")["label"].tolist() == ["Population, total"]


def test_rows_that_do_not_match_the_contract_are_refused_before_writing(any_warehouse):
    with pytest.raises(
        WarehouseError, match=r"missing columns \['licence'\], unexpected columns \['licence_text'\]"
    ):
        any_warehouse.replace_slice(TABLE, indicator_rows().rename(columns={"licence": "licence_text"}), {})
    assert not any_warehouse.table_exists(TABLE)


@pytest.mark.postgres
def test_a_full_build_on_postgresql_matches_duckdb(built_warehouse, postgres_url, tmp_path, monkeypatch):
    duckdb_warehouse, _ = built_warehouse
    monkeypatch.setenv("CMC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("CMC_WAREHOUSE", postgres_url)
    from cmc_pipeline.cli import prepare_dagster_home
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.orchestration import build_warehouse

    prepare_dagster_home()
    outcome = build_warehouse()
    assert outcome.success, outcome.failures
    postgres_warehouse = Warehouse(os.environ["CMC_WAREHOUSE"])
    tables = duckdb_warehouse.query(
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
        "WHERE table_schema IN ('staging', 'core', 'marts') ORDER BY 1"
    )["t"].tolist()
    for table in tables:
        count = f"SELECT count(*) AS n FROM {table}"
        assert int(postgres_warehouse.query(count)["n"].iloc[0]) == int(
            duckdb_warehouse.query(count)["n"].iloc[0]
        ), table
    checksum = (
        "SELECT sum(remittances_received_pct_gdp) AS s, count(unemployment_rate_foreign_born_pct) AS n "
        "FROM marts.labour_migration_indicators"
    )
    on_postgres = postgres_warehouse.query(checksum).iloc[0]
    on_duckdb = duckdb_warehouse.query(checksum).iloc[0]
    assert on_postgres["s"] == pytest.approx(on_duckdb["s"], rel=1e-12)
    assert on_postgres["n"] == on_duckdb["n"]
