"""Reading national uploads: the encodings, separators and workbook shapes offices send,
and a clear refusal, naming the place, for everything that is not a data table."""

from __future__ import annotations

import zipfile

import openpyxl
import pytest

from cmc_pipeline.lib.uploads.reading import UploadReadError, read_upload

COLUMNS = ["country", "period", "sex", "permits_issued"]


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def first_row(table) -> dict:
    return table.rows.slice(0, 1).to_pylist()[0]


def refusal(path, **kwargs) -> str:
    with pytest.raises(UploadReadError) as error:
        read_upload(path, expected_columns=COLUMNS, **kwargs)
    return str(error.value)


def test_excel_windows_csv_with_semicolons_and_accents(tmp_path):
    data = "country;period;sex;permits_issued\r\nCuraçao;2023;SEX_F;1 204\r\n".encode("cp1252")
    table = read_upload(write(tmp_path, "permits.csv", data), expected_columns=COLUMNS)
    assert (table.encoding, table.delimiter) == ("windows-1252", ";")
    assert first_row(table) == {
        "country": "Curaçao",
        "period": "2023",
        "sex": "SEX_F",
        "permits_issued": "1 204",  # kept as typed: `tidy` reads the count (test below)
        "source_row_number": 2,
    }


def test_utf8_bom_and_header_case_are_accepted(tmp_path):
    data = "\ufeffCountry,Period,Sex,Permits issued\n".encode() + b'JAM,2023,SEX_T,"1,250"\n'
    table = read_upload(write(tmp_path, "p.csv", data), expected_columns=COLUMNS)
    assert table.rows.column_names == [*COLUMNS, "source_row_number"]
    assert first_row(table)["permits_issued"] == "1,250"
    assert first_row(table)["source_row_number"] == 2


def test_a_column_named_twice_in_the_header_is_refused_with_its_letters(tmp_path):
    data = b"country,period,sex,permits_issued,sex\nJAM,2023,SEX_T,5,SEX_F\n"
    message = refusal(write(tmp_path, "twice.csv", data))
    assert "the header names 'sex' in columns C and E: keep one column of each name (row 1" in message


def test_spaces_inside_numbers_are_read_as_thousands_separators(tmp_path):
    """1 204 with a no-break space (Excel in French and Spanish locales) is 1204."""
    from cmc_pipeline.lib.uploads.checking import tidy
    from cmc_pipeline.lib.uploads.datasets import upload_dataset

    spec = upload_dataset("work_permits")
    header = ",".join(spec.file_columns)
    data = f'{header}\nJAM,2023,SEX_T,GUY,OCU_ISCO08_2,NEW,1\u00a0204,"2,500"\n'.encode()
    table = read_upload(write(tmp_path, "p.csv", data), expected_columns=spec.file_columns)
    rows = tidy(table.rows, spec)
    assert rows.column("permits_granted").to_pylist() == ["1204"]
    assert rows.column("applications_received").to_pylist() == ["2500"]


def test_a_separated_count_among_plain_ones_is_still_read(tmp_path):
    """A column of plain digits is left as typed without looking for separators; one value
    written with a separator among them is still read as its number."""
    from cmc_pipeline.lib.uploads.checking import tidy
    from cmc_pipeline.lib.uploads.datasets import upload_dataset

    spec = upload_dataset("work_permits")
    header = ",".join(spec.file_columns)
    lines = [f"JAM,2023-M0{m},SEX_T,GUY,OCU_ISCO08_2,NEW,{m}0,5" for m in range(1, 4)]
    lines.append('JAM,2023-M04,SEX_T,GUY,OCU_ISCO08_2,NEW,"1,204",7')
    table = read_upload(
        write(tmp_path, "p.csv", "\n".join([header, *lines]).encode()), expected_columns=spec.file_columns
    )
    rows = tidy(table.rows, spec)
    assert rows.column("permits_granted").to_pylist() == ["10", "20", "30", "1204"]
    assert rows.column("applications_received").to_pylist() == ["5", "5", "5", "7"]


