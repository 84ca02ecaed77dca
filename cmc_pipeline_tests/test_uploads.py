"""National uploads end to end without Dagster: what a data officer sees for every kind of
bad file (a report naming line, column, value and what is expected; the original kept in
rejected/ beside report.md and errors.csv; the warehouse unchanged), and what an accepted
file does (loaded, replacing the country's periods, the old rows kept in history)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.uploads import intake, loading
from cmc_pipeline.lib.uploads.checking import check_file
from cmc_pipeline.lib.uploads.datasets import upload_dataset
from cmc_pipeline.settings import SNAPSHOT_DIR

DEMO = SNAPSHOT_DIR / "uploads"
HEADER = upload_dataset("work_permits").file_columns


def demo_text(name: str = "JAM__work_permits__demonstration.csv") -> str:
    return (DEMO / name).read_text(encoding="utf-8")


def permits_csv(rows: list[list], header: list[str] = HEADER) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


GOOD = [
    ["JAM", "2023", "SEX_T", "GUY", "OCU_ISCO08_2", "NEW", "12", "15"],
    ["JAM", "2023", "SEX_M", "GUY", "OCU_ISCO08_2", "NEW", "7", "9"],
    ["JAM", "2023", "SEX_F", "GUY", "OCU_ISCO08_2", "NEW", "5", "6"],
]


def with_cell(row: int, column: str, value: str) -> list[list]:
    rows = [list(r) for r in GOOD]
    rows[row][HEADER.index(column)] = value
    return rows


@pytest.fixture
def inbox(data_dir: Path) -> Path:
    folder = data_dir / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def loaded(warehouse, data_dir):
    """A warehouse holding Jamaica's demonstration work permits (2022 and 2023)."""
    core_tables.build_dim_country(warehouse)
    outcomes = loading.load_demonstration_uploads("work_permits", ["JAM"], warehouse, data_dir / "raw")
    assert [o.status for o in outcomes] == ["accepted"]
    return warehouse


def snapshot(warehouse) -> tuple:
    """Everything the upload tables hold, to compare before and after."""
    return tuple(
        warehouse.query(f"SELECT * FROM {table} ORDER BY ALL").to_csv()
        for table in ("uploads.work_permits", "core.work_permits")
    )


def send(inbox: Path, warehouse, data_dir: Path, name: str, body: bytes, country: str = "JAM"):
    folder = inbox / country / "work_permits"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(body)
    return loading.process_upload(
        path,
        dataset="work_permits",
        country=country,
        warehouse=warehouse,
        raw_root=data_dir / "raw",
        uploader=f"inbox {country}/work_permits/{name}",
        inbox=inbox,
    )


def workbook_bytes(rows: list[list], *, merge: str | None = None, formula: bool = False) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ministry of Labour — work permits"])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    saved = io.BytesIO()
    book.save(saved)
    return saved.getvalue()


def bomb() -> bytes:
    saved = io.BytesIO()
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (40 * 1024 * 1024))
    return saved.getvalue()


SEASONAL = upload_dataset("seasonal_workers").file_columns

