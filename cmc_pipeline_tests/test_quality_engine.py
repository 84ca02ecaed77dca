"""The quality engine on a national-upload file read as text, the way `cmc validate` will
use it: every problem comes back with its line, column, value and what was expected, and
Great Expectations and DuckDB read the contract the same way."""

from __future__ import annotations

import pandas as pd
import pytest

from cmc_pipeline.lib import quality
from cmc_pipeline.lib.uploads.datasets import upload_dataset

# The columns a file has: the upload contracts also list those the pipeline fills in.
WORK_PERMITS = upload_dataset("work_permits").file_contract


def work_permits_file() -> pd.DataFrame:
    """A work-permits upload as read from CSV (all text), with its line numbers."""
    rows = [
        # country, period, sex, nationality, occupation, permit type, granted, applications
        ("JAM", "2024", "SEX_T", "GUY", "OCU_ISCO08_2", "NEW", "30", "41"),
        ("JAM", "2024", "SEX_M", "GUY", "OCU_ISCO08_2", "NEW", "18", ""),
        ("JAM", "2024", "SEX_F", "GUY", "OCU_ISCO08_2", "NEW", "12", ""),
        ("JAM", "2024", "SEX_X", "GUY", "OCU_ISCO08_3", "NEW", "5", ""),  # wrong code
        ("JAM", "2024", "SEX_T", "XYZ", "OCU_ISCO08_3", "RENEWAL", "-2", ""),  # unknown nationality, negative
        ("JAM", "2024", "SEX_T", "TTO", "OCU_ISCO08_7", "NEW", "seven", ""),  # not a number
        ("JAM", "2024", "SEX_T", "TTO", "OCU_ISCO08_4", "NEW", "7", ""),
        ("JAM", "2024", "SEX_T", "TTO", "OCU_ISCO08_4", "NEW", "8", ""),  # same key as the line above
        ("JAM", "2099", "SEX_T", "BRB", "OCU_ISCO08_5", "NEW", "1", ""),  # in the future
    ]
    columns = [c.name for c in WORK_PERMITS.columns]
    frame = pd.DataFrame(rows, columns=columns, dtype="string")
    frame["source_row_number"] = pd.array(range(2, len(rows) + 2), dtype="Int64")  # header is line 1
    return frame


@pytest.mark.parametrize("engine", ["duckdb", "great_expectations"])
def test_a_file_gets_line_column_value_and_expectation_for_every_problem(engine):
    run = quality.validate(work_permits_file(), WORK_PERMITS, engine=engine)

    failed = {r.rule.id: r for r in run.failures()}
    assert set(failed) == {
        "sex_code_known",
        "nationality_code_known",
        "permits_granted_not_negative",
        "values_match_types",
        "primary_key_unique",
        "period_not_in_future",
    }
    assert run.blocked_partitions == [None]
    described = {rule: [o.describe() for o in r.examples] for rule, r in failed.items()}
    assert described["sex_code_known"] == [
        "line 5, column 'sex': 'SEX_X' — expected a code from "
        "cmc_pipeline/sources/ilostat/ilo_codelists.csv?dimension=sex&exclude=_Z#code"
    ]
    assert described["values_match_types"] == [
        "line 7, column 'permits_granted': 'seven' — expected a whole number"
    ]
    assert described["permits_granted_not_negative"] == [
        "line 6, column 'permits_granted': -2 — expected a value ≥ 0"
    ]
    assert [o.row for o in failed["primary_key_unique"].examples] == [8, 9]
    assert [o.row for o in failed["period_not_in_future"].examples] == [10]
    assert failed["nationality_code_known"].examples[0].value == "XYZ"
    # Sex totals are consistent where all three are given (30 = 18 + 12).
    assert not [r for r in run.for_rule("sex_total_equals_male_plus_female") if not r.passed]


def test_great_expectations_and_duckdb_agree_on_every_rule():
    by_engine = {
        engine: {
            (r.rule.id, r.partition): (r.failing_rows, [o.row for o in r.examples])
            for r in quality.validate(work_permits_file(), WORK_PERMITS, engine=engine).results
        }
        for engine in ("duckdb", "great_expectations")
    }
    assert by_engine["duckdb"] == by_engine["great_expectations"]


def test_a_file_kept_in_arrow_is_judged_as_its_pandas_copy():
    """Large uploads stay in Arrow from the reader to the warehouse; the rules must not
    see a difference, and a batch that passes comes back typed for loading."""
    import pyarrow as pa

    frame = work_permits_file()

    def outcome(rows):
        return {
            (r.rule.id, r.partition): (r.failing_rows, [(o.row, o.column, o.value) for o in r.examples])
            for r in quality.validate(rows, WORK_PERMITS, engine="duckdb", keep_typed_rows=True).results
        }

    assert outcome(pa.Table.from_pandas(frame, preserve_index=False)) == outcome(frame)

    good = pa.Table.from_pandas(frame.iloc[:3], preserve_index=False)
    run = quality.validate(good, WORK_PERMITS, engine="duckdb", keep_typed_rows=True)
    assert run.passed
    assert run.typed_rows.column_names == WORK_PERMITS.column_names
    assert run.typed_rows.column("permits_granted").to_pylist() == [30, 18, 12]
    assert run.typed_rows.column("applications_received").to_pylist() == [41, None, None]
    refused = quality.validate(frame, WORK_PERMITS, engine="duckdb", keep_typed_rows=True)
    assert refused.typed_rows is None  # nothing to load from a refused batch


