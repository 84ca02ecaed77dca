"""What the portal's tests share: a portal on a private data folder with real accounts,
and signing in through the login form as a person would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmc_pipeline import settings

UPLOADS = settings.SNAPSHOT_DIR / "uploads"
JAM_PERMITS = UPLOADS / "JAM__work_permits__demonstration.csv"
BRB_PERMITS = UPLOADS / "BRB__work_permits__demonstration.csv"
TTO_PERMITS_XLSX = UPLOADS / "TTO__work_permits__demonstration.xlsx"
PASSWORD = "a long enough passphrase"
ACCOUNTS = {
    "jam.officer@labour.gov.jm": ("officer", ["JAM"]),
    "brb.officer@labour.gov.bb": ("officer", ["BRB"]),
    "analyst@cmc.invalid": ("analyst", []),
    "admin@cmc.invalid": ("admin", []),
}


@pytest.fixture
def portal_app(data_dir: Path):
    from argon2 import PasswordHasher

    from cmc_pipeline.portal.app import create_app
    from cmc_pipeline.portal.store import Store

    store = Store(settings.portal_db())
    # Argon2id with light parameters: a hash carries its own, so signing in verifies with
    # these in a few milliseconds. The production parameters (``cmc portal add-user``) are
    # tested in test_portal_http.py::test_add_user_reads_the_password_from_standard_input.
    hashed = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    for email, (role, countries) in ACCOUNTS.items():
        store.add_user(email, hashed, role, countries, None)
    app = create_app()
    app.config["TESTING"] = False  # errors go through the same handlers as in production
    return app


def csrf_token(client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, f"{path} has no form with a CSRF token"
    return found[1]


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    )


def send_file(client, country: str, dataset: str, body: bytes, name: str, reason: str = ""):
    token = csrf_token(client, f"/c/{country}/upload")
    from io import BytesIO

    return client.post(
        f"/c/{country}/upload",
        data={
            "dataset": dataset,
            "csrf_token": token,
            "warning_reason": reason,
            "file": (BytesIO(body), name),
        },
        content_type="multipart/form-data",
    )
