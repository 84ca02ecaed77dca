"""`cmc build` end to end from the bundled snapshots: what a new user gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from cmc_pipeline import settings
from cmc_pipeline.lib.reference import cmc_iso3_codes


def counts(warehouse, table: str) -> int:
    return int(warehouse.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])


def test_build_fills_every_layer_for_the_cmc_countries(built_warehouse):
    warehouse, outcome = built_warehouse
    assert outcome.success
    assert counts(warehouse, "core.dim_country") == 25
    assert counts(warehouse, "staging.ilostat_observations") > 1000
    assert counts(warehouse, "staging.worldbank_observations") > 1000
    facts = warehouse.query(
        "SELECT source, count(DISTINCT country_iso3) AS countries FROM core.fact_observation GROUP BY 1"
    ).set_index("source")["countries"]
    assert facts["ILOSTAT"] >= 10 and facts["World Bank WDI"] >= 20


def test_real_worldbank_values_arrive_unchanged(built_warehouse):
    warehouse, _ = built_warehouse
    jamaica = warehouse.query(
        "SELECT value, demonstration_data FROM core.fact_observation WHERE country_iso3 = 'JAM' "
        "AND indicator_id = 'BX.TRF.PWKR.DT.GD.ZS' AND period = '2020'"
    ).iloc[0]
    assert abs(jamaica.value - 22.2037295552885) < 1e-9
    assert not jamaica.demonstration_data


def test_generated_values_carry_the_demonstration_label(built_warehouse):
    warehouse, _ = built_warehouse
    labelled = warehouse.query(
        "SELECT source, bool_and(demonstration_data) AS all_demo FROM core.fact_observation "
        "WHERE indicator_id IN ('EAP_TEAP_SEX_AGE_NB', 'SP.POP.TOTL') GROUP BY 1"
    )
    assert labelled["all_demo"].all()


def test_harmonised_facts_use_comparable_codes(built_warehouse):
    warehouse, _ = built_warehouse
    facts = warehouse.query(
        "SELECT DISTINCT sex, age, period, unit, unit_multiplier FROM core.fact_observation"
    )
    assert set(facts["sex"]) <= {"SEX_T", "SEX_M", "SEX_F", "SEX_O"}
    assert facts["period"].str.fullmatch(r"\d{4}(-Q[1-4]|-M\d{2})?").all()
    assert facts["unit"].notna().all() and facts["unit_multiplier"].notna().all()
    countries = set(
        warehouse.query("SELECT DISTINCT country_iso3 FROM core.fact_observation")["country_iso3"]
    )
    assert countries <= set(cmc_iso3_codes())


def test_every_raw_response_is_kept_with_provenance(built_warehouse):
    warehouse, _ = built_warehouse
    raw_root = settings.Path(warehouse.url).parent.parent / "raw"
    shas = set(warehouse.query("SELECT DISTINCT raw_sha256 FROM core.fact_observation")["raw_sha256"])
    for sha in shas:
        (sidecar,) = raw_root.glob(f"*/{sha[:2]}/{sha}.provenance.json")
        assert '"licence"' in sidecar.read_text()


def test_the_run_is_recorded_in_the_dagster_instance(built_warehouse):
    warehouse, outcome = built_warehouse
    home = settings.Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(outcome.run_id)
        assert run is not None and run.is_success
        materialized = instance.get_materialized_partitions(dg.AssetKey(["core", "fact_observation"]))
    assert materialized == set(cmc_iso3_codes())


def test_the_build_run_is_attached_to_the_code_location_and_ends_with_freshness(built_warehouse):
    """The job page of build_warehouse in the UI lists runs by job name and the code
    location's label, as a run launched from the UI carries it; `cmc build` runs in-process
    and must carry the same label. The freshness checks are evaluated once the build ends."""
    import yaml

    from cmc_pipeline.definitions import CODE_LOCATION, defs
    from cmc_pipeline.orchestration import REPOSITORY_LABEL_TAG

    warehouse, outcome = built_warehouse
    # the label the UI computes for the code location, from the workspace it loads
    for workspace in ("workspace.yaml", "deploy/workspace.yaml"):
        entries = yaml.safe_load((settings.PROJECT_DIR / workspace).read_text())["load_from"]
        assert {next(iter(e.values()))["location_name"] for e in entries} == {CODE_LOCATION}
    label = f"{defs().get_repository_def().name}@{CODE_LOCATION}"
    home = settings.Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        on_job_page = instance.get_runs(
            dg.RunsFilter(job_name="build_warehouse", tags={REPOSITORY_LABEL_TAG: label})
        )
        assert outcome.run_id in {r.run_id for r in on_job_page}
        freshness = instance.get_runs(
            dg.RunsFilter(job_name="check_freshness", tags={REPOSITORY_LABEL_TAG: label})
        )
        assert freshness and freshness[0].is_success
        key = dg.AssetCheckKey(dg.AssetKey(["core", "fact_observation"]), "freshness")
        evaluated = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        assert evaluated and evaluated[0].run_id == freshness[0].run_id
    # every contract with a cadence was evaluated; the DTM tables (no key here) are stale
    assert len(outcome.freshness) > 20
    stale = {c.asset for c in outcome.freshness if not c.passed}
    assert "core/fact_observation" not in stale and any("displacement" in a for a in stale)


# Building twice is tested end to end in test_migration_build.py (every table, via `cmc build`).


def test_every_rules_latest_result_per_country_is_kept_in_the_warehouse(built_warehouse):
    """quality.check_results holds what the Dagster checks showed, country by country:
    the countries a warning failed for, with the first offending row."""
    warehouse, outcome = built_warehouse
    results = warehouse.query(
        "SELECT * FROM quality.check_results WHERE table_name = 'core.fact_observation'"
    )
    assert set(results["country_iso3"]) == set(cmc_iso3_codes())
    assert results.groupby("country_iso3")["rule_id"].nunique().nunique() == 1  # every rule, every country
    jumps = results[results["rule_id"] == "year_on_year_jump"].set_index("country_iso3")
    failed_in_build = {
        c.partition
        for c in outcome.checks
        if c.asset == "core/fact_observation" and c.check == "year_on_year_jump" and not c.passed
    }
    assert failed_in_build and set(jumps.index[~jumps["passed"].astype(bool)]) == failed_in_build
    first = jumps.loc[sorted(failed_in_build)[0]]
    assert first["severity"] == "warning" and first["rows_failed"] > 0
    assert "expected" in first["first_offence"] and first["run_id"] == outcome.run_id


def test_cmc_import_ilostat_loads_a_download_and_says_what_it_did(data_dir):
    from cmc_pipeline.cli import main

    download = data_dir / "ILOSTAT_download.csv"
    download.write_text(
        '"ref_area","source","indicator","sex","classif1","time","obs_value","obs_status",'
        '"note_classif","note_indicator","note_source"\n'
        '"GUY","BA:1","UNE_DEAP_SEX_AGE_RT","SEX_T","AGE_YTHADULT_YGE15","2022Q3",12.5,"","","",""\n',
        encoding="utf-8-sig",
    )
    result = CliRunner().invoke(main, ["import", "ilostat", str(download)])
    assert result.exit_code == 0, result.output
    assert "Loaded 1 rows" in result.output and "GUY" in result.output
    from cmc_pipeline.lib.warehouse import Warehouse

    quarter = Warehouse(settings.warehouse_url()).query("SELECT period, frequency FROM core.fact_observation")
    assert quarter.values.tolist() == [["2022-Q3", "Q"]]


def test_cmc_import_says_which_countries_the_contract_held_back(data_dir):
    from cmc_pipeline.cli import main

    download = data_dir / "ILOSTAT_download.csv"
    download.write_text(
        '"ref_area","source","indicator","sex","classif1","time","obs_value","obs_status",'
        '"note_classif","note_indicator","note_source"\n'
        '"GUY","BA:1","EAP_TEAP_SEX_AGE_NB","SEX_T","AGE_YTHADULT_YGE15","2022",-380.5,"","","",""\n',
        encoding="utf-8-sig",
    )
    result = CliRunner().invoke(main, ["import", "ilostat", str(download)])
    assert "not updated for GUY (their previous rows are kept)" in result.output, result.output
    assert "-380.5" in result.output  # the offending value, as the officer typed it


def test_cmc_import_of_a_bad_file_says_the_warehouse_is_unchanged(data_dir):
    from cmc_pipeline.cli import main

    html = data_dir / "download.csv"
    html.write_text("<html><body>Sign in</body></html>")
    result = CliRunner().invoke(main, ["import", "ilostat", str(html)])
    assert result.exit_code == 1
    assert "warehouse is unchanged" in result.output and "HTML page" in result.output


def test_definitions_validate_and_load_without_network():
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    validate = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=settings.PROJECT_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_loading_the_definitions_imports_no_data_library(tmp_path):
    """The UI's code server, every `dagster` command and the start of every build load the
    definitions; pandas, numpy, pyarrow, the quality engine and requests are imported
    where rows are first read or a source first goes online, not there."""
    code = (
        "import sys; from cmc_pipeline.definitions import defs; defs().resolve_asset_graph(); "
        "loaded = [m for m in ('pandas', 'numpy', 'pyarrow', 'requests', "
        "'cmc_pipeline.lib.quality.engine') if m in sys.modules]; "
        "assert not loaded, f'imported with the definitions: {loaded}'"
    )
    environment = {**os.environ, "PYTHONPATH": str(settings.PROJECT_DIR), "CMC_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_assets_describe_themselves_in_the_ui():
    from cmc_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.description, f"{key} has no docstring"
        groups = {"staging", "core", "marts", "uploads", "governance", "quality", "reports"}
        assert node.group_name in groups, key
        if node.group_name != "reports":  # reports are files, not tables
            assert "dagster/column_schema" in node.metadata, f"{key} has no column schema"


def test_every_table_asset_carries_its_contracts_owners_tags_and_version():
    from cmc_pipeline.definitions import defs
    from cmc_pipeline.lib.contracts import all_contracts

    graph = defs().resolve_asset_graph()
    contracts = all_contracts()
    tables = 0
    for key in graph.get_all_asset_keys():
        contract = contracts.get(".".join(key.path))
        if contract is None:
            continue
        tables += 1
        node = graph.get(key)
        assert node.owners == ["team:cmc-data-engineering"], key
        assert node.tags["layer"] == contract.schema_name
        assert node.tags["dissemination_level"] == contract.custom_properties.get(
            "dissemination_level", "restricted"
        )
        assert node.code_version == contract.version, key
    assert tables >= 30
    trafficking = graph.get(dg.AssetKey(["marts", "trafficking_cases"]))
    assert trafficking.tags["dissemination_level"] == "cmc_members" and "source/uploads" in trafficking.tags
    assert "source/ilostat" in graph.get(dg.AssetKey(["staging", "ilostat_observations"])).tags


def test_the_run_history_is_in_dagsters_own_sqlite_format(built_warehouse):
    """The build writes its events through the pooled event log storage; Dagster's stock
    SQLite storage (what any Dagster tool would use) reads every one of them back."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from cmc_pipeline.instance_storage import PooledSqliteEventLogStorage

    warehouse, outcome = built_warehouse
    home = settings.Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        written = instance.all_logs(outcome.run_id)
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    read_back = stock.get_logs_for_run(outcome.run_id)
    assert len(read_back) == len(written) > 1000
    assert read_back[-1].dagster_event.event_type_value == "PIPELINE_SUCCESS"
    stock.dispose()


