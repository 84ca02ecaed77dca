"""The portal's own records, in one SQLite file (``CMC_PORTAL_DB``): accounts and the
countries each may see, server-side sessions, failed logins (for throttling), the audit
log and every submission with the check's problems.

Sessions live here, not in the cookie: the cookie holds a random token only, so logging
out (or an administrator removing an account) ends a session for good, and a cookie
copied before logout opens nothing afterwards.

Each connection is opened per request and closed after it; SQLite's write-ahead log lets
the waitress threads read while one writes.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROLES = ("officer", "analyst", "admin")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,            -- NULL for accounts that only sign in through the proxy
    role TEXT NOT NULL CHECK (role IN ('officer', 'analyst', 'admin')),
    language TEXT,                 -- NULL: the browser's Accept-Language decides
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_countries (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    country_iso3 TEXT NOT NULL,
    PRIMARY KEY (user_id, country_iso3)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, -- the cookie's token is never stored, only its hash
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failed_logins (
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failed_logins_at ON failed_logins (at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT,
    address TEXT,
    action TEXT NOT NULL,
    country_iso3 TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    sender TEXT NOT NULL,
    country_iso3 TEXT NOT NULL,
    dataset TEXT NOT NULL,
    original_name TEXT NOT NULL,   -- as the browser sent it, shown escaped, never used as a path
    stored_name TEXT NOT NULL,     -- safe_name() of it, under the submission's folder
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('rejected', 'held', 'accepted')),
    rows INTEGER,
    periods TEXT NOT NULL,         -- JSON list
    problems TEXT NOT NULL,        -- JSON: the check's problems, to show in any language
    failing_rows TEXT NOT NULL,    -- JSON: rule id -> rows failing it
    inbox_path TEXT,               -- relative to the inbox, once sent there
    warning_reason TEXT            -- why the warnings were accepted: the figures' footnote
);
CREATE INDEX IF NOT EXISTS submissions_country ON submissions (country_iso3, dataset);
"""


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    return (moment or now()).astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    countries: tuple[str, ...]
    language: str | None
    has_password: bool

    def may_see(self, country: str) -> bool:
        """Status and published figures: analysts and administrators see every country."""
        return self.role in ("analyst", "admin") or country in self.countries

    def may_read_reports(self, country: str) -> bool:
        """Reports and errors.csv quote the file's cells: the country's officers and the
        administrators, not analysts."""
        return self.role == "admin" or (self.role == "officer" and country in self.countries)

    def may_send(self, country: str) -> bool:
        return self.role == "officer" and country in self.countries

    def may_download_original(self, country: str) -> bool:
        return self.role == "officer" and country in self.countries


