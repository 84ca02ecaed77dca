"""Recorded upstream responses, served in snapshot mode instead of calling the APIs.

Each source keeps its recorded bodies in its own folder, ``sources/<name>/snapshots/``,
with a ``manifest.json`` that lists every response: which API and dataset it answers, the
URL it came from (or would come from), when, and whether its values are demonstration
data. ``CMC_SNAPSHOT_DIR`` (or an explicit root) serves other recordings laid out as
``<root>/<source>/manifest.json``. The source clients read bodies through this store in
snapshot mode and through HTTP in live mode; everything after that is the same code.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from cmc_pipeline.lib.raw_store import write_atomically
from cmc_pipeline.settings import SNAPSHOT_DIR
from cmc_pipeline.sources import SOURCE_NAMES, SOURCES_DIR

DEMONSTRATION_LABEL = "demonstration data — not official statistics"


@dataclass(frozen=True)
class SnapshotEntry:
    source: str
    dataset: str
    api: str
    page: int
    file: str  # relative to the source's snapshot folder
    url: str
    retrieved_at: str
    demonstration: bool
    note: str = ""


class SnapshotStore:
    """Every source's recorded responses: the bundled ones, or those under ``root``."""

    def __init__(self, root: Path | None = None):
        if root is None and os.environ.get("CMC_SNAPSHOT_DIR"):
            root = Path(os.environ["CMC_SNAPSHOT_DIR"])
        self.root = Path(root) if root is not None else None
        self._entries: list[SnapshotEntry] | None = None

    def folder(self, source: str) -> Path:
        """Where one source's recorded bodies and manifest are."""
        if self.root is None:
            return SOURCES_DIR / source / "snapshots"
        return self.root / source

    def _manifest_path(self, source: str) -> Path:
        return self.folder(source) / "manifest.json"

    def entries(self) -> list[SnapshotEntry]:
        if self._entries is None:
            self._entries = []
            for source in SOURCE_NAMES:
                path = self._manifest_path(source)
                if path.exists():
                    manifest = json.loads(path.read_text(encoding="utf-8"))
                    self._entries += [SnapshotEntry(**e) for e in manifest["entries"]]
        return self._entries

    def pages(self, api: str, dataset: str) -> list[SnapshotEntry]:
        """The recorded pages of one dataset from one API, in page order (empty if none)."""
        found = [e for e in self.entries() if e.api == api and e.dataset == dataset]
        return sorted(found, key=lambda e: e.page)

    def path(self, entry: SnapshotEntry) -> Path:
        return self.folder(entry.source) / entry.file

    def read(self, entry: SnapshotEntry) -> bytes:
        return self.path(entry).read_bytes()

    def record(self, replaces: list[tuple[str, str]], recorded: list[tuple[SnapshotEntry, bytes]]) -> None:
        """Store freshly fetched bodies, dropping every manifest entry of the ``(api,
        dataset)`` pairs they replace: a dataset that now has fewer pages, or that moved to
        another API generation, must not keep serving its old files."""
        for entry, body in recorded:
            write_atomically(self.path(entry), body)
        stale = set(replaces)
        new_files = {(r.source, r.file) for r, _ in recorded}
        for e in self.entries():
            if (e.api, e.dataset) in stale and (e.source, e.file) not in new_files:
                self.path(e).unlink(missing_ok=True)
        kept = [e for e in self.entries() if (e.api, e.dataset) not in stale]
        self._entries = sorted(
            [*kept, *(entry for entry, _ in recorded)], key=lambda e: (e.source, e.api, e.dataset, e.page)
        )
        for source in sorted({e.source for e in self._entries} | {e.source for e, _ in recorded}):
            path = self._manifest_path(source)
            manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            manifest["entries"] = [asdict(e) for e in self._entries if e.source == source]
            write_atomically(
                path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
            )


def copy_bundled_snapshots(destination: Path) -> Path:
    """Copy every source's bundled recordings to ``destination/<source>/`` (for tests and
    for recording into a scratch folder); returns ``destination``."""
    for source in SOURCE_NAMES:
        folder = SOURCES_DIR / source / "snapshots"
        if folder.exists():
            shutil.copytree(folder, Path(destination) / source, dirs_exist_ok=True)
    # The demonstration national uploads are served from the same root (settings.snapshot_dir).
    shutil.copytree(SNAPSHOT_DIR / "uploads", Path(destination) / "uploads", dirs_exist_ok=True)
    return Path(destination)
