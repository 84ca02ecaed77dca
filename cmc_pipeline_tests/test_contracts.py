"""The contracts are valid ODCS, every rule in them runs, the warehouse matches them, and
the data dictionary says what they say."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import yaml

from cmc_pipeline.lib.contracts import SQL_TYPES, all_contracts
from cmc_pipeline.lib.quality import reference_values, rules_for
from cmc_pipeline.lib.quality.dictionary import DICTIONARY_PATH, render_data_dictionary
from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import PROJECT_DIR

# What DuckDB's information_schema calls the types the contracts' DDL creates.
DUCKDB_SPELLING = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
CONTRACTS = sorted(all_contracts().values(), key=lambda c: c.table)
# The five datasets the working group agreed on: a contract missing or added is a change
# to review, not something the code would notice by itself.
UPLOAD_DATASETS = {
    "work_permits",
    "csme_skills_certificates",
    "seasonal_workers",
    "recruitment_agencies",
    "trafficking_cases",
}


@pytest.fixture(scope="module")
def odcs_validator():
    import jsonschema

    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.table)
def test_contract_is_valid_odcs_v3_1(contract, odcs_validator):
    document = yaml.safe_load(contract.path.read_text(encoding="utf-8"))
    assert document["apiVersion"] == "v3.1.0"
    errors = [f"{e.json_path}: {e.message}" for e in odcs_validator.iter_errors(document)]
    assert not errors, errors
    assert re.fullmatch(r"\d+\.\d+\.\d+", contract.version), "contract versions are semver"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.table)
def test_contract_states_owner_licence_dissemination_and_rules(contract):
    assert any(m.get("role") == "owner" for m in contract.document["team"])
    assert contract.custom_properties.get("licence")
    assert contract.custom_properties.get("dissemination_level") in ("public", "cmc_members", "restricted")
    rules = rules_for(contract)  # raises, naming the rule, if one cannot run
    assert all(r.severity in ("error", "warning") for r in rules)
    assert len({r.id for r in rules}) == len(rules)


def test_every_national_upload_dataset_has_a_contract():
    assert {c.table.split(".")[1] for c in CONTRACTS if c.schema_name == "uploads"} == UPLOAD_DATASETS


def test_a_contract_read_alone_is_the_one_read_with_all_the_others():
    """``cmc validate`` reads only the contract named after its table; it must be the same."""
    from cmc_pipeline.lib.contracts import _contract_named_after

    for table, contract in all_contracts().items():
        assert _contract_named_after(table) is contract
    assert _contract_named_after("core.no_such_table") is None


def test_the_gate_reads_a_slice_before_writing_it_only_for_rules_that_compare_with_it():
    """The gate skips reading a slice's current rows unless a SQL rule names ``{previous}``;
    it must find every such rule the quality engine runs."""
    from cmc_pipeline.lib.quality.rules import compares_with_previous

    for contract in all_contracts().values():
        runs = any(r.kind == "sql" and "{previous}" in r.offending_rows_sql for r in rules_for(contract))
        assert compares_with_previous(contract) == runs, contract.table


def test_code_lists_are_referenced_not_copied():
    sex_codes = reference_values("cmc_pipeline/sources/ilostat/ilo_codelists.csv?dimension=sex#code")
    assert sex_codes == {"SEX_T", "SEX_M", "SEX_F", "SEX_O", "_Z"}  # the ILO's CL_SEX, "not applicable" too
    # Counts of persons (the national uploads) leave "not applicable" out of the same list.
    persons = "cmc_pipeline/sources/ilostat/ilo_codelists.csv?dimension=sex&exclude=_Z#code"
    assert reference_values(persons) == sex_codes - {"_Z"}
    assert "CBR_BRT_JAM" in reference_values("cmc_pipeline/sources/ilostat/ilo_codelists.csv#code")
    for contract in CONTRACTS:
        for rule in rules_for(contract):
            listed = (rule.source.get("arguments") or {}).get("validValues") or []
            assert len(listed) <= 3, (
                f"{contract.path.name} {rule.id} lists codes instead of naming a code list"
            )


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text(encoding="utf-8") == render_data_dictionary(), (
        "docs/data-dictionary.md is stale: run `cmc contracts docs`"
    )


def test_every_built_table_matches_its_contract(built_warehouse):
    warehouse, _outcome = built_warehouse
    contracts = all_contracts()
    columns = warehouse.query(
        "SELECT table_schema || '.' || table_name AS tab, column_name, data_type "
        "FROM information_schema.columns WHERE table_schema IN ('staging', 'core', 'marts', 'uploads')"
    )
    built = set(columns["tab"])
    assert built, "cmc build wrote no table"
    for table in sorted(built):
        assert table in contracts, f"{table} is in the warehouse but has no contract"
        contract = contracts[table]
        actual = dict(
            zip(
                columns[columns["tab"] == table]["column_name"],
                columns[columns["tab"] == table]["data_type"],
                strict=True,
            )
        )
        assert list(actual) == contract.column_names, f"{table}: columns differ from {contract.path.name}"
        for column in contract.columns:
            declared = SQL_TYPES["duckdb"][column.logical_type]
            assert actual[column.name] == DUCKDB_SPELLING.get(declared, declared), (
                f"{table}.{column.name} is {actual[column.name]}, the contract says {column.logical_type}"
            )


def test_every_yaml_file_reads_as_pyyamls_own_safe_loader_reads_it(tmp_path):
    """Contracts, catalogues and reference lists are read with libyaml's loader for speed:
    each gives the same values as PyYAML's pure-Python safe loader, and a broken file is
    named in the error."""
    files = [p for p in PROJECT_DIR.rglob("*.yaml") if ".venv" not in p.parts and "data" not in p.parts]
    assert len(files) > 30
    for path in files:
        assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8")), path
    broken = tmp_path / "broken.yaml"
    broken.write_text("columns: [a, b\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError, match=r"broken\.yaml"):
        read_yaml(broken)