def test_a_batch_of_events_is_stored_whole_or_not_at_all(tmp_path):
    """Dagster hands some events over as a batch (a run's planned steps); the pooled
    storage writes a batch in one transaction, and a batch that fails leaves nothing, so
    Dagster's fallback of storing them one by one stores each once."""
    import logging
    import time

    from dagster._core.events.log import EventLogEntry
    from dagster_shared.check import CheckError

    from cmc_pipeline.instance_storage import PooledSqliteEventLogStorage

    def entry(message: str) -> EventLogEntry:
        return EventLogEntry(
            error_info=None, level=logging.INFO, user_message=message, run_id="r1", timestamp=time.time()
        )

    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        with pytest.raises(CheckError):
            storage.store_event_batch([entry("first"), "not an event"])
        assert storage.get_logs_for_run("r1") == []
        storage.store_event_batch([entry("first"), entry("second")])
        assert [e.user_message for e in storage.get_logs_for_run("r1")] == ["first", "second"]
        assert storage.supports_asset_checks and storage.has_table("asset_check_executions")
        assert storage.has_asset_key_index_cols() and storage.has_asset_key_index_cols()
        assert storage._asset_key_columns_present == {"last_materialization_timestamp"}
    finally:
        storage.dispose()


def test_an_event_is_serialised_once_however_many_rows_hold_it():
    """Dagster's SQL event log serialises an event for each row that holds it (the run's
    log, the index, the check's row; a check planned for 25 countries, 25 rows). The
    pooled storage gives the same text again for the same event, and serialises any other
    value as Dagster would."""
    import logging
    import time

    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log import sql_event_log
    from dagster._core.storage.event_log.base import EventLogRecord
    from dagster_shared.serdes import serialize_value

    from cmc_pipeline.instance_storage import _serialise_each_event_once

    def entry(message: str) -> EventLogEntry:
        return EventLogEntry(
            error_info=None, level=logging.INFO, user_message=message, run_id="r1", timestamp=time.time()
        )

    calls = []

    def counted(value, *args, **kwargs):
        calls.append(value)
        return serialize_value(value, *args, **kwargs)

    serialise = _serialise_each_event_once(counted)
    first, second = entry("first"), entry("second")
    assert [serialise(first) for _ in range(27)] == [serialize_value(first)] * 27
    assert serialise(second) == serialize_value(second)
    assert serialise(first) == serialize_value(first)
    assert calls == [first, second, first]
    assert serialise({"not": "an event"}) == serialize_value({"not": "an event"})
    assert serialise({"not": "an event"}) and len(calls) == 5
    assert sql_event_log.serialize_value.__qualname__.startswith("_serialise_each_event_once")
    # The asset's latest materialisation is the event inside a record: its text is built
    # from the event's, and is what Dagster's own serialisation gives.
    record = EventLogRecord(storage_id=41, event_log_entry=first)
    serialise(first)
    before = len(calls)
    assert serialise(record) == serialize_value(record) and len(calls) == before