def test_partitions_are_judged_separately_and_a_collapsed_load_warns():
    staging = upload_dataset("seasonal_workers").file_contract
    previous = pd.DataFrame(
        {
            "country_iso3": ["JAM"] * 4 + ["BRB"] * 2,
            "period": ["2023"] * 6,
            "sex": ["SEX_T"] * 6,
            "destination_iso3": ["CAN", "USA", "GBR", "_T", "CAN", "_T"],
            "programme": ["CAN_SAWP", "USA_H2A", "OTHER", "TOTAL", "CAN_SAWP", "TOTAL"],
            "workers_departed": [10, 5, 1, 16, 3, 3],
            "workers_returned": [None] * 6,
        }
    )
    incoming = previous.copy()
    incoming.loc[4, "programme"] = "CAN_SWAP"  # a typo in Barbados's rows only
    run = quality.validate(
        incoming, staging, partition_column="country_iso3", partitions=["JAM", "BRB", "DMA"]
    )
    assert run.blocked_partitions == ["BRB"]
    assert [r.rows_checked for r in run.for_rule("programme_code_known")] == [4, 2, 0]


def test_great_expectations_reuses_its_outcome_for_rows_it_already_validated(tmp_path, monkeypatch):
    """A rebuild from unchanged sources validates the same rows again: Great Expectations'
    outcome is kept under a digest of the rows and the suite and taken again, naming the
    result file it came from; rows that differ are validated anew."""
    monkeypatch.setenv("CMC_CACHE_DIR", str(tmp_path / "cache"))  # outcomes of this test only
    first_file, second_file = tmp_path / "first.json", tmp_path / "second.json"
    first = quality.validate(
        work_permits_file(), WORK_PERMITS, engine="great_expectations", great_expectations_result=first_file
    )
    again = quality.validate(
        work_permits_file(), WORK_PERMITS, engine="great_expectations", great_expectations_result=second_file
    )

    def found(run):
        return {
            (r.rule.id, r.partition): (r.failing_rows, [o.describe() for o in r.examples])
            for r in run.results
        }

    assert found(again) == found(first)
    assert again.great_expectations_summary == first.great_expectations_summary
    assert again.great_expectations_result == first_file and not second_file.exists()
    assert first.great_expectations_summary["sex_code_known"][0]["result_file"] == "first.json"

    changed = work_permits_file()
    changed.loc[3, "sex"] = "SEX_Y"
    anew = quality.validate(
        changed, WORK_PERMITS, engine="great_expectations", great_expectations_result=second_file
    )
    assert anew.great_expectations_result == second_file and second_file.exists()
    assert [o.value for o in anew.for_rule("sex_code_known")[0].examples] == ["SEX_Y"]

    first_file.unlink()  # a result file removed (say, by a clean-up): validated again
    third_file = tmp_path / "third.json"
    rerun = quality.validate(
        work_permits_file(), WORK_PERMITS, engine="great_expectations", great_expectations_result=third_file
    )
    assert rerun.great_expectations_result == third_file and found(rerun) == found(first)


def test_a_column_checked_only_for_missing_values_does_not_change_the_digest():
    """A load time differs on every run; only whether it is missing matters to the suite."""
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.quality.engine import PART, ROW, _Unit
    from cmc_pipeline.lib.quality.gx_suite import rows_and_suite_fingerprint
    from cmc_pipeline.lib.quality.rules import rules_for

    contract = contract_for("core.dim_country")
    required = next(r for r in rules_for(contract) if r.kind == "required")
    units = [_Unit(required, "iso3", '"iso3" IS NULL', "rows_under_check")]
    rows = pd.DataFrame({"iso3": ["JAM", "GUY"], PART: [None, None], ROW: [1, 2]})
    other_values = rows.assign(iso3=["BRB", "TTO"])
    one_missing = rows.assign(iso3=["JAM", None])
    digest = rows_and_suite_fingerprint(rows, contract, units, 5)
    assert rows_and_suite_fingerprint(other_values, contract, units, 5) == digest
    assert rows_and_suite_fingerprint(one_missing, contract, units, 5) != digest


def test_text_the_reader_trimmed_is_judged_as_untrimmed_text_is():
    """The upload readers strip the spaces around cells, and tell the engine so (it then
    skips trimming each cell): the verdicts are the same."""

    def verdicts(**options):
        run = quality.validate(work_permits_file(), WORK_PERMITS, engine="duckdb", **options)
        return {
            (r.rule.id, r.partition): (r.failing_rows, [o.describe() for o in r.examples])
            for r in run.results
        }

    assert verdicts(text_trimmed=True) == verdicts()
