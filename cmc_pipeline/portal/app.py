"""The data officers' portal: a Flask application over the pipeline's own upload library.

An officer signs in, sees what their country owes, downloads a template, sends a file and
reads the check's report at once, in their language; an accepted file goes to the inbox
the ``upload_inbox`` sensor reads, exactly as ``cmc upload`` puts it there, and its state
then follows the pipeline's records. Checking is ``lib/uploads/checking.check_file``, the
code ``cmc validate`` and the pipeline run: there is no second validator.

Every page of a country goes through :func:`_country`, which answers 404 (never a hint
that the country's pages exist) to anyone the country is not theirs to see, whatever the
URL; a submission is also looked up under its country, so changing a number in a link
opens nothing of another country.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from cmc_pipeline import settings
from cmc_pipeline.lib.reference import countries
from cmc_pipeline.lib.sharing import FORMULA_STARTS
from cmc_pipeline.lib.uploads import intake, reports
from cmc_pipeline.lib.uploads.checking import READABLE_FILE, Problem, check_file
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, upload_dataset
from cmc_pipeline.lib.uploads.templates import template_bytes
from cmc_pipeline.portal import auth, i18n, reporting
from cmc_pipeline.portal.store import Store, User, stamp

log = logging.getLogger(__name__)

# The tag the upload_inbox sensor (defs/uploads/sensors.py) puts on each file's run; named
# here rather than imported so the portal never loads Dagster.
SENSOR_SHA_TAG = "cmc/upload_sha256"

DEFAULT_MAX_UPLOAD_MB = 50
TEMPLATE_FORMATS = ("xlsx", "csv")
# Binary formats people send by mistake, by their first bytes: refused before reading.
BINARY_SIGNATURES = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\xd0\xcf\x11\xe0",  # an old .xls workbook or a Word document
    b"MZ",
    b"\x7fELF",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
)
BINARY_MESSAGE = "this is a binary file, not a CSV text file (was a workbook renamed to .csv?)"
REASON_MAX = 500
FIGURES_SHOWN = 20  # rows of the latest period shown on a country's page


def _secret_key(folder: Path) -> str:
    """``CMC_PORTAL_SECRET_KEY``, or a random key made once and kept (mode 600) beside the
    database, so restarting the portal does not void every form open in a browser."""
    if os.environ.get("CMC_PORTAL_SECRET_KEY"):
        return os.environ["CMC_PORTAL_SECRET_KEY"]
    path = folder / "secret_key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def portal_config() -> dict:
    """The portal's settings, from the environment (README, "Configuration")."""
    return {
        "PORTAL_DIR": settings.portal_dir(),
        "PORTAL_DB": settings.portal_db(),
        "MAX_CONTENT_LENGTH": int(
            float(os.environ.get("CMC_PORTAL_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 2**20
        ),
        "HTTPS": os.environ.get("CMC_PORTAL_HTTPS", "") == "1",
        "TRUSTED_PROXY": os.environ.get("CMC_PORTAL_TRUSTED_PROXY", ""),
        "SSO_HEADER": os.environ.get("CMC_PORTAL_SSO_HEADER", ""),
        "DAGSTER_URL": os.environ.get("CMC_PORTAL_DAGSTER_URL", "").rstrip("/"),
    }


def create_app(overrides: dict | None = None) -> Flask:
    config = {**portal_config(), **(overrides or {})}
    app = Flask(__name__)
    app.config.update(config)
    folder = Path(config["PORTAL_DIR"])
    app.config.update(
        SECRET_KEY=_secret_key(folder),
        SESSION_COOKIE_NAME="cmc_portal_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config["HTTPS"],
        PREFERRED_URL_SCHEME="https" if config["HTTPS"] else "http",
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session, which expires on its own
        BABEL_TRANSLATION_DIRECTORIES=str(i18n.compile_catalogues(folder / "compiled_translations")),
        BABEL_DEFAULT_LOCALE="en",
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
    )
    store = Store(Path(config["PORTAL_DB"]))
    store.delete_expired_sessions()
    app.extensions["cmc_store"] = store
    app.session_interface = auth.StoreSessionInterface(store)
    # Who asks is known before the CSRF check, so a refused form is logged with their name.
    app.before_request(_load_user)
    CSRFProtect(app)
    Babel(app, locale_selector=_locale)
    app.wsgi_app = auth.TrustedProxy(app.wsgi_app, config["TRUSTED_PROXY"])
    app.jinja_env.globals.update(
        get_locale=get_locale, languages=i18n.LANGUAGES, state_name=i18n.state_name, shown=shown
    )
    _register_pages(app)
    _register_errors(app)
    app.after_request(_security_headers)
    return app


def _store() -> Store:
    from flask import current_app

    return current_app.extensions["cmc_store"]


def _address() -> str:
    return request.remote_addr or "unknown"


def _audit(action: str, country: str | None = None, detail: str = "") -> None:
    user: User | None = g.get("user")
    _store().audit(user.email if user else None, _address(), action, country, detail)


def _locale() -> str:
    user: User | None = g.get("user")
    if user and user.language in i18n.LANGUAGES:
        return user.language
    if session.get("language") in i18n.LANGUAGES:
        return session["language"]
    return request.accept_languages.best_match(list(i18n.LANGUAGES)) or "en"


def _load_user() -> None:
    g.user = None
    from flask import current_app

    header = current_app.config["SSO_HEADER"]
    if header and request.environ.get(auth.FROM_PROXY):
        email = request.headers.get(header, "").strip()
        if email:
            g.user = _store().user_by_email(email)
            g.signed_in_by_proxy = True
            return
    if "user_id" in session:
        g.user = _store().user_by_id(session["user_id"])


def shown(value) -> str:
    """A cell as shown on a page: text that starts like a formula gets an apostrophe, as
    in errors.csv, so copying it into a spreadsheet never runs it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _security_headers(response: Response) -> Response:
    from flask import current_app

    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if current_app.config["HTTPS"]:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if g.get("user"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        _audit("refused: missing or wrong CSRF token", detail=request.path)
        return render_template(
            "error.html",
            status=400,
            message=_("This form has expired. Go back, reload the page and send it again."),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            403: _("You cannot open this page."),
            404: _("There is no such page, or it is not yours to see."),
            413: _(
                "The file is larger than the portal accepts (%(mb)s MB). Send large tables as CSV.",
                mb=app.config["MAX_CONTENT_LENGTH"] // 2**20,
            ),
            429: _("Too many failed sign-ins. Wait 15 minutes and try again."),
        }
        if error.code == 413:
            _audit("refused: file too large", detail=request.path)
        status = error.code or 500
        return render_template("error.html", status=status, message=messages.get(status, error.name)), status

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # The trace goes to the server's log only; the person sees a plain sentence.
        log.exception("portal: unexpected error on %s", request.path)
        message = _("Something went wrong on our side. The data team has been told; please try again later.")
        try:
            return render_template("error.html", status=500, message=message), 500
        except Exception:  # the page itself failed: a sentence, still no trace
            log.exception("portal: the error page failed too")
            return Response(message, status=500, mimetype="text/plain")


def _country(iso3: str, need: str = "see") -> str:
    """The country of the URL, if the person asking may do ``need`` there; else 404."""
    user: User | None = g.user
    if user is None:
        abort(redirect(url_for("login", next=request.path)))
    iso3 = iso3.upper()
    allowed = {
        "see": user.may_see,
        "read": user.may_read_reports,
        "send": user.may_send,
        "original": user.may_download_original,
    }[need](iso3)
    if iso3 not in _country_names() or not allowed:
        _audit(f"refused: {need}", iso3, request.path)
        abort(404)
    return iso3


def _country_names() -> dict[str, str]:
    return {c.iso3: c.name_en for c in countries()}


def _submission(iso3: str, submission_id: int):
    found = _store().submission(submission_id)
    if found is None or found.country_iso3 != iso3:
        _audit("refused: submission of another country", iso3, request.path)
        abort(404)
    return found


def _warehouse():
    from cmc_pipeline.lib.warehouse import Warehouse

    # A page must not wait two minutes for a DuckDB file another process writes.
    return Warehouse(settings.warehouse_url(), lock_timeout=2)


def _submission_folder(submission_id: int) -> Path:
    from flask import current_app

    return Path(current_app.config["PORTAL_DIR"]) / "submissions" / str(submission_id)


def _sniff(body: bytes) -> str:
    """What the bytes are, whatever the name says: xlsx (a zip), binary or text."""
    if body.startswith(b"PK\x03\x04"):
        return "xlsx"
    if body.startswith(BINARY_SIGNATURES) or (
        b"\x00" in body[:8192] and not body.startswith((b"\xff\xfe", b"\xfe\xff"))
    ):
        return "binary"
    return "csv"


def _register_pages(app: Flask) -> None:
    @app.get("/")
    def home():
        user: User | None = g.user
        if user is None:
            return redirect(url_for("login"))
        if user.role == "officer" and len(user.countries) == 1:
            return redirect(url_for("country", iso3=user.countries[0]))
        names = _country_names()
        shown_countries = sorted(names) if user.role in ("analyst", "admin") else list(user.countries)
        # Each country's latest owed period of each dataset, and where it stands: the
        # region at a glance for analysts, and for an officer of several countries.
        today = datetime.now(UTC).date()
        latest = {d: reporting.owed_periods(d, today, count=1) for d in UPLOAD_DATASETS}
        store = _store()
        rows = []
        with reporting.WarehouseReads(_warehouse()) as reads:
            for iso3 in shown_countries:
                states = []
                for dataset in UPLOAD_DATASETS:
                    if not latest[dataset]:
                        states.append(None)
                        continue
                    view = reporting.pipeline_view(reads, settings.inbox_dir(), iso3, dataset)
                    owed = latest[dataset][0]
                    states.append(reporting.period_state(owed.period, store.submissions(iso3, dataset), view))
                rows.append({"iso3": iso3, "name": names.get(iso3, iso3), "states": states})
        periods = [latest[d][0].period if latest[d] else "" for d in UPLOAD_DATASETS]
        return render_template("home.html", rows=rows, datasets=UPLOAD_DATASETS, periods=periods)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        problem = None
        if request.method == "POST":
            email = request.form.get("email", "").strip().lower()[:200]
            password = request.form.get("password", "")
            store = _store()
            if auth.throttled(store, email, _address()):
                store.audit(email, _address(), "refused: login throttled", None, "")
                abort(429)
            if auth.check_password(store, email, password):
                store.clear_failed_logins(email)
                store.delete_expired_sessions()  # anonymous visitors' form sessions too
                user = store.user_by_email(email)
                app.session_interface.end(session)  # a new session id at sign-in
                session["user_id"] = user.id
                g.user = user
                _audit("login")
                target = request.args.get("next", "")
                # Only a path of this site, never another site's address.
                if not target.startswith("/") or target.startswith("//"):
                    target = url_for("home")
                return redirect(target, 303)
            store.record_failed_login(email, _address())
            store.audit(email, _address(), "login failed", None, "")
            problem = _("Wrong e-mail or password.")
        return render_template("login.html", problem=problem), (401 if problem else 200)

    @app.post("/logout")
    def logout():
        if g.user:
            _audit("logout")
        app.session_interface.end(session)
        return redirect(url_for("login"), 303)

    @app.post("/language")
    def language():
        chosen = request.form.get("language", "")
        if chosen in i18n.LANGUAGES:
            if g.user:
                _store().set_language(g.user.id, chosen)
                _audit("language", detail=chosen)
            session["language"] = chosen
        back = request.form.get("back", "")
        return redirect(back if back.startswith("/") and not back.startswith("//") else url_for("home"), 303)

    @app.get("/c/<iso3>")
    def country(iso3: str):
        iso3 = _country(iso3)
        store = _store()
        today = datetime.now(UTC).date()
        datasets = []
        with reporting.WarehouseReads(_warehouse()) as reads:
            for dataset in UPLOAD_DATASETS:
                view = reporting.pipeline_view(reads, settings.inbox_dir(), iso3, dataset)
                submissions = store.submissions(iso3, dataset)
                periods = [
                    {
                        "period": owed.period,
                        "deadline": owed.deadline.isoformat(),
                        "state": reporting.period_state(owed.period, submissions, view),
                        "overdue": owed.deadline < today,
                    }
                    for owed in reporting.owed_periods(dataset, today, back_to=_earliest(submissions, view))
                ]
                datasets.append(
                    {
                        "name": dataset,
                        "purpose": reporting.dataset_purpose(dataset),
                        "periods": periods,
                        "figures": _latest_figures(
                            reads, iso3, dataset, submissions, view, own=g.user.may_read_reports(iso3)
                        ),
                    }
                )
            # Where its figures and a partner's differ, and the checks its figures did not
            # pass: for the country's own officers.
            own = g.user.may_read_reports(iso3)
            mirror = _mirror_flows(reads, iso3) if own else []
            checks = _checks_not_passed(reads, iso3) if own else None
        available = reads.available
        _audit("view country", iso3)
        return render_template(
            "country.html",
            iso3=iso3,
            name=_country_names()[iso3],
            datasets=datasets,
            available=available,
            mirror=mirror,
            mirror_tolerance=_mirror_tolerance(),
            checks=checks,
        )

    @app.get("/c/<iso3>/templates/<dataset>.<file_format>")
    def template(iso3: str, dataset: str, file_format: str):
        iso3 = _country(iso3, "send")
        if dataset not in UPLOAD_DATASETS or file_format not in TEMPLATE_FORMATS:
            abort(404)
        body = _country_template(dataset, file_format, iso3)
        _audit("template", iso3, f"{dataset}.{file_format}")
        kind = {
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "csv": "text/csv; charset=utf-8",
        }[file_format]
        return Response(
            body,
            mimetype=kind,
            headers={
                "Content-Disposition": f'attachment; filename="{iso3}__{dataset}__template.{file_format}"'
            },
        )

    @app.route("/c/<iso3>/upload", methods=["GET", "POST"])
    def upload(iso3: str):
        iso3 = _country(iso3, "send")
        if request.method == "GET":
            return render_template(
                "upload.html",
                iso3=iso3,
                name=_country_names()[iso3],
                datasets=UPLOAD_DATASETS,
                chosen=request.args.get("dataset", ""),
            )
        dataset = request.form.get("dataset", "")
        sent = request.files.get("file")
        if dataset not in UPLOAD_DATASETS or sent is None or not sent.filename:
            problem = _("Choose the dataset and the file to send.")
            return render_template(
                "upload.html",
                iso3=iso3,
                name=_country_names()[iso3],
                datasets=UPLOAD_DATASETS,
                chosen=dataset,
                problem=problem,
            ), 400
        reason = " ".join(request.form.get("warning_reason", "").split())[:REASON_MAX]
        submission_id = receive(iso3, dataset, sent.filename, sent.read(), reason)
        return redirect(url_for("submission", iso3=iso3, submission_id=submission_id), 303)

    @app.get("/c/<iso3>/history")
    def history(iso3: str):
        iso3 = _country(iso3)
        with reporting.WarehouseReads(_warehouse()) as reads:
            views = {
                d: reporting.pipeline_view(reads, settings.inbox_dir(), iso3, d) for d in UPLOAD_DATASETS
            }
        rows = []
        for item in _store().submissions(iso3):
            state, upload_id = reporting.submission_state(item, views[item.dataset])
            rows.append({"submission": item, "state": state, "upload_id": upload_id})
        _audit("view history", iso3)
        return render_template(
            "history.html",
            iso3=iso3,
            name=_country_names()[iso3],
            rows=rows,
            may_read=g.user.may_read_reports(iso3),
            waiting={d: v.waiting for d, v in views.items() if v.waiting},
        )

    @app.get("/c/<iso3>/submissions/<int:submission_id>")
    def submission(iso3: str, submission_id: int):
        iso3 = _country(iso3, "read")
        item = _submission(iso3, submission_id)
        with reporting.WarehouseReads(_warehouse()) as reads:
            view = reporting.pipeline_view(reads, settings.inbox_dir(), iso3, item.dataset)
        state, upload_id = reporting.submission_state(item, view)
        problems = [i18n.explain(p, item.dataset) for p in item.problems]
        _audit("view submission", iso3, str(submission_id))
        dagster = app.config["DAGSTER_URL"]
        # The Dagster UI's runs list filtered by the tag the upload_inbox sensor puts on
        # the run it starts for these bytes (its ``q[]=tag:key=value`` filter).
        sensor_tag = f"tag:{SENSOR_SHA_TAG}={item.sha256}"
        run_link = f"{dagster}/runs?{urlencode({'q[]': sensor_tag})}" if dagster and upload_id else ""
        return render_template(
            "submission.html",
            iso3=iso3,
            name=_country_names()[iso3],
            item=item,
            state=state,
            upload_id=upload_id,
            loaded_at=view.loaded_at.get(upload_id or ""),
            errors=[p for p in problems if p["severity"] == "error"],
            warnings=[p for p in problems if p["severity"] == "warning"],
            may_send=g.user.may_send(iso3),
            may_download=g.user.may_download_original(iso3),
            run_link=run_link,
        )

    @app.post("/c/<iso3>/submissions/<int:submission_id>/send")
    def send_with_reason(iso3: str, submission_id: int):
        iso3 = _country(iso3, "send")
        item = _submission(iso3, submission_id)
        reason = " ".join(request.form.get("warning_reason", "").split())[:REASON_MAX]
        if item.outcome == "held" and reason:
            body = (_submission_folder(item.id) / item.stored_name).read_bytes()
            _send_to_inbox(item.id, iso3, item.dataset, item.original_name, body, reason)
        return redirect(url_for("submission", iso3=iso3, submission_id=submission_id), 303)

    @app.get("/c/<iso3>/submissions/<int:submission_id>/<document>")
    def document(iso3: str, submission_id: int, document: str):
        """errors.csv and report.md (officers of the country and administrators), and the
        original file (the country's officers only); always downloads, never shown in
        the browser, under names the portal made."""
        need = {"errors.csv": "read", "report.md": "read", "original": "original"}.get(document)
        if need is None:
            abort(404)
        iso3 = _country(iso3, need)
        item = _submission(iso3, submission_id)
        _audit(f"download {document}", iso3, str(submission_id))
        folder = _submission_folder(item.id)
        if document == "errors.csv":
            problems = [
                Problem(p["rule"], p["severity"], p["line"], p["column"], p["value"], p["expected"])
                for p in item.problems
            ]
            body, kind, name = reports.errors_csv(problems), "text/csv", "errors.csv"
        elif document == "report.md":
            body, kind, name = (folder / "report.md").read_bytes(), "text/markdown", "report.md"
        else:
            body, kind, name = (
                (folder / item.stored_name).read_bytes(),
                "application/octet-stream",
                item.stored_name,
            )
        return Response(
            body,
            mimetype=kind,
            headers={"Content-Disposition": f'attachment; filename="submission_{item.id}_{name}"'},
        )

    @app.get("/admin/audit")
    def audit_log():
        if g.user is None:
            return redirect(url_for("login", next=request.path))
        if g.user.role != "admin":
            _audit("refused: audit log")
            abort(404)
        return render_template("audit.html", entries=_store().audit_entries())

    def receive(iso3: str, dataset: str, sent_name: str, body: bytes, reason: str) -> int:
        """Check a file the officer sent, keep it with its report, and send it to the
        inbox if it passed; returns the submission's number."""
        kind = _sniff(body)
        display = intake.safe_name(sent_name)
        stored = "original.xlsx" if kind == "xlsx" else "original.csv" if kind == "csv" else "original.bin"
        incoming = Path(app.config["PORTAL_DIR"]) / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        path = incoming / f"{secrets.token_hex(8)}-{stored}"
        path.write_bytes(body)
        try:
            if kind == "binary":
                check = None
                problems = [Problem(READABLE_FILE, "error", None, None, None, BINARY_MESSAGE)]
                failing, rows, periods = {READABLE_FILE: 1}, None, []
            else:
                check = check_file(path, dataset, sender=iso3, display_name=display)
                problems, failing = check.problems, dict(check.failing_rows)
                rows = len(check.rows) if check.rows is not None else None
                periods = check.periods
            accepted = check is not None and check.accepted
            outcome = (
                "rejected" if not accepted else ("held" if check.warnings and not reason else "accepted")
            )
            sha256 = hashlib.sha256(body).hexdigest()
            submission_id = _store().add_submission(
                received_at=stamp(),
                sender=g.user.email,
                country_iso3=iso3,
                dataset=dataset,
                original_name=sent_name[:200],
                stored_name=stored,
                sha256=sha256,
                bytes=len(body),
                outcome="held" if outcome == "accepted" else outcome,
                rows=rows,
                periods=periods,
                problems=[p.as_record() for p in problems],
                failing_rows=failing,
                inbox_path=None,
                warning_reason=None,
            )
            folder = _submission_folder(submission_id)
            folder.mkdir(parents=True, exist_ok=True)
            path.replace(folder / stored)
            facts = reports.UploadFacts(
                f"portal submission {submission_id}", display, dataset, iso3, sha256,
                "(kept by the portal)", stamp(), g.user.email,
            )  # fmt: skip
            if accepted:
                text = "\n".join([f"# {check.summary()}", "", *reports.check_section(check)])
            else:
                text = reports.rejection_report(facts, check, reason="" if check else BINARY_MESSAGE)
            (folder / "report.md").write_text(text, encoding="utf-8")
        finally:
            path.unlink(missing_ok=True)
        _audit(
            f"upload {outcome}",
            iso3,
            f"submission {submission_id}: {dataset}, {len(body):,} bytes, sha256 {sha256}",
        )
        if outcome == "accepted":
            _send_to_inbox(submission_id, iso3, dataset, sent_name, body, reason)
        return submission_id

    def _send_to_inbox(
        submission_id: int, iso3: str, dataset: str, sent_name: str, body: bytes, reason: str
    ) -> None:
        suffix = ".xlsx" if _sniff(body) == "xlsx" else ".csv"
        name = f"portal-{submission_id}-{Path(intake.safe_name(sent_name)).stem}{suffix}"
        target = intake.place_in_inbox(body, settings.inbox_dir(), iso3, dataset, name)
        relative = target.relative_to(settings.inbox_dir()).as_posix()
        _store().update_submission(
            submission_id, outcome="accepted", inbox_path=relative, warning_reason=reason or None
        )
        _audit(
            "sent to inbox",
            iso3,
            f"submission {submission_id} as {relative}"
            + (f"; warnings accepted: {reason}" if reason else ""),
        )


def _earliest(submissions, view) -> str | None:
    """The earliest period a country has sent or loaded, if any."""
    periods = [p for s in submissions for p in s.periods] + list(view.loaded)
    return min(periods) if periods else None


def _latest_figures(reads, iso3: str, dataset: str, submissions, view, *, own: bool) -> dict:
    """The country's figures of ``dataset`` now in the warehouse: the periods loaded, and
    the first rows of the latest one, with the footnotes (reasons given for accepted
    warnings) of the file behind them.

    Counts the members' release suppresses (``disclosure_control`` in the mart's contract)
    carry its CONF_STATUS here too: a person who may read the country's own files (its
    officers, administrators) sees each figure with its code; anyone else (analysts)
    sees the code in place of the figure, exactly as the members' exports show it."""
    spec = upload_dataset(dataset)
    result = {
        "available": view.available,
        "periods": sorted(view.loaded, reverse=True),
        "columns": [],
        "rows": [],
    }
    if not view.available or not view.loaded:
        return result
    latest = result["periods"][0]
    columns = [c for c in spec.file_columns if c != "country_iso3"]
    found = reads.query(
        f"SELECT {', '.join(columns)}, upload_id, demonstration_data FROM {spec.current_table} "
        f"WHERE country_iso3 = ? AND period = ? "
        f"ORDER BY {', '.join(spec.key_columns)} LIMIT {FIGURES_SHOWN}",
        [iso3, latest],
    )
    sha = {v: k for k, v in view.loaded_sha.items()}.get(view.loaded[latest])
    released = _members_release(reads, dataset)
    breakdowns = [k for k in spec.key_columns if k not in ("country_iso3", "period")]
    codes = [
        [released.get((iso3, str(latest), *(str(row[k]) for k in breakdowns), c)) for c in columns]
        for row in found
    ]
    rows = [
        [row[c] if own or code is None else "" for c, code in zip(columns, row_codes, strict=True)]
        for row, row_codes in zip(found, codes, strict=True)
    ]
    result.update(
        latest=latest,
        columns=columns,
        rows=rows,
        codes=codes,
        suppressed=any(code for row_codes in codes for code in row_codes),
        demonstration=any(row["demonstration_data"] for row in found),
        upload_id=view.loaded[latest],
        footnotes=[s.warning_reason for s in submissions if s.sha256 == sha and s.warning_reason],
    )
    return result


_RELEASES: dict[tuple, object] = {}


def _members_released(reads, dataset: str):
    """``marts.<dataset>`` as the members' release shows it (the rows members may see,
    counts suppressed with their CONF_STATUS), worked out as an export does it (this
    release and the earlier ones); remembered while the warehouse is unchanged. None when
    the mart is not built yet."""
    import pandas as pd

    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.exports import default_ledger, release_for_audience
    from cmc_pipeline.lib.sharing import sharing_settings

    spec = upload_dataset(dataset)
    if not reads.table_exists(spec.mart_table):
        return None
    remembered = (reads.warehouse.url, reads.version, dataset)
    if reads.version is not None and remembered in _RELEASES:
        return _RELEASES[remembered]
    contract = contract_for(spec.mart_table)
    frame = pd.DataFrame(reads.query(f"SELECT * FROM {spec.mart_table}"), columns=contract.column_names)
    released, _, _, _ = release_for_audience(
        frame,
        contract,
        audience="members",
        settings=sharing_settings(),
        ledger=default_ledger(reads.warehouse),
    )
    if reads.version is not None:
        # One warehouse state is enough to remember (its releases of every dataset).
        for stale in [k for k in _RELEASES if k[:2] != remembered[:2]]:
            del _RELEASES[stale]
        _RELEASES[remembered] = released
    return released


def _members_release(reads, dataset: str) -> dict[tuple, str]:
    """(country, period, breakdowns…, count column) → CONF_STATUS of every count the
    members' release of ``marts.<dataset>`` suppresses."""
    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.disclosure import FREE

    spec = upload_dataset(dataset)
    control = contract_for(spec.mart_table).custom_properties.get("disclosure_control")
    released = _members_released(reads, dataset) if control else None
    if released is None:
        return {}
    keys = [k for k in spec.key_columns if k not in ("country_iso3", "period")]
    found = {}
    for count in control["count_columns"]:
        hidden = released[released[f"{count}_conf_status"] != FREE]
        for row in hidden[hidden["area_type"] == "country"].itertuples(index=False):
            row = row._asdict()
            key = (row["area_code"], str(row["period"]), *(str(row[k]) for k in keys), count)
            found[key] = row[f"{count}_conf_status"]
    return found


def _mirror_flows(reads, iso3: str) -> list[dict]:
    """The flows the country and a partner both report (``marts.mirror_flows``), for its
    own officers: the country's own figures, and each partner's only as the members'
    releases of the partner's tables show every count it adds up (``lib/mirror.py``)."""
    import pandas as pd

    from cmc_pipeline.lib.contracts import contract_for
    from cmc_pipeline.lib.mirror import MIRROR_FLOWS, MIRRORED_DATASETS, released_rows

    if not reads.table_exists(MIRROR_FLOWS):
        return []
    contract = contract_for(MIRROR_FLOWS)
    frame = pd.DataFrame(
        reads.query(
            f"SELECT * FROM {MIRROR_FLOWS} WHERE origin_iso3 = ? OR position(? IN destination_countries) > 0 "
            "ORDER BY flow DESC, year, origin_iso3, destination_iso3, breakdown",
            [iso3, iso3],
        ),
        columns=contract.column_names,
    )
    receiving = frame["destination_countries"].str.split().map(lambda listed: iso3 in listed)
    frame = frame[(frame["origin_iso3"] == iso3) | receiving]
    releases = {dataset: _members_released(reads, dataset) for dataset in MIRRORED_DATASETS}
    if frame.empty or any(r is None for r in releases.values()):
        return []
    return released_rows(
        frame,
        permits=releases["work_permits"],
        seasonal=releases["seasonal_workers"],
        certificates=releases["csme_skills_certificates"],
        own=iso3,
    )


def _checks_not_passed(reads, iso3: str) -> list[dict] | None:
    """The contract rules the country's figures did not pass at their latest check, from
    ``quality.check_results`` (None before any check has been kept). The first offending
    row of a mirror-statistics rule holds the partner's figure, which the officers see
    only as the mirror section shows it: that row is not repeated here."""
    from cmc_pipeline.lib.mirror import MIRROR_FLOWS
    from cmc_pipeline.steps.gate import CHECK_RESULTS_TABLE

    if not reads.table_exists(CHECK_RESULTS_TABLE):
        return None
    found = reads.query(
        "SELECT table_name, rule_id, rule_name, severity, rows_checked, rows_failed, first_offence, "
        f"checked_at FROM {CHECK_RESULTS_TABLE} WHERE country_iso3 = ? AND NOT passed "
        "ORDER BY severity, table_name, rule_id",
        [iso3],
    )
    for row in found:
        if row["table_name"] == MIRROR_FLOWS:
            row["first_offence"] = None
    return found


def _mirror_tolerance() -> str:
    from cmc_pipeline.lib.mirror import tolerance_pct

    return f"{tolerance_pct():g}"


def _country_template(dataset: str, file_format: str, iso3: str) -> bytes:
    """The dataset's template from its contract (``lib/uploads/templates.py``), made out
    to one country: the workbook's title names it and its country column offers that
    country alone. The CSV template is the contract's header line, named for the country."""
    if file_format == "csv":
        return template_bytes(dataset, "csv")
    import io

    from openpyxl import load_workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    from cmc_pipeline.lib.templates import workbook_bytes
    from cmc_pipeline.lib.uploads.templates import DATA_SHEET, INSTRUCTIONS_SHEET, TEMPLATE_ROWS

    workbook = load_workbook(io.BytesIO(template_bytes(dataset, "xlsx")))
    name = _country_names()[iso3]
    instructions = workbook[INSTRUCTIONS_SHEET]
    instructions["A1"] = f"{instructions['A1'].value} — {iso3} ({name})"
    data = workbook[DATA_SHEET]
    header = [cell.value for cell in data[1]]
    if "country_iso3" in header:
        letter = data.cell(1, header.index("country_iso3") + 1).column_letter
        column_range = f"{letter}2:{letter}{TEMPLATE_ROWS + 1}"
        for validation in list(data.data_validations.dataValidation):
            if column_range in str(validation.sqref):
                data.data_validations.dataValidation.remove(validation)
        only = DataValidation(
            type="list",
            formula1=f'"{iso3}"',
            allow_blank=False,
            showErrorMessage=True,
            error=f"This template is for {iso3} ({name}).",
        )
        only.add(column_range)
        data.add_data_validation(only)
    return workbook_bytes(workbook)