# name, bytes, fragments the report must contain (what the officer reads)
BAD_FILES = {
    "empty": ("permits.csv", b"", ["the file is empty"]),
    "header_only": ("permits.csv", permits_csv([]), ["the file has a header but no data rows"]),
    "wrong_dataset": (
        "permits.csv",
        permits_csv([["JAM", "2023", "SEX_T", "CAN", "CAN_SAWP", "100", "90"]], header=SEASONAL),
        ["no header row", "seasonal_workers dataset"],
    ),
    "missing_and_extra_columns": (
        "permits.csv",
        permits_csv(
            [r[:5] + r[6:] + ["checked"] for r in GOOD], header=[*HEADER[:5], *HEADER[6:], "remarks"]
        ),
        ["| permit_type | (column missing) |", "| remarks | (column not in the contract) |"],
    ),
    "utf16_encoding": ("permits.csv", permits_csv(GOOD).decode().encode("utf-16"), ["UTF-16"]),
    "binary_named_csv": ("permits.csv", b"\x00\x01\x02\x03garbage" * 50, ["binary file"]),
    "xlsx_not_a_zip": ("permits.xlsx", permits_csv(GOOD), ["not an Excel workbook"]),
    "xlsx_zip_bomb": ("permits.xlsx", bomb(), ["would unpack to"]),
    "merged_cells": (
        "permits.xlsx",
        workbook_bytes([[*r[:6], int(r[6]), int(r[7])] for r in GOOD], merge="A3:A4"),
        ["merged cells inside the table", "A3:A4"],
    ),
    "code_not_in_list": (
        "permits.csv",
        permits_csv(with_cell(1, "sex", "MALE")),
        ["| 3 | sex | MALE | one of SEX_T, SEX_M, SEX_F, SEX_O |"],
    ),
    "negative_count": (
        "permits.csv",
        permits_csv(with_cell(0, "applications_received", "-4")),
        ["| 2 | applications_received | -4 | a value ≥ 0 |"],
    ),
    "fractional_count": (
        "permits.csv",
        permits_csv(with_cell(2, "permits_granted", "5.5")),
        ["| 4 | permits_granted | 5.5 | a whole number |"],
    ),
    "totals_do_not_add_up": (
        "permits.csv",
        permits_csv(with_cell(0, "permits_granted", "13")),
        ["sex_total_equals_male_plus_female", "total = 13", "male_female_other = 12"],
    ),
    "duplicate_key": (
        "permits.csv",
        permits_csv([*GOOD, GOOD[1]]),
        ["primary_key_unique", "no other row with the same country_iso3, period, sex"],
    ),
    "period_in_future": (
        "permits.csv",
        permits_csv([["JAM", "2099", *r[2:]] for r in GOOD]),
        ["| 2 | period | 2099 |", "has not begun"],
    ),
    "country_not_the_sender": (
        "permits.csv",
        permits_csv(with_cell(1, "country_iso3", "Trinidad and Tobago")),
        ["| 3 | country_iso3 | TTO | JAM (Jamaica), the country this file was sent for |"],
    ),
    "formula_in_text_cell": (
        "permits.csv",
        permits_csv(with_cell(0, "nationality_iso3", '=HYPERLINK("http://example.invalid","GUY")')),
        ["a spreadsheet formula is not data", "nationality_iso3"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_file_is_refused_with_a_report_kept_beside_it_and_the_warehouse_unchanged(
    case, loaded, inbox, data_dir
):
    name, body, fragments = BAD_FILES[case]
    before = snapshot(loaded)

    outcome = send(inbox, loaded, data_dir, name, body)

    assert outcome.status == "rejected"
    report = outcome.report_path.read_text(encoding="utf-8")
    for fragment in fragments:
        assert fragment in report, f"{fragment!r} not in the report:\n{report}"
    assert "nothing from this file was loaded" in report
    # The original, byte for byte, beside its report and the errors as CSV.
    assert outcome.folder.parent == inbox / "rejected"
    assert (outcome.folder / name).read_bytes() == body
    assert (outcome.folder / "errors.csv").exists()
    assert not (inbox / "JAM" / "work_permits" / name).exists()
    # Kept raw before anything else, whatever became of it.
    assert outcome.landed.path.read_bytes() == body
    assert snapshot(loaded) == before


def test_errors_csv_lists_line_column_value_and_expected_and_neutralises_formulas(loaded, inbox, data_dir):
    formula = '=HYPERLINK("http://example.invalid","GUY")'
    outcome = send(inbox, loaded, data_dir, "p.csv", permits_csv(with_cell(0, "nationality_iso3", formula)))
    with open(outcome.errors_path, encoding="utf-8-sig", newline="") as f:
        (problem,) = list(csv.DictReader(f))
    assert (problem["line"], problem["column"]) == ("2", "nationality_iso3")
    assert problem["value"] == "'" + formula  # shown as text in Excel, never run
    assert "formula" in problem["expected"]


def test_an_accepted_file_replaces_the_countrys_periods_and_history_keeps_the_old_rows(
    loaded, inbox, data_dir
):
    first_upload = loaded.query("SELECT DISTINCT upload_id FROM core.work_permits")["upload_id"].tolist()
    correction = permits_csv(
        [*GOOD, ["JAM", "2024", "SEX_T", "Venezuela", "OCU_ISCO08_9", "NEW", "1,250", ""]]
    )

    outcome = send(inbox, loaded, data_dir, "correction 2023 (v2).csv", correction)

    assert outcome.status == "accepted", outcome.report_markdown
    current = loaded.query(
        "SELECT period, upload_id, raw_sha256, demonstration_data FROM core.work_permits "
        "WHERE period <> '2022'"
    )
    assert len(current) == 4 and set(current["upload_id"]) == {outcome.upload_id}
    assert set(current["raw_sha256"]) == {outcome.landed.sha256}
    assert not current["demonstration_data"].any()
    assert loaded.query(
        "SELECT permits_granted FROM core.work_permits WHERE period = '2024' AND nationality_iso3 = 'VEN'"
    )["permits_granted"].tolist() == [1250]
    # One current row per key: DuckDB keeps no index on it, the load itself keeps it.
    key = ", ".join(upload_dataset("work_permits").key_columns)
    repeated = loaded.query(f"SELECT {key} FROM core.work_permits GROUP BY ALL HAVING count(*) > 1")
    assert repeated.empty
    # 2022 was not in the file: its figures stay as they were.
    assert set(
        loaded.query("SELECT upload_id FROM core.work_permits WHERE period = '2022'")["upload_id"]
    ) == set(first_upload)
    # The replaced 2023 rows are still in the history, under their own upload id.
    history = loaded.query(
        "SELECT upload_id, count(*) AS n FROM uploads.work_permits WHERE period = '2023' "
        "GROUP BY 1 ORDER BY 1"
    )
    assert dict(zip(history["upload_id"], history["n"], strict=True)) == {
        first_upload[0]: 72,
        outcome.upload_id: 3,
    }
    report = outcome.report_path.read_text(encoding="utf-8")
    assert "replace the country's earlier figures" in report and first_upload[0] in report
    assert outcome.folder.parent == inbox / "accepted"
    assert (outcome.folder / "correction_2023_v2.csv").read_bytes() == correction


def test_the_same_file_twice_loads_once(loaded, inbox, data_dir):
    body = permits_csv(GOOD)
    first = send(inbox, loaded, data_dir, "a.csv", body)
    before = snapshot(loaded)

    again = send(inbox, loaded, data_dir, "a copy.csv", body)

    assert (first.status, again.status) == ("accepted", "duplicate")
    assert again.earlier_upload == first.upload_id
    assert first.upload_id in again.report_path.read_text(encoding="utf-8")
    assert (inbox / "duplicates" / again.upload_id / "a_copy.csv").read_bytes() == body
    assert snapshot(loaded) == before


def test_two_files_of_one_country_are_both_loaded_one_after_the_other(loaded, inbox, data_dir):
    permits_2021 = permits_csv([["JAM", "2021", *r[2:]] for r in GOOD])
    permits_2020 = permits_csv([["JAM", "2020", *r[2:]] for r in GOOD])
    outcomes = [
        send(inbox, loaded, data_dir, n, b) for n, b in (("a.csv", permits_2021), ("b.csv", permits_2020))
    ]
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    periods = loaded.query("SELECT DISTINCT period FROM core.work_permits ORDER BY 1")["period"].tolist()
    assert periods == ["2020", "2021", "2022", "2023"]


def test_file_names_are_never_trusted(loaded, inbox, data_dir, tmp_path):
    assert intake.safe_name("../../etc/passwd") == "passwd"
    assert intake.safe_name("..\\..\\boot.ini") == "boot.ini"
    assert intake.safe_name("permits; rm -rf $HOME\n.CSV") == "permits_rm_-rf_HOME.csv"
    assert intake.safe_name("...") == "upload"

    # A run's configuration could name any path: nothing outside the inbox is read.
    outside = tmp_path / "secret.csv"
    outside.write_bytes(permits_csv(GOOD))
    with pytest.raises(ValueError, match="not a file inside the inbox"):
        loading.process_upload(
            inbox / ".." / ".." / outside.name,
            dataset="work_permits",
            country="JAM",
            warehouse=loaded,
            raw_root=data_dir / "raw",
            uploader="test",
            inbox=inbox,
        )
    # A link in the inbox is set aside without being read.
    link = inbox / "JAM__work_permits__link.csv"
    link.symlink_to(outside)
    found = intake.identify(link, inbox)
    assert found.problem and "link" in found.problem
    outcome = loading.refuse_unidentified(found, inbox=inbox, raw_root=data_dir / "raw", uploader="test")
    assert outcome.landed is None and (outcome.folder / link.name).is_symlink()
    assert outside.exists()

    # Odd characters in a real upload's name: loaded, and filed under a safe name.
    outcome = send(inbox, loaded, data_dir, "permis 2023 «final» $(x).csv", permits_csv(GOOD))
    assert outcome.status == "accepted"
    assert [p.name for p in outcome.folder.iterdir() if p.suffix == ".csv"] == ["permis_2023_final_x.csv"]


def test_identify_reads_the_inbox_layout_and_the_file_name(inbox):
    (inbox / "Jamaica" / "trafficking_cases").mkdir(parents=True)
    by_folder = inbox / "Jamaica" / "trafficking_cases" / "2024.xlsx"
    by_name = inbox / "tto__seasonal_workers__q1.csv"
    unknown = inbox / "figures.csv"
    wrong_type = inbox / "JAM__work_permits__2024.pdf"
    for path in (by_folder, by_name, unknown, wrong_type):
        path.write_bytes(b"x")
    assert (intake.identify(by_folder, inbox).country, intake.identify(by_folder, inbox).dataset) == (
        "JAM",
        "trafficking_cases",
    )
    assert (intake.identify(by_name, inbox).country, intake.identify(by_name, inbox).dataset) == (
        "TTO",
        "seasonal_workers",
    )
    assert "does not say which country and dataset" in intake.identify(unknown, inbox).problem
    assert "not accepted" in intake.identify(wrong_type, inbox).problem


def test_cmc_validate_prints_each_problem_and_exits_1_unless_the_file_would_be_accepted(tmp_path):
    from cmc_pipeline.cli import main

    bad = tmp_path / "JAM__work_permits__2023.csv"
    bad.write_bytes(permits_csv(with_cell(1, "sex", "MALE")))
    result = CliRunner().invoke(main, ["validate", str(bad), "--dataset", "work_permits"])
    assert result.exit_code == 1
    assert "line 3, column 'sex': 'MALE' — one of SEX_T, SEX_M, SEX_F, SEX_O" in result.output
    assert "would be refused" in result.output

    good = DEMO / "TTO__work_permits__demonstration.xlsx"
    result = CliRunner().invoke(
        main, ["validate", str(good), "--dataset", "work_permits", "--country", "TTO"]
    )
    assert result.exit_code == 0, result.output
    assert "would be accepted" in result.output and "144 rows" in result.output


def test_cmc_validate_needs_no_dagster_and_no_warehouse(tmp_path):
    import os
    import subprocess
    import sys

    from cmc_pipeline.settings import PROJECT_DIR

    code = (
        "import sys; from cmc_pipeline.lib.uploads.checking import check_file; "
        f"check_file({str(DEMO / 'JAM__work_permits__demonstration.csv')!r}, 'work_permits', sender='JAM'); "
        "assert 'dagster' not in sys.modules, 'dagster was imported'"
    )
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=environment)


def test_csv_variants_offices_send_are_read_alike(tmp_path):
    """Excel's Windows CSV (cp1252, semicolons, a title line), country names, thousands
    separators and a note below the table give the same rows as the plain file."""
    plain = check_file(
        _write(tmp_path, "a.csv", permits_csv(GOOD)), "work_permits", sender="JAM", for_loading=True
    )
    lines = ["Work permits 2023;;;;;;;", ";".join(HEADER)]
    lines += [";".join(["Jamaïca" if i == 0 else c for i, c in enumerate(r)]) for r in GOOD]
    lines.append("Source: Ministry of Labour and Social Security")
    windows = ("\r\n".join(lines) + "\r\n").replace("Jamaïca", "Jamaica").encode("cp1252")
    excel = check_file(_write(tmp_path, "b.csv", windows), "work_permits", sender="JAM", for_loading=True)
    assert plain.accepted and excel.accepted, excel.report_lines()
    columns = HEADER
    assert excel.typed_rows().select(columns).equals(plain.typed_rows().select(columns))
    assert excel.table.ignored_rows[0]["row"] == 6


def test_the_fast_csv_reader_gives_what_the_strict_reader_gives(tmp_path):
    from cmc_pipeline.lib.uploads import reading

    rows = [
        ["JAM", "2023", s, n, f"OCU_ISCO08_{g}", "NEW", " 1,204 ", ""]
        for s in ("SEX_M", "SEX_F")
        for n in ("GUY", "VEN")
        for g in range(1, 10)
    ]
    # Title and note lines as Excel writes them: with every separator of the row.
    text = "Title line,,,,,,,\n" + permits_csv(rows).decode() + "Source: Ministry,,,,,,,\n"
    fast = reading._read_csv_fast(text.encode(), "x.csv", ",", HEADER, True)
    strict = reading._table_from_rows(
        list(csv.reader(io.StringIO(text))), "x.csv", HEADER, True, first_row_number=1
    )
    assert fast is not None
    assert fast.rows.equals(strict.rows)
    assert (fast.header_row, fast.ignored_rows) == (strict.header_row, strict.ignored_rows)
    # A file the fast reader cannot vouch for goes to the strict reader, which names the line.
    ragged = text.replace("GUY,", "GUY,extra,", 1).encode()
    assert reading._read_csv_fast(ragged, "x.csv", ",", HEADER, True) is None


def _write(folder: Path, name: str, body: bytes) -> Path:
    path = folder / name
    path.write_bytes(body)
    return path


def test_the_xlsx_template_lists_codes_as_drop_downs_and_reads_back_once_filled(tmp_path):
    from cmc_pipeline.lib.templates import template_bytes

    book = openpyxl.load_workbook(io.BytesIO(template_bytes("work_permits", "xlsx")))
    assert book.sheetnames == ["Instructions", "Data", "Lists"]
    data = book["Data"]
    assert [c.value for c in data[1]] == HEADER
    validations = {str(v.sqref).split(":")[0]: v for v in data.data_validations.dataValidation}
    assert validations["C2"].type == "list" and "Lists!" in validations["C2"].formula1
    assert validations["G2"].type == "whole"
    lists = book["Lists"]
    sex_column = next(c for c in lists[1] if c.value == "sex").column
    assert [lists.cell(r, sex_column).value for r in range(2, 6)] == ["SEX_T", "SEX_M", "SEX_F", "SEX_O"]
    instructions = " ".join(str(c.value) for row in book["Instructions"].iter_rows() for c in row if c.value)
    assert "cmc validate" in instructions and "permits_granted" in instructions

    for row in GOOD:
        data.append([*row[:6], int(row[6]), int(row[7])])
    filled = tmp_path / "JAM__work_permits__filled.xlsx"
    book.save(filled)
    assert check_file(filled, "work_permits", sender="JAM").accepted


def test_upload_marts_aggregate_the_region_and_exports_protect_small_counts(warehouse, data_dir):
    from cmc_pipeline.lib import marts
    from cmc_pipeline.lib.exports import export_marts

    core_tables.build_dim_country(warehouse)
    for dataset in ("work_permits", "trafficking_cases"):
        loading.load_demonstration_uploads(dataset, ["JAM", "BRB", "TTO"], warehouse, data_dir / "raw")
        marts.build_upload_mart(warehouse, dataset)
    region = warehouse.query(
        "SELECT permits_granted, countries_reporting, countries, demonstration_data FROM marts.work_permits "
        "WHERE area_code = 'CMC' AND period = '2023' AND sex = 'SEX_T' AND nationality_iso3 = 'GUY' "
        "AND occupation = 'OCU_ISCO08_2' AND permit_type = 'NEW'"
    ).iloc[0]
    by_country = warehouse.query(
        "SELECT sum(permits_granted) AS n FROM core.work_permits WHERE period = '2023' AND sex = 'SEX_T' "
        "AND nationality_iso3 = 'GUY' AND occupation = 'OCU_ISCO08_2' AND permit_type = 'NEW'"
    )["n"].iloc[0]
    assert region.permits_granted == by_country
    assert (region.countries_reporting, region.countries) == (3, "BRB JAM TTO")
    assert region.demonstration_data

    public = export_marts(warehouse, data_dir / "public", audience="public", formats=("csv",))
    assert "marts.trafficking_cases" in {s["table"] for s in public.skipped}
    members = export_marts(warehouse, data_dir / "members", audience="members", formats=("csv",))
    files = {f["table"]: f for f in members.files}
    assert files["marts.trafficking_cases"]["cells_suppressed"] > 0
    assert files["marts.work_permits"]["cells_suppressed"] > 0
    exported = (data_dir / "members" / "marts_trafficking_cases.csv").read_text(encoding="utf-8-sig")
    shown = [float(r["persons"]) for r in csv.DictReader(io.StringIO(exported)) if r["persons"]]
    assert not [n for n in shown if 0 < n < 5]
