"""The portal in a real browser (Debian's chromium, driven by Playwright), served by the
same WSGI server as ``cmc portal``: an officer signs in, downloads a template, sends a good
and a broken file, reads the report, switches language; another country's officer cannot
open those pages, by link or typed address."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from cmc_pipeline_tests.headless_chromium import CHROMIUM_MISSING
from cmc_pipeline_tests.portal_fixtures import JAM_PERMITS, PASSWORD
from cmc_pipeline_tests.portal_fixtures import portal_app as portal_app  # the fixture


@pytest.fixture
def portal_url(portal_app):
    import waitress

    server = waitress.create_server(portal_app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, CHROMIUM_MISSING
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _sign_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")


def test_an_officer_sends_files_and_reads_the_report_in_their_language(portal_url, browser, tmp_path: Path):
    from openpyxl import load_workbook

    context = browser.new_context(
        accept_downloads=True, locale="en-GB", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(portal_url) else None)
    _sign_in(page, portal_url, "jam.officer@labour.gov.jm")
    assert page.url == f"{portal_url}/c/JAM"
    assert page.inner_text("h1") == "Jamaica (JAM)"
    assert page.locator("#work_permits tr.state-not_received").count() == 5
    # On a phone: nothing wider than the screen but the tables, which scroll on their own.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    with page.expect_download() as download:
        page.click("#work_permits a:has-text('XLSX')")
    template = tmp_path / download.value.suggested_filename
    download.value.save_as(template)
    assert template.name == "JAM__work_permits__template.xlsx"
    workbook = load_workbook(template)
    assert "JAM (Jamaica)" in workbook["Instructions"]["A1"].value
    assert [c.value for c in workbook["Data"][1]][:2] == ["country_iso3", "period"]
    (country_list,) = [v for v in workbook["Data"].data_validations.dataValidation if "A2:" in str(v.sqref)]
    assert country_list.formula1 == '"JAM"'  # the country column offers Jamaica alone

    page.click("#work_permits a:has-text('Send a file')")
    page.set_input_files("#file", str(JAM_PERMITS))
    page.click("button:has-text('Check and send')")
    assert "Accepted: the file passed every check" in page.inner_text("#verdict")
    assert page.inner_text("#state") == "accepted"

    broken = tmp_path / "JAM work permits 2023 (corrected).csv"
    lines = JAM_PERMITS.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("SEX_F", "Female")
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.goto(f"{portal_url}/c/JAM/upload?dataset=work_permits")
    page.set_input_files("#file", str(broken))
    page.click("button:has-text('Check and send')")
    assert "Refused: nothing from this file was loaded" in page.inner_text("#verdict")
    row = page.locator("table.problems tbody tr").first.locator("td").all_inner_texts()
    assert row[:3] == ["4", "sex", "Female"]
    assert row[3] == "one of SEX_T, SEX_M, SEX_F, SEX_O"
    assert row[4] == "Choose the code from the template's drop-down list."
    report_url = page.url

    page.select_option("#language", "fr")
    page.click("button:has-text('Change')")
    assert page.url == report_url
    assert "Refusé : rien de ce fichier n'a été chargé" in page.inner_text("#verdict")
    assert page.locator("table.problems th").all_inner_texts()[-1] == "Comment corriger"
    assert "l'un de ceux-ci : SEX_T, SEX_M, SEX_F, SEX_O" in page.inner_text("table.problems")
    page.goto(f"{portal_url}/c/JAM")
    # The latest file of 2022 and 2023 was refused: that is what the officer has to act on.
    for period in ("2022", "2023"):
        row = page.locator(f"#work_permits tr:has(td:text-is('{period}'))")
        assert row.get_attribute("class") == "state-rejected"
        assert row.locator("td").nth(2).inner_text() == "refusé"
    assert outside == []  # no CDN, no font, nothing but the portal itself

    # Another country's officer, with the addresses in hand.
    other = browser.new_context(locale="nl-NL").new_page()
    _sign_in(other, portal_url, "brb.officer@labour.gov.bb")
    assert other.url == f"{portal_url}/c/BRB"
    assert other.inner_text("h1").endswith("(BRB)")
    other.set_content(f'<a id="shared" href="{report_url}">report</a>')  # a link sent by e-mail
    other.click("#shared")
    assert "Deze pagina bestaat niet, of is niet voor u bestemd." in other.inner_text("main")
    for typed in (f"{portal_url}/c/JAM", f"{report_url}/original", f"{portal_url}/c/JAM/history"):
        answer = other.goto(typed)
        assert answer.status == 404, typed
        assert "Jamaica" not in other.inner_text("main")
    context.close()
