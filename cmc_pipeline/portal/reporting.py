"""What each country owes and where each period stands: the reporting calendar, derived
from the cadence each upload contract promises (``slaProperties``: ``frequency`` and
``latency``, the same entries the freshness checks read), and the state of every period.

A period is owed once it has ended; its deadline is its last day plus the contract's
latency (a yearly dataset with 90 days' latency: the figures of 2025 are due by 31 March
2026). A period's state, from the furthest along:

- ``published``: its rows are in the dataset's mart (``marts.<dataset>``), from the
  upload now current;
- ``loaded``: its rows are in the current table (``core.<dataset>``);
- ``accepted``: a file covering it passed the checks and waits in the inbox;
- ``received``: a file for the country and dataset sits in the inbox, not checked yet
  (sent with ``cmc upload`` or copied in);
- ``rejected``: the last file covering it was refused (earlier figures, if any, stand);
- ``not_received``: nothing yet.

Everything here is read from the pipeline's own records (the warehouse tables, the inbox
and its outcome folders) and the portal's submissions; nothing is kept twice.
"""

from __future__ import annotations

import calendar
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.uploads import intake
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, upload_dataset
from cmc_pipeline.portal.store import Submission

STATES = ("not_received", "received", "rejected", "accepted", "loaded", "published")
# How many past periods a country's page lists per dataset.
PERIODS_SHOWN = 5


@dataclass(frozen=True)
class OwedPeriod:
    period: str  # as the files write it: 2025, 2025-Q1, 2025-M01
    ends: date
    deadline: date


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _latency_days(value: int, unit: str) -> timedelta:
    return timedelta(days={"day": 1, "week": 7, "month": 30, "year": 365}[unit] * value)


def owed_periods(
    dataset: str, today: date, count: int = PERIODS_SHOWN, back_to: str | None = None
) -> list[OwedPeriod]:
    """The ``count`` latest periods of ``dataset`` that have ended by ``today``, newest
    first, each with its deadline, and further back to the period ``back_to`` (the
    earliest a country has sent or loaded, so its figures keep their row). Datasets
    without a cadence owe nothing."""
    levels = upload_dataset(dataset).contract.service_levels
    if levels is None:
        return []
    frequency, latency = levels.frequency, levels.latency
    if frequency.unit == "year":
        step_months = 12 * frequency.value
    elif frequency.unit == "month":
        step_months = frequency.value
    else:
        raise ValueError(f"{dataset}: reporting every {frequency} is not a calendar the portal can list")
    # Periods are aligned on 1 January: years, quarters (3 months) or months.
    start = date(today.year, 1, 1)
    while _add_months(start, step_months) <= today:
        start = _add_months(start, step_months)
    periods: list[OwedPeriod] = []
    earliest = date(int(back_to[:4]), 1, 1) if back_to and back_to[:4].isdigit() else None
    while len(periods) < count or (earliest and _add_months(start, -step_months) >= earliest):
        start = _add_months(start, -step_months)
        ends = _add_months(start, step_months) - timedelta(days=1)
        periods.append(
            OwedPeriod(
                _period_code(start, step_months), ends, ends + _latency_days(latency.value, latency.unit)
            )
        )
    return periods


def _period_code(start: date, step_months: int) -> str:
    if step_months % 12 == 0:
        return str(start.year)
    if step_months == 3:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-M{start.month:02d}"


@dataclass
class PipelineView:
    """What the pipeline's records say about one country and dataset."""

    loaded: dict[str, str] = field(default_factory=dict)  # period -> upload id in core.<dataset>
    published: dict[str, str] = field(default_factory=dict)  # period -> upload id in the mart
    loaded_sha: dict[str, str] = field(default_factory=dict)  # raw sha256 -> upload id (history)
    loaded_at: dict[str, str] = field(default_factory=dict)  # upload id -> when it was loaded
    waiting: list[str] = field(default_factory=list)  # inbox files not yet processed (relative)
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256[:12] -> (outcome, upload id)
    available: bool = True  # False: the warehouse could not be read just now


