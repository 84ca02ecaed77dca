"""Where the pipeline keeps its files, from environment variables with project defaults.

Every path can be overridden so a shared deployment can put the warehouse, raw store and
inbox on other disks; the defaults keep everything under ``<project>/data`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
REFERENCE_DIR = PACKAGE_DIR / "reference"
SNAPSHOT_DIR = PACKAGE_DIR / "snapshots"
CONTRACTS_DIR = PROJECT_DIR / "data_contracts"
# The working group's clock for schedules: Atlantic Standard Time, UTC−4 all year with no
# daylight saving, so a scheduled run never moves by an hour twice a year.
TIMEZONE = "America/Port_of_Spain"


def data_dir() -> Path:
    return Path(os.environ.get("CMC_DATA_DIR", PROJECT_DIR / "data"))


def warehouse_url() -> str:
    """A DuckDB file path, or a ``postgresql://`` URL for a shared deployment."""
    return os.environ.get("CMC_WAREHOUSE", str(data_dir() / "warehouse" / "cmc.duckdb"))


def warehouse_lock_timeout() -> float:
    """Seconds a write waits for another process to release a locked DuckDB file."""
    return float(os.environ.get("CMC_WAREHOUSE_LOCK_TIMEOUT", "120"))


def raw_dir() -> Path:
    return Path(os.environ.get("CMC_RAW_DIR", data_dir() / "raw"))


def inbox_dir() -> Path:
    return Path(os.environ.get("CMC_INBOX", data_dir() / "inbox"))


def quality_dir() -> Path:
    """Where Great Expectations validation results are kept, one JSON file per check run."""
    return Path(os.environ.get("CMC_QUALITY_DIR", data_dir() / "quality"))


def cache_dir() -> Path:
    """What the pipeline can work out again from its inputs, kept to skip the work when
    they have not changed (the report's charts, the rows of the UN DESA workbooks, Great
    Expectations' outcomes); safe to delete."""
    return Path(os.environ.get("CMC_CACHE_DIR", data_dir() / "cache"))


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", data_dir() / "dagster_home"))


def snapshot_dir() -> Path:
    """Recorded responses served in snapshot mode (``CMC_SNAPSHOT_DIR``; default the bundled ones)."""
    return Path(os.environ.get("CMC_SNAPSHOT_DIR", SNAPSHOT_DIR))


def source_mode() -> str:
    """``snapshot`` (bundled recorded responses, the default) or ``live`` (the APIs)."""
    return os.environ.get("CMC_SOURCE_MODE", "snapshot")


def governance_needs_workbook() -> str:
    """The analysts' governance-needs workbook to load; empty means the bundled
    demonstration workbook."""
    return os.environ.get("CMC_GOVERNANCE_NEEDS_WORKBOOK", "")


def executor() -> str:
    """``in_process`` (one machine, the default) or ``celery`` (steps on Celery workers)."""
    return os.environ.get("CMC_EXECUTOR", "in_process")


def celery_queue() -> str:
    """The Celery queue the workers of this deployment listen on (``CMC_EXECUTOR=celery``)."""
    return os.environ.get("CMC_CELERY_QUEUE", "cmc_pipeline")


def portal_dir() -> Path:
    """The data officers' portal's own files: its database, each submission's original
    file and report, its signing key (``CMC_PORTAL_DIR``)."""
    return Path(os.environ.get("CMC_PORTAL_DIR", data_dir() / "portal"))


def portal_db() -> Path:
    """The portal's SQLite database of accounts, sessions, submissions and the audit log."""
    return Path(os.environ.get("CMC_PORTAL_DB", portal_dir() / "portal.sqlite3"))
