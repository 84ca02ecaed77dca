"""Processing one national upload: land it, check it, then load it or refuse it.

The order is the promise made to national offices:

1. Land the bytes in the raw store (content-addressed, with who sent it, when and under
   which name) before anything else, so no file is ever lost, whatever happens next.
2. Check the landed copy against the dataset's contract (``checking.py``), the country
   in every row against the sender.
3. Accepted: in one transaction, append its rows to the history table
   (``uploads.<dataset>``, with the upload id) and replace the country's rows for the
   same periods in the current table (``core.<dataset>``). Refused: the warehouse is not
   touched. Either way, the original moves (when it came through the inbox) to
   ``<inbox>/accepted|rejected/<upload id>/`` beside ``report.md`` and ``errors.csv``.

The same bytes sent again are recognised by their sha256 and not loaded twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cmc_pipeline.lib import quality
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.lazy import numpy as np
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.lazy import pyarrow as pa
from cmc_pipeline.lib.quality import RuleResult, ValidationRun
from cmc_pipeline.lib.raw_store import LandedFile, land_bytes
from cmc_pipeline.lib.reference import countries
from cmc_pipeline.lib.uploads import intake, reports
from cmc_pipeline.lib.uploads.checking import FileCheck, check_file
from cmc_pipeline.lib.uploads.datasets import PIPELINE_COLUMNS, UploadDataset, upload_dataset
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.steps.gate import check_results_change, save_check_results
from cmc_pipeline.steps.load_report import LoadReport

RAW_SOURCE = "uploads"
LICENCE = "Terms of the reporting government's national statistics or administrative data release"


class UploadRefusedError(RuntimeError):
    """Raised by callers that must fail loudly (a Dagster run) for a refused upload."""

    def __init__(self, outcome: UploadOutcome):
        self.outcome = outcome
        super().__init__(outcome.message())


@dataclass
class UploadOutcome:
    """What became of one file."""

    upload_id: str
    status: str  # accepted | rejected | duplicate
    original_name: str
    dataset: str | None
    country: str | None
    landed: LandedFile | None
    check: FileCheck | None = None
    folder: Path | None = None  # where the original and its report now are (inbox uploads)
    report_markdown: str = ""
    rows_loaded: int = 0
    replaced: dict[str, int] = field(default_factory=dict)  # earlier upload id → rows replaced
    earlier_upload: str | None = None  # for a duplicate
    reason: str = ""  # why refused, when the file could not even be checked
    seconds: dict[str, float] = field(default_factory=dict)  # land, read, tidy, rules, write
    # The rows as stored, checked against the current table's contract before the write.
    stored: ValidationRun | None = None

    @property
    def report_path(self) -> Path | None:
        return None if self.folder is None else self.folder / "report.md"

    @property
    def errors_path(self) -> Path | None:
        return None if self.folder is None else self.folder / "errors.csv"

    def first_problems(self, limit: int = 10) -> list[str]:
        if self.check is None:
            return [self.reason] if self.reason else []
        return [f"{p.rule}: {p.describe()}" for p in self.check.errors[:limit]]

    def message(self) -> str:
        if self.status == "accepted":
            return (
                f"{self.original_name}: accepted as upload {self.upload_id}, {self.rows_loaded:,} rows "
                f"of {self.dataset} for {self.country}"
            )
        if self.status == "duplicate":
            return f"{self.original_name}: already loaded as upload {self.earlier_upload}; not loaded again"
        where = f" (report: {self.report_path})" if self.report_path else ""
        count = len(self.check.errors) if self.check else 1
        return f"{self.original_name}: refused, {count} problems to fix; nothing was loaded{where}"

    def load_reports(self) -> list[LoadReport]:
        """One report per table the upload wrote, for Dagster metadata and the CLI."""
        if self.status != "accepted":
            return []
        spec = upload_dataset(self.dataset)
        raw = [
            {
                "dataset": self.dataset,
                "url": f"upload:{self.original_name}",
                "sha256": self.landed.sha256,
                "bytes": self.landed.provenance.get("bytes"),
            }
        ]
        demonstration = bool(self.landed.provenance.get("demonstration_data"))
        preview = self.check.rows.drop_columns(["source_row_number"]).slice(0, 10).to_pandas()
        return [
            LoadReport(
                table,
                rows_written=self.rows_loaded,
                countries=[self.country],
                raw_files=raw,
                demonstration=demonstration,
                preview=preview,
                validation=self.check.validation,
            )
            for table in (spec.history_table, spec.current_table)
        ]


def _now() -> datetime:
    return datetime.now(UTC)


def process_upload(
    path: Path,
    *,
    dataset: str,
    country: str,
    warehouse: Warehouse,
    raw_root: Path,
    uploader: str,
    inbox: Path | None = None,
    demonstration: bool = False,
) -> UploadOutcome:
    """Land, check and load (or refuse) one file sent by ``country`` as ``dataset``.

    With ``inbox``, the file must lie inside it and is moved, once dealt with, to the
    outcome folder with its report; without it (bundled demonstration files) it stays.
    An error writing the warehouse leaves the file where it was and is raised: the upload
    can be processed again once the warehouse is reachable.
    """
    path = Path(path)
    spec = upload_dataset(dataset)
    if inbox is not None and (path.is_symlink() or not path.resolve().is_relative_to(Path(inbox).resolve())):
        # A run's configuration names the file; never read one that is not in the inbox.
        raise ValueError(f"{path} is not a file inside the inbox {inbox}; it was not read")
    received_at = _now()
    started = time.perf_counter()
    original_name = path.name
    landed = land_bytes(
        raw_root,
        RAW_SOURCE,
        path.read_bytes(),
        suffix=path.suffix.lower() if path.suffix.lower() in intake.UPLOAD_SUFFIXES else ".bin",
        provenance={
            "uploader": uploader,
            "original_name": original_name,
            "received_at": received_at.isoformat(),
            "retrieved_at": received_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "dataset": dataset,
            "country_iso3": country,
            "producer": f"national authorities of {_country_name(country)}",
            "licence": LICENCE,
            "demonstration_data": demonstration,
        },
    )
    upload_id = intake.new_upload_id(country, dataset, landed.sha256, received_at)
    outcome = UploadOutcome(upload_id, "rejected", original_name, dataset, country, landed)
    outcome.seconds["land"] = time.perf_counter() - started
    facts = reports.UploadFacts(
        upload_id,
        original_name,
        dataset,
        country,
        landed.sha256,
        str(landed.path),
        received_at.replace(microsecond=0).isoformat(),
        uploader,
    )

    earlier = _upload_with_same_bytes(warehouse, spec, landed.sha256)
    if earlier is not None:
        outcome.status, outcome.earlier_upload = "duplicate", earlier
        outcome.report_markdown = reports.duplicate_report(facts, earlier)
        if inbox is not None:
            outcome.folder = intake.file_away(
                path, inbox, intake.DUPLICATES, upload_id, {"report.md": outcome.report_markdown.encode()}
            )
        return outcome

    # The landed copy is what is checked and loaded: the inbox file may change meanwhile.
    check = check_file(landed.path, dataset, sender=country, display_name=original_name, for_loading=True)
    outcome.check = check
    outcome.seconds.update(check.seconds)
    if not check.accepted:
        outcome.report_markdown = reports.rejection_report(facts, check)
        if inbox is not None:
            outcome.folder = intake.file_away(
                path,
                inbox,
                intake.REJECTED,
                upload_id,
                {
                    "report.md": outcome.report_markdown.encode(),
                    "errors.csv": reports.errors_csv(check.problems),
                },
            )
        return outcome

    rows = _with_pipeline_columns(
        check.typed_rows(),
        upload_id=upload_id,
        raw_sha256=landed.sha256,
        demonstration_data=demonstration,
        loaded_at=received_at,
    )
    periods = check.periods
    writing = time.perf_counter()
    # The file passed its own contract; the rows as they will be stored (with the pipeline's
    # columns) are checked against the current table's contract too, so its rules run on
    # every write like every other table's. A failure here is the pipeline's, not the
    # sender's: nothing is written and the run fails with the rule's message.
    outcome.stored = stored_rows_check(check.validation, rows, spec, country)
    if not outcome.stored.passed:
        save_check_results(warehouse, outcome.stored)
        raise RuntimeError(
            f"{original_name}: the rows to be stored break the contract of {spec.current_table}; "
            "nothing was written:\n  " + "\n  ".join(outcome.stored.report_lines(limit_per_rule=3))
        )
    outcome.replaced = _rows_to_be_replaced(warehouse, spec, country, periods)
    # The rules' results go in with the rows, in one transaction, as the gate writes them.
    results = check_results_change(outcome.stored)
    written = warehouse.replace_slices(
        [
            (spec.history_table, rows, {"upload_id": [upload_id]}),
            (spec.current_table, rows, {"country_iso3": [country], "period": periods}),
            *([results] if results is not None else []),
        ]
    )
    outcome.status, outcome.rows_loaded = "accepted", written[0]
    outcome.seconds["write"] = time.perf_counter() - writing
    outcome.report_markdown = reports.acceptance_report(
        facts, check, rows_loaded=outcome.rows_loaded, replaced=outcome.replaced
    )
    if inbox is not None:
        documents = {"report.md": outcome.report_markdown.encode()}
        if check.problems:
            documents["errors.csv"] = reports.errors_csv(check.problems)
        outcome.folder = intake.file_away(path, inbox, intake.ACCEPTED, upload_id, documents)
    return outcome


def stored_rows_check(
    file_run: ValidationRun, rows: pa.Table, spec: UploadDataset, country: str
) -> ValidationRun:
    """The current table's rules on the rows as they will be stored, without a second pass
    over a file that may have a million rows.

    Those rows are the file's rows, already checked against the file's contract, plus the
    pipeline's columns, which hold one value on every row. So each rule the two contracts
    share (columns, types, required values, key: the same id on the same rows) keeps the
    file check's result, and the added columns are checked on their one value; a rule the
    current contract adds would be run on the rows themselves."""
    contract = contract_for(spec.current_table)
    added = tuple(c for c in contract.columns if c.name in PIPELINE_COLUMNS)
    added_run = quality.validate(
        rows.select([c.name for c in added]).slice(0, 1), replace(contract, columns=added), engine="duckdb"
    )
    shared = {r.rule.id: r for r in file_run.results}
    rules = quality.rules_for(contract)
    own_run = (
        quality.validate(rows, contract, engine="duckdb") if any(r.id not in shared for r in rules) else None
    )
    results = []
    for rule in rules:
        if rule.id not in shared:
            result = next(r for r in own_run.results if r.rule.id == rule.id)
            results.append(replace(result, partition=country))
            continue
        from_file = shared[rule.id]
        from_added = next((r for r in added_run.results if r.rule.id == rule.id), None)
        added_failed = from_added is not None and not from_added.passed
        results.append(
            RuleResult(
                rule=rule,
                partition=country,
                rows_checked=rows.num_rows,
                failing_rows=from_file.failing_rows + (rows.num_rows if added_failed else 0),
                examples=from_file.examples + (from_added.examples if added_failed else []),
                evaluated_by=from_file.evaluated_by,
            )
        )
    return ValidationRun(contract.table, contract.version, results, rows_checked=rows.num_rows)


def _with_pipeline_columns(rows: pa.Table, **values) -> pa.Table:
    """The file's typed rows with the columns the pipeline fills in (the same on every row).

    Text is dictionary-encoded, one value and a zero index per row: a million copies of a
    sha256 would be 64 MB to build and hand to the warehouse, the indices are 4 MB.
    """
    for name, value in values.items():
        if isinstance(value, str):
            indices = pa.array(np.zeros(rows.num_rows, dtype=np.int32))
            column = pa.DictionaryArray.from_arrays(indices, pa.array([value], pa.string()))
        else:
            kind = pa.timestamp("us", tz="UTC") if isinstance(value, datetime) else None
            column = pa.repeat(pa.scalar(value, kind), rows.num_rows)
        rows = rows.append_column(name, column)
    return rows


def refuse_unidentified(
    found: intake.InboxFile, *, inbox: Path, raw_root: Path, uploader: str
) -> UploadOutcome:
    """A file in the inbox that cannot be processed as an upload (its place does not say
    its dataset and country, or its type is not accepted): kept raw, moved to
    ``rejected/`` with a report saying how to send it. Links are moved, never read."""
    received_at = _now()
    landed = None
    sha = "0" * 64
    if not found.path.is_symlink() and found.path.is_file():
        landed = land_bytes(
            raw_root,
            RAW_SOURCE,
            found.path.read_bytes(),
            suffix=".unidentified",
            provenance={
                "uploader": uploader,
                "original_name": found.original_name,
                "received_at": received_at.isoformat(),
                "inbox_path": found.relative,
                "producer": "unknown (the file did not say its country)",
                "licence": LICENCE,
            },
        )
        sha = landed.sha256
    upload_id = intake.new_upload_id(found.country, found.dataset, sha, received_at)
    facts = reports.UploadFacts(
        upload_id,
        found.original_name,
        found.dataset,
        found.country,
        sha,
        str(landed.path) if landed else "(not read: a link)",
        received_at.replace(microsecond=0).isoformat(),
        uploader,
    )
    outcome = UploadOutcome(
        upload_id,
        "rejected",
        found.original_name,
        found.dataset,
        found.country,
        landed,
        reason=found.problem or "",
    )
    outcome.report_markdown = reports.rejection_report(facts, None, reason=outcome.reason)
    outcome.folder = intake.file_away(
        found.path, inbox, intake.REJECTED, upload_id, {"report.md": outcome.report_markdown.encode()}
    )
    return outcome


def _country_name(iso3: str) -> str:
    return next((c.name_en for c in countries() if c.iso3 == iso3), iso3)


def _upload_with_same_bytes(warehouse: Warehouse, spec: UploadDataset, sha256: str) -> str | None:
    if not warehouse.table_exists(spec.history_table):
        return None
    found = warehouse.query(
        f"SELECT min(upload_id) AS upload_id FROM {spec.history_table} WHERE raw_sha256 = ?", [sha256]
    )
    value = found["upload_id"].iloc[0]
    return None if pd.isna(value) else str(value)


def _rows_to_be_replaced(
    warehouse: Warehouse, spec: UploadDataset, country: str, periods: list[str]
) -> dict[str, int]:
    if not periods or not warehouse.table_exists(spec.current_table):
        return {}
    placeholders = ", ".join("?" * len(periods))
    found = warehouse.query(
        f"SELECT upload_id, count(*) AS n FROM {spec.current_table} "
        f"WHERE country_iso3 = ? AND period IN ({placeholders}) GROUP BY upload_id",
        [country, *periods],
    )
    return {str(r.upload_id): int(r.n) for r in found.itertuples()}


DEMONSTRATION_UPLOADER = "bundled demonstration uploads (cmc_pipeline/snapshots/uploads)"


def demonstration_uploads(dataset: str, batch: list[str]) -> list[tuple[Path, str]]:
    """The bundled demonstration files of ``dataset`` for the countries in ``batch``."""
    import json

    from cmc_pipeline import settings

    folder = settings.snapshot_dir() / "uploads"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return []
    entries = json.loads(manifest.read_text(encoding="utf-8"))["entries"]
    return [
        (folder / e["file"], e["country_iso3"])
        for e in entries
        if e["dataset"] == dataset and e["country_iso3"] in batch and e["demonstration"]
    ]


def load_demonstration_uploads(
    dataset: str, batch: list[str], warehouse: Warehouse, raw_root: Path
) -> list[UploadOutcome]:
    """Load the bundled demonstration uploads of ``batch`` through the real upload path,
    never over figures a country actually sent (those stay, and the demonstration file is
    skipped for that country)."""
    spec = upload_dataset(dataset)
    warehouse.ensure_tables([spec.contract, contract_for(spec.current_table)])
    outcomes = []
    for path, country in demonstration_uploads(dataset, batch):
        real = warehouse.query(
            f"SELECT count(*) AS n FROM {spec.current_table} "
            "WHERE country_iso3 = ? AND NOT demonstration_data",
            [country],
        )
        if int(real["n"].iloc[0]):
            continue
        outcome = process_upload(
            path,
            dataset=dataset,
            country=country,
            warehouse=warehouse,
            raw_root=raw_root,
            uploader=DEMONSTRATION_UPLOADER,
            demonstration=True,
        )
        if outcome.status == "rejected":
            raise UploadRefusedError(outcome)  # a bundled file must always pass its contract
        outcomes.append(outcome)
    return outcomes
