"""The portal over HTTP, as a browser or an attacker would use it: signing in, throttling,
CSRF, file uploads that are too big, binary, badly named or carry formulas, sessions after
logout, who may open which country's pages, the proxy's single sign-on, and a file's
state following the pipeline from the inbox to the mart."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

from cmc_pipeline import settings
from cmc_pipeline.lib.uploads import intake
from cmc_pipeline.portal.app import SENSOR_SHA_TAG
from cmc_pipeline_tests.portal_fixtures import (
    BRB_PERMITS,
    JAM_PERMITS,
    PASSWORD,
    csrf_token,
    send_file,
    sign_in,
)
from cmc_pipeline_tests.portal_fixtures import portal_app as portal_app  # the fixture

JAM = "jam.officer@labour.gov.jm"
BRB = "brb.officer@labour.gov.bb"


def _audit(portal_app) -> list[tuple[str | None, str]]:
    return [(e["who"], e["action"]) for e in portal_app.extensions["cmc_store"].audit_entries()]


def _inbox_files() -> list:
    inbox = settings.inbox_dir()
    return sorted(p for p in inbox.rglob("*") if p.is_file()) if inbox.exists() else []


def test_a_wrong_password_is_refused_and_logged(portal_app):
    client = portal_app.test_client()
    answer = sign_in(client, JAM, "not the password")
    assert answer.status_code == 401
    assert "Wrong e-mail or password." in answer.get_data(as_text=True)
    assert client.get("/c/JAM").status_code == 302  # still signed out: to the login page
    assert (JAM, "login failed") in _audit(portal_app)
    # An unknown account gets the same answer, so the form does not tell which e-mails exist.
    unknown = sign_in(client, "nobody@example.org", "not the password")
    assert unknown.status_code == 401 and "Wrong e-mail or password." in unknown.get_data(as_text=True)


def test_failed_logins_are_throttled_even_with_the_right_password_after(portal_app):
    client = portal_app.test_client()
    for _ in range(5):
        assert sign_in(client, JAM, "guessing again").status_code == 401
    blocked = sign_in(client, JAM, PASSWORD)
    assert blocked.status_code == 429
    assert "Wait 15 minutes" in blocked.get_data(as_text=True)
    assert (JAM, "refused: login throttled") in _audit(portal_app)
    # Another account from elsewhere is not locked out by these attempts.
    assert sign_in(portal_app.test_client(), BRB).status_code == 303


def test_forms_without_a_csrf_token_are_refused(portal_app):
    client = portal_app.test_client()
    no_token = client.post("/login", data={"email": JAM, "password": PASSWORD})
    assert no_token.status_code == 400
    assert "This form has expired" in no_token.get_data(as_text=True)
    assert sign_in(client, JAM).status_code == 303
    upload = client.post(
        "/c/JAM/upload",
        data={"dataset": "work_permits", "file": (io.BytesIO(JAM_PERMITS.read_bytes()), "jam.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 400
    assert _inbox_files() == []
    assert (JAM, "refused: missing or wrong CSRF token") in _audit(portal_app)


def test_a_good_file_is_checked_at_once_and_placed_in_the_inbox_for_the_sensor(portal_app):
    client = portal_app.test_client()
    sign_in(client, JAM)
    answer = send_file(client, "JAM", "work_permits", JAM_PERMITS.read_bytes(), "permits 2023.csv")
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Accepted: the file passed every check" in page
    (placed,) = _inbox_files()
    assert placed.read_bytes() == JAM_PERMITS.read_bytes()
    found = intake.identify(placed, settings.inbox_dir())
    assert (found.country, found.dataset, found.problem) == ("JAM", "work_permits", None)
    assert [f.path for f in intake.waiting_files(settings.inbox_dir(), settle_seconds=0)] == [placed]


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(portal_app):
    portal_app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    client = portal_app.test_client()
    sign_in(client, JAM)
    big = JAM_PERMITS.read_bytes() * 20  # about 150 kB
    answer = send_file(client, "JAM", "work_permits", big, "big.csv")
    assert answer.status_code == 413
    assert "larger than the portal accepts" in answer.get_data(as_text=True)
    assert _inbox_files() == []
    assert not (settings.portal_dir() / "submissions").exists()


def test_a_binary_file_named_csv_is_refused_with_a_reason(portal_app):
    client = portal_app.test_client()
    sign_in(client, JAM)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    answer = send_file(client, "JAM", "work_permits", png, "figures.csv")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Refused: nothing from this file was loaded" in page
    assert "This is not a CSV text file" in page
    assert _inbox_files() == []
    kept = settings.portal_dir() / "submissions" / "1"
    assert (kept / "original.bin").read_bytes() == png  # kept as sent, never as a .csv


def test_a_file_name_climbing_out_of_a_folder_is_never_used_as_a_path(portal_app, data_dir):
    client = portal_app.test_client()
    sign_in(client, JAM)
    answer = send_file(client, "JAM", "work_permits", JAM_PERMITS.read_bytes(), "../../../../escaped.csv")
    assert answer.status_code == 303
    (placed,) = _inbox_files()
    assert placed.parent == settings.inbox_dir() / "JAM" / "work_permits"
    assert placed.name == "portal-1-escaped.csv"
    assert not any(p.name.startswith("escaped") for p in data_dir.parent.rglob("escaped*"))
    assert sorted(p.name for p in (settings.portal_dir() / "submissions" / "1").iterdir()) == [
        "original.csv",
        "report.md",
    ]


def test_a_formula_cell_is_refused_and_shown_and_downloaded_as_text(portal_app):
    client = portal_app.test_client()
    sign_in(client, JAM)
    body = JAM_PERMITS.read_bytes().replace(b"SEX_M", b'"=HYPERLINK(""http://attacker.example/"")"', 1)
    answer = send_file(client, "JAM", "work_permits", body, "permits.csv")
    report_url = answer.headers["Location"]
    page = client.get(report_url).get_data(as_text=True)
    assert "A spreadsheet formula is not data." in page
    assert "&#39;=HYPERLINK(" in page  # shown with the apostrophe a spreadsheet reads as text
    errors = client.get(report_url + "/errors.csv")
    assert errors.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(errors.get_data().decode("utf-8-sig"))))
    assert rows[0]["value"].startswith("'=HYPERLINK(")
    assert rows[0]["line"] == "3" and rows[0]["column"] == "sex"
    assert _inbox_files() == []


def test_a_session_cookie_copied_before_logout_opens_nothing_after(portal_app):
    client = portal_app.test_client()
    sign_in(client, JAM)
    cookie = client.get_cookie("cmc_portal_session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert client.get("/c/JAM").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/c/JAM")})
    thief = portal_app.test_client()
    thief.set_cookie("cmc_portal_session", cookie.value)
    answer = thief.get("/c/JAM")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_an_officer_reaches_only_their_countrys_pages_whatever_the_url(portal_app):
    barbados = portal_app.test_client()
    sign_in(barbados, BRB)
    sent = send_file(barbados, "BRB", "work_permits", BRB_PERMITS.read_bytes(), "brb.csv")
    brb_submission = sent.headers["Location"]  # /c/BRB/submissions/1
    jamaica = portal_app.test_client()
    sign_in(jamaica, JAM)
    for url in (
        "/c/BRB",
        "/c/brb/history",
        "/c/BRB/upload",
        "/c/BRB/templates/work_permits.xlsx",
        brb_submission,
        brb_submission + "/original",
        brb_submission + "/errors.csv",
        "/c/JAM/submissions/1",  # Barbados's submission under Jamaica's address
        "/c/JAM/submissions/1/original",
        "/admin/audit",
    ):
        answer = jamaica.get(url)
        assert answer.status_code == 404, url
        assert "not yours to see" in answer.get_data(as_text=True)
    assert barbados.get(brb_submission + "/original").get_data() == BRB_PERMITS.read_bytes()
    assert (JAM, "refused: see") in _audit(portal_app)


def test_an_analyst_sees_every_countrys_state_but_no_raw_file(portal_app):
    barbados = portal_app.test_client()
    sign_in(barbados, BRB)
    send_file(barbados, "BRB", "work_permits", BRB_PERMITS.read_bytes(), "brb.csv")
    analyst = portal_app.test_client()
    sign_in(analyst, "analyst@cmc.invalid")
    assert analyst.get("/c/BRB").status_code == 200
    overview = analyst.get("/").get_data(as_text=True)
    barbados_row = overview.split('id="country-BRB"')[1].split("</tr>")[0]
    # The file sent covers 2022 and 2023; what every dataset owes now is 2025.
    assert barbados_row.count('class="state-not_received"') == 5
    assert "Suriname (SUR)" in overview and overview.count('<tr id="country-') == 25
    history = analyst.get("/c/BRB/history").get_data(as_text=True)
    assert "accepted" in history and "/c/BRB/submissions/1" not in history
    for url in ("/c/BRB/submissions/1", "/c/BRB/submissions/1/original", "/c/BRB/upload"):
        assert analyst.get(url).status_code == 404, url
    admin = portal_app.test_client()
    sign_in(admin, "admin@cmc.invalid")
    assert admin.get("/c/BRB/submissions/1").status_code == 200
    assert admin.get("/c/BRB/submissions/1/original").status_code == 404  # the country's officers only
    log = admin.get("/admin/audit").get_data(as_text=True)
    assert "upload accepted" in log and "127.0.0.1" in log


def test_security_headers_and_no_stack_trace_when_something_breaks(portal_app):
    client = portal_app.test_client()
    login = client.get("/login")
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    assert login.headers["X-Content-Type-Options"] == "nosniff"
    sign_in(client, JAM)
    sent = send_file(client, "JAM", "work_permits", JAM_PERMITS.read_bytes(), "jam.csv")
    (settings.portal_dir() / "submissions" / "1" / "report.md").unlink()  # a disk losing a file
    broken = client.get(sent.headers["Location"] + "/report.md")
    text = broken.get_data(as_text=True)
    assert broken.status_code == 500
    assert "Something went wrong on our side" in text
    assert "Traceback" not in text and "FileNotFoundError" not in text
    assert str(settings.portal_dir()) not in text  # no server path either


def test_the_proxys_sign_on_header_counts_only_when_configured_and_from_the_proxy(portal_app):
    header = {"X-Remote-User": JAM}
    # Not configured: the header is ignored.
    assert portal_app.test_client().get("/c/JAM", headers=header).status_code == 302
    from cmc_pipeline.portal.app import create_app

    proxied = create_app({"TRUSTED_PROXY": "10.0.0.5", "SSO_HEADER": "X-Remote-User"})
    from_proxy = proxied.test_client().get(
        "/c/JAM",
        headers={**header, "X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert from_proxy.status_code == 200 and "Jamaica (JAM)" in from_proxy.get_data(as_text=True)
    # The audit log names the office's address the proxy forwarded, not the proxy's.
    entries = proxied.extensions["cmc_store"].audit_entries()
    assert (entries[0]["who"], entries[0]["address"]) == (JAM, "203.0.113.7")
    # The same header from anywhere else is a typed header, not a sign-on.
    typed = proxied.test_client().get("/c/JAM", headers=header, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert typed.status_code == 302
    # Signed in through the proxy, still only one's own country.
    other = proxied.test_client().get("/c/BRB", headers=header, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert other.status_code == 404


def test_a_files_state_follows_the_pipeline_from_the_inbox_to_the_mart(portal_app, warehouse, monkeypatch):
    from cmc_pipeline.lib import core_tables, marts

    # The contract rules run in DuckDB only: Great Expectations' start-up would be most of
    # this test's time, and its results are tested with the warehouse's own tests.
    monkeypatch.setenv("CMC_GX_MAX_ROWS", "0")
    from cmc_pipeline.lib.uploads.loading import process_upload

    client = portal_app.test_client()
    sign_in(client, JAM)
    sent = send_file(client, "JAM", "work_permits", JAM_PERMITS.read_bytes(), "jam.csv")
    submission_url = sent.headers["Location"]
    assert '<tr class="state-accepted"><td>2023</td>' in client.get("/c/JAM").get_data(as_text=True)
    # What the upload_inbox sensor's run does with the file.
    (placed,) = _inbox_files()
    outcome = process_upload(
        placed,
        dataset="work_permits",
        country="JAM",
        warehouse=warehouse,
        raw_root=settings.raw_dir(),
        uploader="inbox",
        inbox=settings.inbox_dir(),
    )
    assert outcome.status == "accepted"
    portal_app.config["DAGSTER_URL"] = "https://dagster.cmc.example"
    page = client.get(submission_url).get_data(as_text=True)
    assert 'id="state">loaded<' in page and outcome.upload_id in page
    # The run: the Dagster UI's runs filtered by the tag the sensor gives a file's run.
    sha = hashlib.sha256(JAM_PERMITS.read_bytes()).hexdigest()
    assert f'href="https://dagster.cmc.example/runs?q%5B%5D=tag%3Acmc%2Fupload_sha256%3D{sha}"' in page
    sensor_code = (settings.PACKAGE_DIR / "defs" / "uploads" / "sensors.py").read_text()
    assert f'SHA_TAG = "{SENSOR_SHA_TAG}"' in sensor_code
    core_tables.build_dim_country(warehouse)
    marts.build_upload_mart(warehouse, "work_permits")
    home = client.get("/c/JAM").get_data(as_text=True)
    assert '<tr class="state-published"><td>2023</td>' in home
    assert "Latest figures loaded: 2023" in home
    assert '<tr class="state-not_received"><td>2024</td>' in home
    history = client.get("/c/JAM/history").get_data(as_text=True)
    assert outcome.upload_id in history and "published" in history


def test_the_reporting_calendar_follows_the_contracts_cadence():
    from cmc_pipeline.portal.reporting import owed_periods

    owed = owed_periods("work_permits", date(2026, 11, 30), count=3)
    # Yearly, with 90 days' latency (data_contracts/uploads.work_permits.odcs.yaml).
    assert [(p.period, p.deadline.isoformat()) for p in owed] == [
        ("2025", "2026-03-31"),
        ("2024", "2025-03-31"),
        ("2023", "2024-03-30"),
    ]
    # Further back, to the earliest period a country has sent, so its figures keep a row.
    assert [p.period for p in owed_periods("work_permits", date(2031, 5, 1), count=2, back_to="2022")] == [
        "2030",
        "2029",
        "2028",
        "2027",
        "2026",
        "2025",
        "2024",
        "2023",
        "2022",
    ]


def test_add_user_reads_the_password_from_standard_input(data_dir):
    from click.testing import CliRunner

    from cmc_pipeline.cli import main
    from cmc_pipeline.portal.auth import check_password
    from cmc_pipeline.portal.store import Store

    result = CliRunner().invoke(
        main,
        [
            "portal",
            "add-user",
            "Officer@Gov.SR",
            "--country",
            "SUR",
            "--country",
            "Curaçao",
            "--role",
            "officer",
        ],
        input="een lang wachtwoord\n",
    )
    assert result.exit_code == 0, result.output
    assert "officer@gov.sr: officer for CUW, SUR" in result.output
    store = Store(settings.portal_db())
    assert check_password(store, "officer@gov.sr", "een lang wachtwoord")
    assert store.password_hash("officer@gov.sr").startswith("$argon2id$")
    short = CliRunner().invoke(main, ["portal", "add-user", "x@gov.sr", "--role", "admin"], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    nowhere = CliRunner().invoke(
        main, ["portal", "add-user", "y@gov.sr", "--role", "officer"], input="x" * 12
    )
    assert nowhere.exit_code != 0 and "needs at least one --country" in nowhere.output


def test_a_file_sent_with_cmc_upload_shows_as_received_until_the_pipeline_reads_it(portal_app):
    from click.testing import CliRunner

    from cmc_pipeline.cli import main

    result = CliRunner().invoke(
        main, ["upload", str(JAM_PERMITS), "--dataset", "work_permits", "--country", "Jamaica"]
    )
    assert result.exit_code == 0, result.output
    client = portal_app.test_client()
    sign_in(client, JAM)
    home = client.get("/c/JAM").get_data(as_text=True)
    # Its periods are unknown until it is read: every period not yet loaded may be in it.
    assert home.count('<tr class="state-received">') == 5  # work_permits' five periods
    assert '<tr class="state-not_received"><td>2025</td>' in home  # the other datasets
    history = client.get("/c/JAM/history").get_data(as_text=True)
    assert "Waiting in the inbox for the pipeline (work_permits): 1" in history


def test_an_analyst_sees_the_counts_a_members_export_hides_as_hidden(
    portal_app, warehouse, monkeypatch, tmp_path
):
    """The portal shows the members' release: the country's officer sees every figure with
    its CONF_STATUS; an analyst sees the code where the export leaves the count empty."""
    import re

    import pandas as pd

    from cmc_pipeline.lib import core_tables, marts
    from cmc_pipeline.lib.exports import export_marts
    from cmc_pipeline.lib.uploads.loading import process_upload

    monkeypatch.setenv("CMC_GX_MAX_ROWS", "0")
    for iso3, path in (("JAM", JAM_PERMITS), ("BRB", BRB_PERMITS)):
        outcome = process_upload(
            path,
            dataset="work_permits",
            country=iso3,
            warehouse=warehouse,
            raw_root=settings.raw_dir(),
            uploader="test",
        )
        assert outcome.status == "accepted"
    core_tables.build_dim_country(warehouse)
    marts.build_upload_mart(warehouse, "work_permits")
    export_marts(warehouse, tmp_path / "members", audience="members", formats=("csv",))
    exported = pd.read_csv(tmp_path / "members" / "marts_work_permits.csv", keep_default_na=False)
    latest = exported[(exported["area_code"] == "JAM")]
    latest = latest[latest["period"].astype(str) == latest["period"].astype(str).max()]
    hidden = latest[latest["permits_granted_conf_status"] != "F"]
    assert len(hidden) > 0

    def cells(page: str) -> list[tuple[str, str]]:
        return re.findall(r'<td class="confidential" data-conf-status="([CD])">([^<]*)<abbr', page)

    officer = portal_app.test_client()
    sign_in(officer, JAM)
    own = cells(officer.get("/c/JAM").get_data(as_text=True))
    analyst = portal_app.test_client()
    sign_in(analyst, "analyst@cmc.invalid")
    page = analyst.get("/c/JAM").get_data(as_text=True)
    shared = cells(page)
    # The page lists the first rows of the latest period in key order: the codes it shows
    # are the export's, row for row.
    from cmc_pipeline.portal.app import FIGURES_SHOWN

    keys = ["period", "sex", "nationality_iso3", "occupation", "permit_type"]
    shown = latest.astype({k: str for k in keys}).sort_values(keys).head(FIGURES_SHOWN)
    expected = [c for c in shown["permits_granted_conf_status"] if c != "F"]
    assert expected and [code for code, _ in shared] == expected == [code for code, _ in own]
    assert all(value.strip() == "" for _, value in shared)  # the analyst gets no number
    assert all(value.strip().isdigit() for _, value in own)  # the officer sees their own
    assert "members' exports do (SDMX CONF_STATUS)" in page
