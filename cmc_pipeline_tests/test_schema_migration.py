"""A warehouse built under an older contract meets a newer one: the table is compared with
its contract before anything is written; an added column is migrated, and what cannot be
migrated safely is refused with the table, the column and what to do — on DuckDB and on
PostgreSQL."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from cmc_pipeline.lib import warehouse as warehouse_module
from cmc_pipeline.lib.contracts import Column, contract_for
from cmc_pipeline.lib.warehouse import SchemaMismatchError
from cmc_pipeline_tests.test_warehouse_backends import TABLE, indicator_rows


def newer(table: str, **changes):
    """The table's contract as a later version would have it."""
    return dataclasses.replace(contract_for(table), version="9.0.0", **changes)


@pytest.fixture
def contract_now(monkeypatch):
    """Make the warehouse read ``contract`` for its table, as after a contract change."""

    def use(contract) -> None:
        monkeypatch.setattr(
            warehouse_module, "contract_for", lambda t: contract if t == contract.table else contract_for(t)
        )

    return use


def test_a_column_the_contract_adds_is_migrated_and_old_rows_keep_their_values(any_warehouse, contract_now):
    any_warehouse.replace_slice(TABLE, indicator_rows(), {})
    added = Column(
        name="definition_url", logical_type="string", description="Where the indicator is defined."
    )
    contract_now(newer(TABLE, columns=(*contract_for(TABLE).columns, added)))
    new_row = indicator_rows(indicator_id="SM.POP.TOTL", label="Migrant stock").assign(
        definition_url="https://example.org/SM.POP.TOTL"
    )
    any_warehouse.replace_slice(TABLE, new_row, {"indicator_id": ["SM.POP.TOTL"]})
    stored = any_warehouse.query(f"SELECT indicator_id, label, definition_url FROM {TABLE} ORDER BY 1")
    assert stored["indicator_id"].tolist() == ["SM.POP.TOTL", "SP.POP.TOTL"]
    assert stored["definition_url"].iloc[0] == "https://example.org/SM.POP.TOTL"
    assert pd.isna(stored["definition_url"].iloc[1]) and stored["label"].iloc[1] == "Population, total"


def test_a_required_column_added_to_a_table_with_rows_is_refused_and_nothing_written(
    any_warehouse, contract_now
):
    any_warehouse.replace_slice(TABLE, indicator_rows(), {})
    required = Column(name="owner", logical_type="string", required=True)
    contract_now(newer(TABLE, columns=(*contract_for(TABLE).columns, required)))
    with pytest.raises(SchemaMismatchError) as refused:
        any_warehouse.replace_slice(TABLE, indicator_rows(label="changed").assign(owner="x"), {})
    message = str(refused.value)
    assert TABLE in message and "'owner'" in message and "1 rows" in message
    assert "Nothing was written" in message and "ALTER TABLE" in message
    assert any_warehouse.query(f"SELECT label FROM {TABLE}")["label"].tolist() == ["Population, total"]


def test_an_empty_table_is_recreated_to_the_contract(any_warehouse, contract_now):
    any_warehouse.ensure_tables([contract_for(TABLE)])
    required = Column(name="owner", logical_type="string", required=True)
    contract_now(newer(TABLE, columns=(*contract_for(TABLE).columns, required)))
    any_warehouse.replace_slice(TABLE, indicator_rows().assign(owner="CMC"), {})
    assert any_warehouse.query(f"SELECT owner FROM {TABLE}")["owner"].tolist() == ["CMC"]
    nullable = any_warehouse.query(
        "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'core' "
        "AND table_name = 'dim_indicator' AND column_name = 'owner'"
    )["is_nullable"].tolist()
    assert nullable == ["NO"]


def test_a_changed_type_is_refused_with_both_types_named(any_warehouse, contract_now):
    any_warehouse.replace_slice(TABLE, indicator_rows(), {})
    columns = tuple(
        dataclasses.replace(c, logical_type="string") if c.name == "unit_multiplier" else c
        for c in contract_for(TABLE).columns
    )
    contract_now(newer(TABLE, columns=columns))
    with pytest.raises(SchemaMismatchError, match=r"'unit_multiplier' is BIGINT in the warehouse but string"):
        any_warehouse.replace_slice(TABLE, indicator_rows(unit_multiplier="0"), {})


def test_a_table_rebuilt_whole_is_recreated_when_it_cannot_be_migrated(any_warehouse, contract_now):
    """A mart: every row is computed again next, so nothing is lost by recreating it."""
    any_warehouse.replace_slice(TABLE, indicator_rows(), {})
    columns = tuple(c for c in contract_for(TABLE).columns if c.name != "source_ids")
    changed = newer(TABLE, columns=columns)
    contract_now(changed)
    any_warehouse.ensure_tables([changed], rebuilt_whole=True)
    assert any_warehouse.query(f"SELECT count(*) AS n FROM {TABLE}")["n"].iloc[0] == 0
    any_warehouse.replace_slice(TABLE, indicator_rows().drop(columns="source_ids"), {})
    assert len(any_warehouse.query(f"SELECT * FROM {TABLE}")) == 1
    found = any_warehouse.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'core' "
        "AND table_name = 'dim_indicator'"
    )["column_name"].tolist()
    assert "source_ids" not in found and "label" in found
