"""The governance-needs workbook: template from the contract, validation a person can act
on, and loading into core.governance_need."""

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


def test_the_demonstration_workbook_covers_the_ten_mgna_countries_and_says_what_it_is():
    store_entry = next(e for e in needs_snapshot_entries())
    body = (needs_snapshot_root() / store_entry.file).read_bytes()
    headers, rows, _ = needs.read_rows(body, "demo.xlsx")
    checked, problems = needs.validate(headers, rows)

    assert problems == []
    assert {r["country_iso3"] for r in checked} == {
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


def test_every_problem_is_reported_with_row_column_value_and_expected():
    rows = [
        finding(),
        finding(mgf_domain="Migrant rights"),
        finding(country="Atlantis"),
        finding(finding=None),
        finding(priority="urgent", status_score="mostly there"),
        finding(mgf_domain="3. Partnerships"),  # number and label: accepted
    ]
    headers, read, where = needs.read_rows(keyed_workbook(rows), "needs.xlsx")
    checked, problems = needs.validate(headers, read)
    error = needs.GovernanceWorkbookError(where, problems)

    assert [(p.row, p.column, p.value) for p in problems] == [
        (3, "mgf_domain", "Migrant rights"),
        (4, "country", "Atlantis"),
        (5, "finding", ""),
        (6, "priority", "urgent"),
        (6, "status_score", "mostly there"),
    ]
    message = str(error)
    assert "5 problem(s) in needs.xlsx, sheet 'Findings'" in message
    assert "row 3, column 'mgf_domain': 'Migrant rights' — expected one of: Migrants' rights;" in message
    assert "row 4, column 'country': 'Atlantis' — expected a CMC country name or ISO3 code" in message
    assert "row 5, column 'finding': '' — expected a value (this column is required)" in message
    assert [r["mgf_domain_number"] for r in checked] == [3, 3]


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
    assert (
        "needs_v2.xlsx, sheet 'Findings', row 3, column 'mgf_domain': 'Rights of migrants'" in refused.output
    )
    kept = warehouse.query("SELECT country_iso3, mgf_domain FROM core.governance_need ORDER BY 1")
    assert kept.values.tolist() == [["BRB", "Migrants' rights"], ["JAM", "Partnerships"]]


@pytest.mark.parametrize(
    ("body", "name", "expected"),
    [
        (b"this is not a workbook", "needs.xlsx", "an .xlsx workbook saved by Excel or LibreOffice"),
        (None, "needs.xlsx", "a sheet named 'Findings'"),
        (b"\xff\xfe\x00a", "needs.csv", "a CSV file in UTF-8 text"),
    ],
)
def test_an_unreadable_workbook_gets_a_clear_report(body, name, expected):
    if body is None:  # a workbook whose data sheet was renamed
        workbook = needs.build_workbook([finding()])
        workbook["Findings"].title = "Sheet1"
        saved = io.BytesIO()
        workbook.save(saved)
        body = saved.getvalue()
    with pytest.raises(needs.GovernanceWorkbookError) as error:
        needs.read_rows(body, name)
    assert expected in str(error.value) and name in str(error.value)


def test_a_renamed_column_is_reported():
    workbook = needs.build_workbook([finding()])
    workbook["Findings"]["E1"] = "findings"
    saved = io.BytesIO()
    workbook.save(saved)
    _, problems = needs.validate(*needs.read_rows(saved.getvalue(), "needs.xlsx")[:2])
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