def test_a_steps_burst_of_outputs_is_written_together_and_read_at_once(tmp_path):
    """A step's outputs and check evaluations wait for the end of their burst and are then
    written together, in order; a read in the same process sees them at once, another
    process (here a second storage on the same files) when the burst ends."""
    import logging
    import time

    from dagster._core.events import DagsterEvent, StepOutputData, StepSuccessData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.execution.plan.outputs import StepOutputHandle
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from cmc_pipeline.instance_storage import PooledSqliteEventLogStorage

    def step_event(kind: str, data, message: str) -> EventLogEntry:
        event = DagsterEvent(
            event_type_value=kind,
            job_name="build",
            step_key="load",
            event_specific_data=data,
            message=message,
        )
        return EventLogEntry(
            error_info=None,
            level=logging.INFO,
            user_message=message,
            run_id="r1",
            timestamp=time.time(),
            step_key="load",
            job_name="build",
            dagster_event=event,
        )

    def output(name: str) -> EventLogEntry:
        return step_event("STEP_OUTPUT", StepOutputData(StepOutputHandle("load", name)), name)

    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    other_process = SqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        for name in ("first", "second"):
            storage.store_event(output(name))
        assert other_process.get_logs_for_run("r1") == []  # the burst has not ended
        assert [e.user_message for e in storage.get_logs_for_run("r1")] == ["first", "second"]
        storage.store_event(output("third"))
        storage.store_event(step_event("STEP_SUCCESS", StepSuccessData(duration_ms=1.0), "done"))
        written = [e.user_message for e in other_process.get_logs_for_run("r1")]
        assert written == ["first", "second", "third", "done"]
        storage.store_event(output("last, written when the storage is closed"))
    finally:
        storage.dispose()
    assert len(other_process.get_logs_for_run("r1")) == 5
    other_process.dispose()


