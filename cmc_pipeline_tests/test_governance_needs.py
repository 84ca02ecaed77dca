"""The governance-needs workbook: template from the contract, read and checked the way a
national upload is (the uploads' reader, the contract's rules, one problem record), and
loading into core.governance_need."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from cmc_pipeline.cli import main
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.sources.governance_needs import workbook as needs

DOMAINS = [
    "Migrants' rights",
    "Whole-of-government approach",
    "Partnerships",
    "Well-being of migrants",
    "Mobility dimensions of crises",
    "Safe, orderly and regular migration",
]


def keyed_workbook(rows: list[dict], path=None) -> bytes:
    """A template keyed with ``rows`` (dicts by column header), as an analyst would."""
    workbook = needs.build_workbook(rows)
    saved = io.BytesIO()
    workbook.save(saved)
    if path is not None:
        path.write_bytes(saved.getvalue())
    return saved.getvalue()


def checked(body: bytes, tmp_path, name: str = "needs.xlsx") -> needs.CheckedWorkbook:
    path = tmp_path / name
    path.write_bytes(body)
    return needs.read_and_check(path)


def finding(**overrides) -> dict:
    row = {
        "assessment": "MGNA-2018",
        "country": "Jamaica",
        "mgf_domain": "Partnerships",
        "topic": "diaspora engagement",
        "finding": "No focal point for the diaspora.",
        "need": "A diaspora strategy.",
        "priority": "high",
        "status_score": None,
        "source_reference": "report p. 12",
    }
    row.update(overrides)
    return row


def test_the_template_follows_the_contract_with_drop_down_lists(tmp_path):
    result = CliRunner().invoke(main, ["template", "governance_needs", "--output", str(tmp_path / "t.xlsx")])
    assert result.exit_code == 0, result.output

    workbook = load_workbook(tmp_path / "t.xlsx")
    assert workbook.sheetnames == ["Instructions", "Findings", "Lists"]
    headers = [c.value for c in workbook["Findings"][1]]
    contract_headers = [
        p["customProperties"][0]["value"]
        for p in (c.raw for c in contract_for("core.governance_need").columns)
        if p.get("customProperties")
    ]
    assert headers == contract_headers == [c.header for c in needs.workbook_columns()]
    validations = {
        str(v.sqref).split(":")[0][0]: v.formula1
        for v in workbook["Findings"].data_validations.dataValidation
    }
    lists = workbook["Lists"]
    letter_of = {h: chr(65 + i) for i, h in enumerate(headers)}
    for header in ("country", "mgf_domain", "priority", "status_score"):
        assert letter_of[header] in validations, header
    domain_column = next(c for c in lists.iter_cols(values_only=True) if c[0] == "mgf_domain")
    assert list(domain_column[1:7]) == DOMAINS
    instructions = " ".join(
        str(v) for row in workbook["Instructions"].iter_rows(values_only=True) for v in row if v
    )
    assert "absent; partially present; present" in instructions


def test_the_csv_template_is_the_header_row_and_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "needs.csv"
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["template", "governance_needs", "--format", "csv", "--output", str(target)]
        ).exit_code
        == 0
    )
    assert target.read_text().strip() == ",".join(c.header for c in needs.workbook_columns())

    target.write_text("keyed work\n")
    again = runner.invoke(main, ["template", "governance_needs", "--format", "csv", "--output", str(target)])
    assert again.exit_code != 0 and "already exists" in again.output
    assert target.read_text() == "keyed work\n"


def test_the_demonstration_workbook_covers_the_ten_mgna_countries_and_says_what_it_is(tmp_path):
    store_entry = next(e for e in needs_snapshot_entries())
    body = (needs_snapshot_root() / store_entry.file).read_bytes()
    demo = checked(body, tmp_path, "demo.xlsx")

    assert demo.problems == []
    assert set(demo.rows["country_iso3"]) == {
        "ATG",
        "BHS",
        "BRB",
        "DMA",
        "GRD",
        "JAM",
        "KNA",
        "LCA",
        "VCT",
        "TTO",
    }
    assert store_entry.demonstration
    first_lines = [r[0] for r in load_workbook(io.BytesIO(body))["Instructions"].iter_rows(values_only=True)][
        :3
    ]
    assert any(
        "DEMONSTRATION DATA" in (line or "") and "NOT findings of IOM" in (line or "") for line in first_lines
    )


def needs_snapshot_root():
    from cmc_pipeline.lib.snapshots import SnapshotStore

    return SnapshotStore().folder("governance_needs")


def needs_snapshot_entries():
    from cmc_pipeline.lib.snapshots import SnapshotStore

    return [e for e in SnapshotStore().entries() if e.api == needs.SNAPSHOT_API]


def test_every_problem_is_reported_with_row_column_value_and_expected(tmp_path):
    rows = [
        finding(),
        finding(mgf_domain="Migrant rights"),
        finding(country="Atlantis"),
        finding(finding=None),
        finding(priority="urgent", status_score="mostly there"),
        finding(mgf_domain="3. Partnerships"),  # number and label: accepted
    ]
    result = checked(keyed_workbook(rows), tmp_path)
    error = needs.GovernanceWorkbookError(result.where, result.problems)

    # The contract's rules, each problem in the uploads' record: rule, row, column (as the
    # workbook names it), value as typed.
    assert sorted((p.row, p.column, p.value, p.rule) for p in result.problems) == [
        (3, "mgf_domain", "Migrant rights", "governance_need_domain_valid"),
        (4, "country", "Atlantis", "governance_need_country_is_cmc"),
        (5, "finding", None, "required_values_present"),
        (6, "priority", "urgent", "governance_need_priority_valid"),
        (6, "status_score", "mostly there", "governance_need_status_valid"),
    ]
    assert result.rows.empty  # nothing is loaded until every problem is fixed
    message = str(error)
    assert "5 problem(s) in needs.xlsx, sheet 'Findings'" in message
    assert "line 3, column 'mgf_domain': 'Migrant rights' — one of Migrants' rights, " in message
    assert "line 4, column 'country': 'Atlantis' — a CMC country: its ISO3 code or its name" in message
    assert "line 5, column 'finding' — " in message

    fixed = checked(keyed_workbook([finding(), finding(mgf_domain="3. Partnerships")]), tmp_path)
    assert fixed.problems == [] and fixed.rows["mgf_domain"].tolist() == ["Partnerships", "Partnerships"]


def test_a_failed_import_says_so_and_leaves_the_warehouse_unchanged(tmp_path, data_dir, warehouse):
    good = tmp_path / "needs.xlsx"
    keyed_workbook([finding(), finding(country="BRB", mgf_domain="1")], good)
    runner = CliRunner()
    loaded = runner.invoke(main, ["import", "governance_needs", str(good)])
    assert loaded.exit_code == 0, loaded.output
    assert "Loaded 2 rows from" in loaded.output and "into core.governance_need" in loaded.output

    bad = tmp_path / "needs_v2.xlsx"
    keyed_workbook([finding(), finding(mgf_domain="Rights of migrants")], bad)
    refused = runner.invoke(main, ["import", "governance_needs", str(bad)])

    assert refused.exit_code != 0
    assert f"{bad} was not loaded; the warehouse is unchanged." in refused.output
    assert "1 problem(s) in needs_v2.xlsx, sheet 'Findings'" in refused.output
    assert "line 3, column 'mgf_domain': 'Rights of migrants'" in refused.output
    kept = warehouse.query("SELECT country_iso3, mgf_domain FROM core.governance_need ORDER BY 1")
    assert kept.values.tolist() == [["BRB", "Migrants' rights"], ["JAM", "Partnerships"]]


@pytest.mark.parametrize(
    ("body", "name", "expected"),
    [
        (b"this is not a workbook", "needs.xlsx", "has an .xlsx name but is not an Excel workbook"),
        (b"PK\x03\x04damaged", "needs.xlsx", "the workbook is damaged"),
        (b"\xff\xfe\x00a", "needs.csv", "save it as 'CSV UTF-8 (Comma delimited)'"),
        (None, "needs.xlsx", "the file has a header but no data rows"),
    ],
)
def test_an_unreadable_workbook_gets_the_uploads_report(body, name, expected, tmp_path):
    """What the uploads' reader says of a file it cannot read, with the file's name."""
    if body is None:  # a template nobody keyed
        body = keyed_workbook([])
    with pytest.raises(needs.GovernanceWorkbookError) as error:
        checked(body, tmp_path, name)
    assert expected in str(error.value) and name in str(error.value)
    assert [p.rule for p in error.value.problems] == ["readable_file"]


def test_a_renamed_sheet_is_still_read_where_its_header_is(tmp_path):
    workbook = needs.build_workbook([finding()])
    workbook["Findings"].title = "Sheet1"
    saved = io.BytesIO()
    workbook.save(saved)
    result = checked(saved.getvalue(), tmp_path)
    assert result.problems == [] and result.where == "needs.xlsx, sheet 'Sheet1'"
    assert result.rows["country_iso3"].tolist() == ["JAM"]


def test_a_renamed_column_is_reported(tmp_path):
    workbook = needs.build_workbook([finding()])
    workbook["Findings"]["E1"] = "findings"
    saved = io.BytesIO()
    workbook.save(saved)
    problems = checked(saved.getvalue(), tmp_path).problems
    assert (1, "finding", "") in [(p.row, p.column, p.value) for p in problems]
    assert (1, "findings", "findings") in [(p.row, p.column, p.value) for p in problems]


def test_a_csv_workbook_loads_like_an_xlsx_one(tmp_path, data_dir, warehouse):
    csv_file = tmp_path / "needs.csv"
    header = ",".join(c.header for c in needs.workbook_columns())
    csv_file.write_text(
        header
        + "\nMGI-2023,TTO,Migrants' rights,labour rights,A finding.,A need.,low,partially present,p. 3\n"
    )
    result = CliRunner().invoke(main, ["import", "governance_needs", str(csv_file)])
    assert result.exit_code == 0, result.output
    row = warehouse.query("SELECT assessment, country_iso3, status_score FROM core.governance_need")
    assert row.values.tolist() == [["MGI-2023", "TTO", "partially present"]]


def test_the_demonstration_workbook_is_never_loaded_over_an_analysts_rows(tmp_path, data_dir, warehouse):
    real = tmp_path / "keyed.xlsx"
    keyed_workbook([finding()], real)
    needs.load_configured_workbook(str(real), warehouse, data_dir / "raw")

    report = needs.load_configured_workbook("", warehouse, data_dir / "raw")

    assert report.rows_written == 0
    assert report.skipped == {"demonstration rows not loaded over an analyst's workbook": 50}
    rows = warehouse.query(
        "SELECT count(*) AS n, bool_or(demonstration_data) AS demo FROM core.governance_need"
    )
    assert rows.values.tolist() == [[1, False]]