class WarehouseReads:
    """The reads of one page over one read-only connection: opening the DuckDB file costs
    more than the queries, and a page asks a dozen of them. A warehouse that is locked by
    a load (or not built yet) reads as empty, with ``available`` saying which.

    A DuckDB file's answers are remembered until the file changes: every committed write
    changes the file or its write-ahead log, so the same question about the same
    file has the same answer, and most pages open no connection at all. (PostgreSQL is
    asked every time.)"""

    _remembered: ClassVar[dict] = {}  # (file version, sql, params) -> rows, latest version only
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, warehouse):
        self.warehouse = warehouse
        self.available = True
        self.tables: set[str] = set()
        self._stack = ExitStack()
        self._connection = None
        self._version = None

    def __enter__(self) -> WarehouseReads:
        if self.warehouse.backend == "duckdb":
            path = Path(self.warehouse.url)
            if not path.exists():
                return self  # nothing loaded yet
            self._version = tuple(
                (f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None
                for f in (path, path.with_name(path.name + ".wal"))
            )
        try:
            found = self.query(
                "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables"
            )
            self.tables = {row["name"] for row in found}
        except Exception:  # locked by a load, or the server is down: the page says so
            self.available = False
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def table_exists(self, table: str) -> bool:
        return table in self.tables

    @property
    def version(self) -> tuple | None:
        """The DuckDB file's state (modification time and size), None when unknown."""
        return self._version

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows as dictionaries: a page shows a few dozen, not worth a DataFrame each."""
        key = (self._version, sql, tuple(params or ()))
        if self._version is not None and key in self._remembered:
            return self._remembered[key]
        if self._connection is None:
            duckdb_file = self.warehouse.backend == "duckdb"
            self._connection = self._stack.enter_context(self.warehouse.connect(read_only=duckdb_file))
        text = sql if self.warehouse.backend == "duckdb" else sql.replace("?", "%s")
        cursor = self._connection.execute(text, params or [])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if self._version is not None:
            with self._lock:
                stale = [k for k in self._remembered if k[0] != self._version]
                for old in stale:
                    del self._remembered[old]
                self._remembered[key] = rows
        return rows


def pipeline_view(reads: WarehouseReads, inbox: Path, country: str, dataset: str) -> PipelineView:
    view = PipelineView(available=reads.available)
    spec = upload_dataset(dataset)
    queries = (
        (spec.current_table, "period, max(upload_id) AS upload_id", "country_iso3", "period"),
        (
            spec.history_table,
            "raw_sha256, upload_id, max(loaded_at) AS loaded_at",
            "country_iso3",
            "raw_sha256, upload_id",
        ),
        (spec.mart_table, "period, max(latest_upload_id) AS upload_id", "area_code", "period"),
    )
    try:
        for table, columns, country_column, group in queries:
            if not reads.table_exists(table):
                continue
            found = reads.query(
                f"SELECT {columns} FROM {table} WHERE {country_column} = ? GROUP BY {group}", [country]
            )
            for row in found:
                if table == spec.history_table:
                    view.loaded_sha[str(row["raw_sha256"])] = str(row["upload_id"])
                    view.loaded_at[str(row["upload_id"])] = str(row["loaded_at"])[:19]
                elif table == spec.current_table:
                    view.loaded[str(row["period"])] = str(row["upload_id"])
                else:
                    view.published[str(row["period"])] = str(row["upload_id"])
    except Exception:  # a locked or unreachable warehouse: the page says so, the rest still shows
        view.available = False
    folder = Path(inbox) / country / dataset
    if folder.is_dir():
        view.waiting = sorted(
            f"{country}/{dataset}/{p.name}"
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(intake.IGNORED_PREFIXES)
        )
    suffix = f"-{country}-{dataset}-"
    for outcome in intake.OUTCOME_FOLDERS:
        place = Path(inbox) / outcome
        if not place.is_dir():
            continue
        for entry in place.iterdir():
            if suffix in entry.name:
                view.outcomes[entry.name.rsplit("-", 1)[-1]] = (outcome, entry.name)
    return view


def submission_state(submission: Submission, view: PipelineView) -> tuple[str, str | None]:
    """Where one portal submission stands, and the pipeline's upload id once it has one."""
    if submission.outcome == "rejected":
        return "rejected", None
    if submission.outcome == "held":
        return "held", None
    upload_id = view.loaded_sha.get(submission.sha256)
    if upload_id:
        published = any(view.published.get(p) == upload_id for p in submission.periods)
        return ("published" if published else "loaded"), upload_id
    outcome = view.outcomes.get(submission.sha256[:12])
    if outcome and outcome[0] == intake.REJECTED:
        return "rejected", outcome[1]
    if outcome and outcome[0] == intake.DUPLICATES:
        return "loaded", outcome[1]
    return "accepted", None


def period_state(period: str, submissions: list[Submission], view: PipelineView) -> str:
    """The state of one period (see the module's docstring); ``submissions`` newest first."""
    for submission in submissions:
        if period not in submission.periods or submission.outcome == "held":
            continue
        state, _upload_id = submission_state(submission, view)
        if state in ("rejected", "accepted"):
            return state
        break  # the latest file of the period was loaded: the warehouse says the rest
    loaded_upload = view.loaded.get(period)
    if loaded_upload:
        return "published" if view.published.get(period) == loaded_upload else "loaded"
    # A file sent another way (cmc upload, a copy into the inbox) says its periods only
    # once the pipeline reads it: until then each period not yet loaded may be in it.
    sent_here = {s.inbox_path for s in submissions}
    return "received" if any(w not in sent_here for w in view.waiting) else "not_received"


def upload_datasets() -> tuple[str, ...]:
    return UPLOAD_DATASETS


def dataset_purpose(dataset: str) -> str:
    contract = contract_for(f"uploads.{dataset}")
    return " ".join(str((contract.document.get("description") or {}).get("purpose", "")).split())