@pytest.mark.parametrize("countries", [["ATG", "BRB", "JAM"], None])
def test_a_planned_checks_rows_are_the_ones_dagster_writes(tmp_path, countries):
    """The pooled storage inserts a planned check's rows (one per country) by one statement
    run for each row; the rows are the ones Dagster's own storage writes."""
    import logging
    import sqlite3

    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
    from dagster._core.events import DagsterEvent
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from cmc_pipeline.instance_storage import PooledSqliteEventLogStorage

    partitions = dg.StaticPartitionsDefinition(cmc_iso3_codes())
    planned = AssetCheckEvaluationPlanned(
        asset_key=dg.AssetKey(["core", "fact_observation"]),
        check_name="value_is_a_number",
        partitions_subset=partitions.subset_with_partition_keys(countries) if countries else None,
    )
    event = EventLogEntry(
        error_info=None,
        level=logging.DEBUG,
        user_message="",
        run_id="r1",
        timestamp=1_700_000_000.25,
        job_name="build_warehouse",
        dagster_event=DagsterEvent(
            event_type_value="ASSET_CHECK_EVALUATION_PLANNED",
            job_name="build_warehouse",
            event_specific_data=planned,
        ),
    )

    def rows_written_by(storage, folder) -> list:
        storage.store_event(event)
        storage.dispose()
        with sqlite3.connect(folder / "index.db") as index:
            return index.execute(
                "SELECT asset_key, check_name, partition, run_id, execution_status, evaluation_event,"
                " evaluation_event_timestamp, evaluation_event_storage_id, materialization_event_storage_id"
                " FROM asset_check_executions ORDER BY partition"
            ).fetchall()

    ours = rows_written_by(PooledSqliteEventLogStorage(str(tmp_path / "ours")), tmp_path / "ours")
    dagsters = rows_written_by(SqliteEventLogStorage(str(tmp_path / "stock")), tmp_path / "stock")
    assert ours == dagsters
    assert [row[2] for row in ours] == (sorted(countries) if countries else [None])


