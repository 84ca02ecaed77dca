"""Every contracted table runs its contract's rules on the way in, marts included, and a
broken row fails its named rule for its own country only: the country keeps its previous
rows, the others are written, and the check says which country failed and shows the row."""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest

from cmc_pipeline.lib.contracts import all_contracts, contract_for
from cmc_pipeline.lib.quality import rules_for, validate
from cmc_pipeline.lib.warehouse import Warehouse

# Written by the gate itself (every other table's results), and the review list of values
# with no mapping, written beside the table whose load found them.
NOT_WRITTEN_THROUGH_THE_GATE = {"quality.check_results", "quality.unmapped_values"}


def test_every_contracted_table_asset_has_a_check_per_rule():
    from cmc_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    checks: dict[str, set[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(".".join(key.asset_key.path), set()).add(key.name)
    missing = {
        table: sorted({rule.id for rule in rules_for(contract)} - checks.get(table, set()))
        for table, contract in all_contracts().items()
        if table not in NOT_WRITTEN_THROUGH_THE_GATE
    }
    assert {table: rules for table, rules in missing.items() if rules} == {}


@pytest.fixture
def copied_warehouse(built_warehouse, tmp_path) -> Warehouse:
    built, _ = built_warehouse
    copy = tmp_path / "cmc.duckdb"
    shutil.copy(built.url, copy)
    return Warehouse(str(copy))


def test_a_broken_mart_row_fails_its_rule_for_its_country_only(copied_warehouse, tmp_path):
    from cmc_pipeline.defs.marts.assets import work_permits
    from cmc_pipeline.defs.resources import WarehouseResource

    warehouse = copied_warehouse
    before = warehouse.query("SELECT * FROM marts.work_permits WHERE area_code = 'JAM' ORDER BY ALL")
    others_before = warehouse.query("SELECT count(*) AS n FROM marts.work_permits WHERE area_code <> 'JAM'")
    # A monthly figure with a sex code no code list has: regional totals are annual, so
    # only Jamaica's own rows carry it.
    with warehouse.connect() as connection:
        connection.execute(
            "INSERT INTO core.work_permits SELECT * REPLACE ('2023-M01' AS period, 'SEX_X' AS sex) "
            "FROM core.work_permits WHERE country_iso3 = 'JAM' LIMIT 1"
        )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [work_permits],
            resources={"warehouse": WarehouseResource(url=warehouse.url)},
            instance=instance,
            selection=[dg.AssetKey(["marts", "work_permits"])],
        )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["sex_code_known"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert "failed for JAM (1 rows)" in failed.description
    assert failed.metadata["failed_for"].value == "JAM"
    table = failed.metadata["offending_rows"].value
    assert table.splitlines()[0] == "| country | line | column | value | expected |"
    assert table.splitlines()[2].startswith("| JAM | ") and "| sex | SEX_X | a code from" in table
    assert all(e.passed for name, e in evaluations.items() if name != "sex_code_known")

    # Jamaica keeps its previous rows; every other area is written.
    after = warehouse.query("SELECT * FROM marts.work_permits WHERE area_code = 'JAM' ORDER BY ALL")
    assert after.equals(before)
    others_after = warehouse.query("SELECT count(*) AS n FROM marts.work_permits WHERE area_code <> 'JAM'")
    assert others_after["n"].iloc[0] == others_before["n"].iloc[0]
    results = warehouse.query(
        "SELECT country_iso3, passed FROM quality.check_results "
        "WHERE table_name = 'marts.work_permits' AND rule_id = 'sex_code_known'"
    )
    assert results.set_index("country_iso3")["passed"].to_dict() == {
        area: area != "JAM" for area in results["country_iso3"]
    }
    assert {"JAM", "CMC", "TTO"} <= set(results["country_iso3"])


def test_a_regional_total_that_is_not_the_sum_of_its_members_fails_for_the_region(built_warehouse):
    warehouse, _ = built_warehouse
    mart = warehouse.query("SELECT * FROM marts.seasonal_workers ORDER BY area_code, period")
    region = mart.index[mart["area_code"] == "CMC"][0]
    mart.loc[region, "workers_departed"] += 1
    run = validate(mart, contract_for("marts.seasonal_workers"), partition_column="area_code")
    (failed,) = run.failures()
    assert (failed.rule.id, failed.partition, failed.failing_rows) == (
        "regional_total_equals_sum_of_members",
        "CMC",
        1,
    )
    offence = failed.examples[0]
    assert offence.value["regional_workers_departed"] == offence.value["members_workers_departed"] + 1


def test_the_great_expectations_result_is_readable_beside_the_check(built_warehouse):
    """A check Great Expectations evaluated shows what it reported in the UI's metadata,
    not only a path on the server."""
    from pathlib import Path

    warehouse, outcome = built_warehouse
    home = Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_records_for_run(
            outcome.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=5000
        ).records
    shown = [
        r.event_log_entry.dagster_event.event_specific_data
        for r in records
        if "great_expectations" in r.event_log_entry.dagster_event.event_specific_data.metadata
    ]
    assert shown, "no check carries the Great Expectations result"
    expectations = shown[0].metadata["great_expectations"].value["expectations"]
    assert expectations[0]["expectation"].startswith("expect_column_values_to")
    assert {"success", "element_count", "unexpected_count", "column"} <= set(expectations[0])


def test_each_countrys_status_of_a_check_is_what_the_partitions_tab_shows(built_warehouse):
    """A check's status per country, as the UI's Partitions tab reads it (the same state
    its GraphQL resolves): the countries a rule failed for and those it passed for, with
    none left out; before, every country read as missing."""
    from pathlib import Path

    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus
    from dagster._core.storage.asset_check_state import AssetCheckState, bulk_update_asset_check_state

    from cmc_pipeline.defs.partitions import country_partitions
    from cmc_pipeline.lib.reference import cmc_iso3_codes

    warehouse, outcome = built_warehouse
    failed_for = {c.partition for c in outcome.checks if c.check == "year_on_year_jump" and not c.passed}
    assert failed_for  # the bundled figures have jumps the rule warns about
    key = dg.AssetCheckKey(dg.AssetKey(["core", "fact_observation"]), "year_on_year_jump")
    home = Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        state = bulk_update_asset_check_state(
            instance, [(key, country_partitions)], {key: AssetCheckState.empty()}
        )[key]
    status = {s: set(subset.subset_value.get_partition_keys()) for s, subset in state.subsets.items()}
    assert status[AssetCheckExecutionResolvedStatus.FAILED] == failed_for
    assert status[AssetCheckExecutionResolvedStatus.SUCCEEDED] == set(cmc_iso3_codes()) - failed_for


def test_offending_rows_show_each_codes_label_beside_it():
    """An offending row as the check shows it: each value under its column, a code with its
    label from the contract's code list (ILO's for sex), the number as it is."""
    from cmc_pipeline.defs.quality import evaluation
    from cmc_pipeline.lib.quality import Offence, RuleResult, ValidationRun
    from cmc_pipeline.steps.load_report import LoadReport

    contract = contract_for("core.fact_observation")
    rule = next(r for r in rules_for(contract) if r.id == "year_on_year_jump")
    offence = Offence("JAM", None, None, {"sex": "SEX_F", "period": "2019", "value": 1234.5}, "no jump")
    result = RuleResult(rule, "JAM", rows_checked=40, failing_rows=1, examples=[offence])
    run = ValidationRun(contract.table, contract.version, [result], rows_checked=40)
    shown = (
        evaluation(
            dg.AssetKey(["core", "fact_observation"]), result, LoadReport(contract.table, validation=run)
        )
        .metadata["offending_rows"]
        .value
    )
    assert shown.splitlines()[0] == "| line | sex | period | value | expected |"
    assert shown.splitlines()[2] == "|  | SEX_F (Female) | 2019 | 1234.5 | no jump |"


def test_the_current_tables_rules_run_on_the_rows_as_stored_without_a_second_pass():
    """An upload's rows as stored are the file's rows (checked against the file's contract)
    plus the pipeline's columns, one value each: the current table's rules take the file
    check's results and check the added values, so a missing one fails for every row."""
    import pyarrow as pa

    from cmc_pipeline.lib.uploads.checking import check_file
    from cmc_pipeline.lib.uploads.datasets import upload_dataset
    from cmc_pipeline.lib.uploads.loading import stored_rows_check
    from cmc_pipeline.settings import SNAPSHOT_DIR

    spec = upload_dataset("work_permits")
    check = check_file(
        SNAPSHOT_DIR / "uploads" / "JAM__work_permits__demonstration.csv", "work_permits", for_loading=True
    )
    typed = check.typed_rows()

    def stored(sha256) -> pa.Table:
        n = typed.num_rows
        return (
            typed.append_column("upload_id", pa.array(["JAM-1"] * n))
            .append_column("raw_sha256", pa.array([sha256] * n, pa.string()))
            .append_column("demonstration_data", pa.array([True] * n))
            .append_column("loaded_at", pa.array([pd.Timestamp("2026-12-01", tz="UTC")] * n))
        )

    good = stored_rows_check(check.validation, stored("0" * 64), spec, "JAM")
    assert good.passed and {r.rule.id for r in good.results} == {
        r.id for r in rules_for(contract_for(spec.current_table))
    }
    assert {(r.partition, r.rows_checked) for r in good.results} == {("JAM", typed.num_rows)}

    missing = stored_rows_check(check.validation, stored(None), spec, "JAM")
    (failed,) = missing.failures()
    assert (failed.rule.id, failed.failing_rows) == ("required_values_present", typed.num_rows)
    assert failed.examples[0].column == "raw_sha256"