def test_utf8_with_accents_is_read_as_utf8(tmp_path):
    data = "country,period,sex,permits_issued\nCuraçao,2023,SEX_F,12\n".encode()
    table = read_upload(write(tmp_path, "permits.csv", data), expected_columns=COLUMNS)
    assert table.encoding == "utf-8"
    assert first_row(table)["country"] == "Curaçao"


def test_empty_and_header_only_files_are_refused(tmp_path):
    assert "empty" in refusal(write(tmp_path, "e.csv", b"  \n"))
    assert "no data rows" in refusal(write(tmp_path, "h.csv", b"country,period,sex,permits_issued\n"))


def test_a_binary_file_named_csv_is_refused(tmp_path):
    assert "binary file" in refusal(write(tmp_path, "x.csv", b"\x00\x01\x02garbage" * 10))


def test_wrong_dataset_says_which_columns_were_expected(tmp_path):
    message = refusal(write(tmp_path, "x.csv", b"agency,licences\nA,1\n"))
    assert "no header row" in message and "permits_issued" in message


def test_a_formula_in_a_text_cell_is_refused_with_its_place(tmp_path):
    data = b'country,period,sex,permits_issued\n"=HYPERLINK(""http://x"",""JAM"")",2023,SEX_T,5\n'
    message = refusal(write(tmp_path, "f.csv", data))
    assert "formula" in message and "row 2" in message and "'country'" in message


def workbook(tmp_path, name="w.xlsx", title_rows=0, rows=None, merge=None):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Permits 2023"
    for index in range(title_rows):
        sheet.append([f"Ministry of Labour — work permits, title line {index + 1}"])
    if title_rows:
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=4)
    sheet.append(COLUMNS)
    for row in rows or [["Jamaica", 2023, "SEX_T", 12]]:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    path = tmp_path / name
    book.save(path)
    return path


def test_xlsx_header_is_found_below_merged_title_rows(tmp_path):
    table = read_upload(workbook(tmp_path, title_rows=3), expected_columns=COLUMNS)
    assert table.header_row == 4 and table.sheet == "Permits 2023"
    assert first_row(table)["country"] == "Jamaica"
    assert first_row(table)["source_row_number"] == 5  # the row number Excel shows


def test_merged_cells_inside_the_data_are_refused(tmp_path):
    path = workbook(
        tmp_path, rows=[["Jamaica", 2023, "SEX_T", 12], ["Jamaica", 2023, "SEX_F", 7]], merge="A2:A3"
    )
    assert "merged cells inside the table" in refusal(path) and "A2:A3" in refusal(path)


def test_a_formula_cell_in_a_workbook_is_refused(tmp_path):
    path = workbook(tmp_path, rows=[["Jamaica", 2023, "SEX_T", "=5+7"]])
    message = refusal(path)
    assert "formula" in message and "row 2" in message and "'permits_issued'" in message


def test_an_xlsx_that_is_not_a_zip_is_refused(tmp_path):
    assert "not an Excel workbook" in refusal(write(tmp_path, "fake.xlsx", b"country,period\nJAM,2023\n"))


def test_a_workbook_that_unpacks_to_a_huge_size_is_not_opened(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (50 * 1024 * 1024))
    assert "would unpack to" in refusal(path)


def test_footnotes_are_skipped_only_when_the_dataset_allows_it(tmp_path):
    data = b"country,period,sex,permits_issued\nJAM,2023,SEX_T,5\nSource: Ministry of Labour,,,\n"
    path = write(tmp_path, "n.csv", data)
    assert "a note below the table" in refusal(path)
    table = read_upload(path, expected_columns=COLUMNS, allow_footnotes=True)
    assert table.rows.num_rows == 1 and table.ignored_rows[0]["row"] == 3