def test_each_check_evaluation_names_the_latest_materialization_it_checked(built_warehouse):
    """A build ties each check evaluation to the materialisation it checked, from what the
    run history's storage remembers of the step's own writes: the same storage id, run and
    time as the index holds for the latest materialisation of the evaluation's partition
    (or of the unpartitioned table)."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.event_log.base import AssetRecordsFilter

    warehouse, outcome = built_warehouse
    home = Path(warehouse.url).parent.parent / "dagster_home"
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        logged = instance.all_logs(outcome.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        latest: dict = {}
        partitions = set()
        for entry in logged:
            evaluation = entry.dagster_event.event_specific_data
            key = (evaluation.asset_key, evaluation.partition)
            if key not in latest:
                (latest[key],) = instance.fetch_materializations(
                    AssetRecordsFilter(
                        asset_key=evaluation.asset_key,
                        asset_partitions=None if evaluation.partition is None else [evaluation.partition],
                    ),
                    limit=1,
                ).records
            record, target = latest[key], evaluation.target_materialization_data
            assert target is not None, key
            assert (target.storage_id, target.run_id, target.timestamp) == (
                record.storage_id,
                record.run_id,
                record.timestamp,
            ), key
            partitions.add(evaluation.partition)
    assert len(logged) > 1000 and len(partitions) == len(cmc_iso3_codes()) + 1


def test_every_row_the_pooled_storage_writes_is_the_one_dagster_writes(tmp_path):
    """The pooled storage writes each row with a statement built once and its values as
    parameters, and updates an asset's row before inserting it. The events of two real
    runs (a partitioned asset with a check per partition, an unpartitioned one with its
    check; the second run's check results without their planned rows) stored by it and by
    Dagster's own SQLite storage leave the same rows in every table of every file."""
    import sqlite3

    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from cmc_pipeline.instance_storage import PooledSqliteEventLogStorage

    countries = dg.StaticPartitionsDefinition(["ATG", "BRB", "JAM"])

    @dg.asset(partitions_def=countries, check_specs=[dg.AssetCheckSpec("rows_present", asset="permits")])
    def permits(context):
        yield dg.MaterializeResult(metadata={"rows": 3})
        yield dg.AssetCheckResult(check_name="rows_present", passed=context.partition_key != "BRB")

    @dg.asset
    def regional_total() -> int:
        return 9

    @dg.asset_check(asset=regional_total)
    def total_is_positive(regional_total: int) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=regional_total > 0)

    events = []
    with dg.DagsterInstance.ephemeral() as instance:
        for run_number, country in enumerate(["ATG", "BRB"]):
            for selection, partition in (([permits], country), ([regional_total, total_is_positive], None)):
                result = dg.materialize(selection, instance=instance, partition_key=partition)
                logged = instance.all_logs(result.run_id)
                if run_number == 1:  # a result whose planned row is missing is inserted
                    logged = [e for e in logged if e.dagster_event_type != "ASSET_CHECK_EVALUATION_PLANNED"]
                events += logged
    assert {e.dagster_event_type for e in events} >= {
        "ASSET_MATERIALIZATION",
        "ASSET_MATERIALIZATION_PLANNED",
        "ASSET_CHECK_EVALUATION",
        "ASSET_CHECK_EVALUATION_PLANNED",
        "PIPELINE_SUCCESS",
    }

    # When a row or a file's schema was made: the two storages write moments apart.
    made_at = {"create_timestamp", "migration_completed"}

    def every_row(storage_class, folder) -> dict:
        storage = storage_class(str(folder))
        for event in events:
            storage.store_event(event)
        storage.dispose()
        rows = {}
        for database in sorted(folder.glob("*.db")):
            with sqlite3.connect(database) as connection:
                tables = [
                    name
                    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
                for table in tables:
                    cursor = connection.execute(f"SELECT * FROM {table} ORDER BY 1")
                    kept = [i for i, column in enumerate(cursor.description) if column[0] not in made_at]
                    rows[database.name, table] = [[row[i] for i in kept] for row in cursor.fetchall()]
        return rows

    ours = every_row(PooledSqliteEventLogStorage, tmp_path / "ours")
    dagsters = every_row(SqliteEventLogStorage, tmp_path / "stock")
    assert ours == dagsters
    assert len(dagsters[("index.db", "asset_check_executions")]) == 4
    assert len(dagsters[("index.db", "asset_keys")]) == 2


def test_a_batch_command_collects_garbage_less_often_than_a_server(monkeypatch):
    """A command that runs and ends (build, validate, import …) has Python's garbage
    collector pass every 50,000 allocations rather than every 700, and freezes what is
    left at exit; the UI and the portal, which serve until stopped, keep Python's default."""
    import atexit
    import gc

    from cmc_pipeline import cli

    at_exit = []
    monkeypatch.setattr(atexit, "register", at_exit.append)
    default = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        for server in ("portal", "dev"):
            assert CliRunner().invoke(cli.main, [server, "--help"]).exit_code == 0
            assert gc.get_threshold() == (700, 10, 10) and at_exit == [], server
        assert CliRunner().invoke(cli.main, ["validate", "--help"]).exit_code == 0
        assert gc.get_threshold() == cli.BATCH_GARBAGE_COLLECTION
        assert at_exit == [gc.freeze]
    finally:
        gc.set_threshold(*default)
