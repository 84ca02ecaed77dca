"""The inbox: which files are waiting, which dataset and country each is for, and where a
file goes once it has been dealt with.

A national office puts a file either in ``<inbox>/<ISO3>/<dataset>/<any name>`` or
directly in the inbox named ``<ISO3>__<dataset>__<anything>.csv`` (``.xlsx``). The
country may also be written as its name (``Jamaica/work_permits/…``). Once processed, the
original moves (never deleted) to ``<inbox>/accepted|rejected|duplicates/<upload id>/``
next to its report.

File names are never trusted: a name is only ever used, after :func:`safe_name`, as the
last part of a path this module builds; a path that leads outside the inbox (``../``, a
symbolic link) is refused.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cmc_pipeline.lib.reference import resolve_country
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS

ACCEPTED, REJECTED, DUPLICATES = "accepted", "rejected", "duplicates"
OUTCOME_FOLDERS = (ACCEPTED, REJECTED, DUPLICATES)
UPLOAD_SUFFIXES = (".csv", ".xlsx")
NAME_SEPARATOR = "__"
# Files an editor or a copy in progress leaves beside real ones: Excel's lock file
# (~$name.xlsx), partial downloads and temporary copies.
IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
MAX_NAME_LENGTH = 120


class UnidentifiedUploadError(ValueError):
    """The file's place or name does not say which dataset and country it is for."""


def safe_name(name: str) -> str:
    """A file name made only of letters, digits, ``.``, ``-`` and ``_``, that cannot climb
    out of a folder, for naming anything written from a name a user chose."""
    base = re.split(r"[\\/]", str(name))[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "upload"
    stem, dot, suffix = cleaned.rpartition(".")
    if dot and len(suffix) <= 5:
        return stem[: MAX_NAME_LENGTH - len(suffix) - 1].strip("._-") + "." + suffix.lower()
    return cleaned[:MAX_NAME_LENGTH]


def inbox_settle_seconds() -> float:
    """A file younger than this is assumed to be still arriving (``CMC_INBOX_SETTLE_SECONDS``)."""
    return float(os.environ.get("CMC_INBOX_SETTLE_SECONDS", "10"))


@dataclass(frozen=True)
class InboxFile:
    """A file waiting in the inbox, and what its place says it is."""

    path: Path
    relative: str  # to the inbox, with "/" separators
    dataset: str | None
    country: str | None
    problem: str | None = None  # why it cannot be processed as an upload, if it cannot

    @property
    def original_name(self) -> str:
        return self.path.name


def _dataset_named(text: str) -> str | None:
    folded = text.strip().lower().replace("-", "_").replace(" ", "_")
    return folded if folded in UPLOAD_DATASETS else None


def identify(path: Path, inbox: Path) -> InboxFile:
    """Which dataset and country a file in ``inbox`` is for (``problem`` says if unknown)."""
    path = Path(path)
    inbox_real = Path(inbox).resolve()
    try:
        relative = path.absolute().relative_to(Path(inbox).absolute())
    except ValueError:
        return InboxFile(path, path.name, None, None, "the file is not inside the inbox")
    if path.is_symlink():
        return InboxFile(path, relative.as_posix(), None, None, "a link, not a file: send the file itself")
    if ".." in relative.parts or not path.resolve().is_relative_to(inbox_real):
        return InboxFile(path, relative.as_posix(), None, None, "the path leads outside the inbox")
    if not path.is_file():
        return InboxFile(path, relative.as_posix(), None, None, "not a regular file")
    parts = relative.parts
    dataset = country = None
    if len(parts) >= 3:
        country, dataset = resolve_country(parts[0]), _dataset_named(parts[1])
    if not (dataset and country):
        pieces = path.stem.split(NAME_SEPARATOR)
        if len(pieces) >= 2:
            country, dataset = resolve_country(pieces[0]), _dataset_named(pieces[1])
    problem = None
    if path.suffix.lower() not in UPLOAD_SUFFIXES:
        problem = f"the file type {path.suffix or '(none)'!r} is not accepted: send .csv or .xlsx"
    elif not (dataset and country):
        problem = (
            "the file's place does not say which country and dataset it is for: put it in "
            "<inbox>/<ISO3>/<dataset>/ or name it <ISO3>__<dataset>__<anything>.csv (or .xlsx); "
            f"datasets: {', '.join(UPLOAD_DATASETS)}"
        )
    return InboxFile(path, relative.as_posix(), dataset, country, problem)


def waiting_files(inbox: Path, *, settle_seconds: float | None = None) -> list[InboxFile]:
    """Files waiting in the inbox, oldest first, leaving out the outcome folders, files
    still being written and the lock and temporary files editors leave behind."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    settle = inbox_settle_seconds() if settle_seconds is None else settle_seconds
    now = time.time()
    found = []
    for folder, subfolders, files in os.walk(inbox, followlinks=False):
        if Path(folder) == inbox:
            subfolders[:] = [s for s in subfolders if s not in OUTCOME_FOLDERS]
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        for name in sorted(files):
            if name.startswith(IGNORED_PREFIXES) or name.lower().endswith(IGNORED_SUFFIXES):
                continue
            path = Path(folder) / name
            try:
                modified = path.lstat().st_mtime
            except FileNotFoundError:
                continue  # moved away while we looked
            if now - modified < settle:
                continue
            found.append((modified, identify(path, inbox)))
    return [f for _modified, f in sorted(found, key=lambda pair: (pair[0], pair[1].relative))]


def new_upload_id(country: str | None, dataset: str | None, sha256: str, received_at: datetime) -> str:
    """Sortable and readable: when, from whom, what, and which bytes."""
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{country or 'unknown'}-{dataset or 'unknown'}-{sha256[:12]}"


def file_away(path: Path, inbox: Path, outcome: str, upload_id: str, documents: dict[str, bytes]) -> Path:
    """Move ``path`` to ``<inbox>/<outcome>/<upload id>/`` beside ``documents`` (report,
    errors); returns the folder. The original is moved, never copied or deleted."""
    if outcome not in OUTCOME_FOLDERS:
        raise ValueError(f"outcome must be one of {OUTCOME_FOLDERS}")
    from cmc_pipeline.lib.raw_store import write_atomically

    folder = Path(inbox) / outcome / safe_name(upload_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in documents.items():
        write_atomically(folder / safe_name(name), body)
    target = folder / safe_name(Path(path).name)
    if target.name in documents:
        target = folder / f"original_{target.name}"
    shutil.move(str(path), str(target))
    return folder


def place_in_inbox(body: bytes, inbox: Path, country: str, dataset: str, name: str) -> Path:
    """Put a file's bytes in ``<inbox>/<ISO3>/<dataset>/`` for the sensor, under
    :func:`safe_name` of ``name``, never over a file still waiting there (``_1``, ``_2``…).

    The bytes are first written under a hidden name the sensor skips, then linked under
    the first free name, so the sensor never sees half a file and two senders at the same
    moment never take the same name."""
    import tempfile

    if dataset not in UPLOAD_DATASETS:
        raise ValueError(f"{dataset!r} is not an upload dataset")
    folder = Path(inbox) / safe_name(country) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    cleaned = safe_name(name)
    stem, suffix = Path(cleaned).stem, Path(cleaned).suffix.lower()
    fd, hidden = tempfile.mkstemp(dir=folder, prefix=".arriving-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        number = 0
        while True:
            target = folder / (cleaned if number == 0 else f"{stem}_{number}{suffix}")
            try:
                os.link(hidden, target)
                return target
            except FileExistsError:
                number += 1
    finally:
        Path(hidden).unlink(missing_ok=True)