@dataclass(frozen=True)
class Submission:
    id: int
    received_at: str
    sender: str
    country_iso3: str
    dataset: str
    original_name: str
    stored_name: str
    sha256: str
    bytes: int
    outcome: str
    rows: int | None
    periods: list[str]
    problems: list[dict]
    failing_rows: dict[str, int]
    inbox_path: str | None
    warning_reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Submission:
        values = dict(row)
        for name in ("periods", "problems", "failing_rows"):
            values[name] = json.loads(values[name])
        return cls(**values)

    @property
    def errors(self) -> list[dict]:
        return [p for p in self.problems if p["severity"] == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [p for p in self.problems if p["severity"] == "warning"]


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self.connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def _run(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with closing(self.connect()) as connection:
            return connection.execute(sql, params).fetchall()

    # --- accounts ------------------------------------------------------------------

    def add_user(
        self, email: str, password_hash: str | None, role: str, countries: list[str], language: str | None
    ) -> User:
        """Create the account, or update its role, countries and password if it exists."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        email = email.strip().lower()
        with closing(self.connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO users (email, password_hash, role, language, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (email) DO UPDATE SET password_hash = coalesce(excluded.password_hash, "
                "users.password_hash), role = excluded.role, language = coalesce(excluded.language, "
                "users.language)",
                (email, password_hash, role, language, stamp()),
            )
            (user_id,) = connection.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            connection.execute("DELETE FROM user_countries WHERE user_id = ?", (user_id,))
            connection.executemany(
                "INSERT INTO user_countries VALUES (?, ?)", [(user_id, c) for c in dict.fromkeys(countries)]
            )
            connection.execute("COMMIT")
        return self.user_by_email(email)

    def user_by_email(self, email: str) -> User | None:
        rows = self._run("SELECT * FROM users WHERE email = ?", (email.strip().lower(),))
        return self._user(rows[0]) if rows else None

    def user_by_id(self, user_id: int) -> User | None:
        rows = self._run("SELECT * FROM users WHERE id = ?", (user_id,))
        return self._user(rows[0]) if rows else None

    def password_hash(self, email: str) -> str | None:
        rows = self._run("SELECT password_hash FROM users WHERE email = ?", (email.strip().lower(),))
        return rows[0]["password_hash"] if rows else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._run("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def set_language(self, user_id: int, language: str | None) -> None:
        self._run("UPDATE users SET language = ? WHERE id = ?", (language, user_id))

    def _user(self, row: sqlite3.Row) -> User:
        countries = self._run(
            "SELECT country_iso3 FROM user_countries WHERE user_id = ? ORDER BY country_iso3", (row["id"],)
        )
        return User(
            row["id"],
            row["email"],
            row["role"],
            tuple(c["country_iso3"] for c in countries),
            row["language"],
            row["password_hash"] is not None,
        )

    # --- sessions ------------------------------------------------------------------

    def load_session(self, token_sha256: str) -> dict | None:
        rows = self._run(
            "SELECT data FROM sessions WHERE token_sha256 = ? AND expires_at > ?", (token_sha256, stamp())
        )
        return json.loads(rows[0]["data"]) if rows else None

    def save_session(self, token_sha256: str, data: dict, lifetime: timedelta) -> None:
        self._run(
            "INSERT INTO sessions VALUES (?, ?, ?, ?) ON CONFLICT (token_sha256) DO UPDATE SET "
            "data = excluded.data, expires_at = excluded.expires_at",
            (token_sha256, json.dumps(data), stamp(), stamp(now() + lifetime)),
        )

    def delete_session(self, token_sha256: str) -> None:
        self._run("DELETE FROM sessions WHERE token_sha256 = ?", (token_sha256,))

    def delete_expired_sessions(self) -> None:
        self._run("DELETE FROM sessions WHERE expires_at <= ?", (stamp(),))

    # --- throttling ----------------------------------------------------------------

    def record_failed_login(self, email: str, address: str) -> None:
        self._run("INSERT INTO failed_logins VALUES (?, ?, ?)", (email.strip().lower(), address, stamp()))

    def failed_logins_since(self, since: datetime, *, email: str = "", address: str = "") -> int:
        column, value = ("email", email.strip().lower()) if email else ("address", address)
        rows = self._run(
            f"SELECT count(*) AS n FROM failed_logins WHERE {column} = ? AND at > ?", (value, stamp(since))
        )
        return int(rows[0]["n"])

    def clear_failed_logins(self, email: str) -> None:
        self._run("DELETE FROM failed_logins WHERE email = ?", (email.strip().lower(),))

    # --- audit ---------------------------------------------------------------------

    def audit(
        self, who: str | None, address: str | None, action: str, country: str | None, detail: str
    ) -> None:
        self._run(
            "INSERT INTO audit (at, who, address, action, country_iso3, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (stamp(), who, address, action, country, detail),
        )

    def audit_entries(self, limit: int = 500) -> list[sqlite3.Row]:
        return self._run("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))

    # --- submissions ---------------------------------------------------------------

    def add_submission(self, **values) -> int:
        for name in ("periods", "problems", "failing_rows"):
            values[name] = json.dumps(values[name], default=str)
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with closing(self.connect()) as connection:
            cursor = connection.execute(
                f"INSERT INTO submissions ({columns}) VALUES ({marks})", list(values.values())
            )
            return int(cursor.lastrowid)

    def update_submission(self, submission_id: int, **values) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._run(f"UPDATE submissions SET {assignments} WHERE id = ?", [*values.values(), submission_id])

    def submission(self, submission_id: int) -> Submission | None:
        rows = self._run("SELECT * FROM submissions WHERE id = ?", (submission_id,))
        return Submission.from_row(rows[0]) if rows else None

    def submissions(self, country: str, dataset: str | None = None) -> list[Submission]:
        sql = "SELECT * FROM submissions WHERE country_iso3 = ?"
        params: list = [country]
        if dataset:
            sql += " AND dataset = ?"
            params.append(dataset)
        return [Submission.from_row(r) for r in self._run(sql + " ORDER BY id DESC", params)]
