"""Recorded upstream responses, served in snapshot mode instead of calling the APIs.

``cmc_pipeline/snapshots/manifest.json`` lists every recorded response: which API and
dataset it answers, the URL it came from (or would come from), when, and whether its
values are demonstration data. The source clients read bodies through this store in
snapshot mode and through HTTP in live mode; everything after that is the same code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cmc_pipeline import settings
from cmc_pipeline.lib.raw_store import write_atomically

DEMONSTRATION_LABEL = "demonstration data — not official statistics"


@dataclass(frozen=True)
class SnapshotEntry:
    source: str
    dataset: str
    api: str
    page: int
    file: str
    url: str
    retrieved_at: str
    demonstration: bool
    note: str = ""


class SnapshotStore:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else settings.snapshot_dir()
        self._entries: list[SnapshotEntry] | None = None

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def entries(self) -> list[SnapshotEntry]:
        if self._entries is None:
            if not self.manifest_path.exists():
                self._entries = []
            else:
                manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
                self._entries = [SnapshotEntry(**e) for e in manifest["entries"]]
        return self._entries

    def pages(self, api: str, dataset: str) -> list[SnapshotEntry]:
        """The recorded pages of one dataset from one API, in page order (empty if none)."""
        found = [e for e in self.entries() if e.api == api and e.dataset == dataset]
        return sorted(found, key=lambda e: e.page)

    def read(self, entry: SnapshotEntry) -> bytes:
        return (self.root / entry.file).read_bytes()

    def record(self, replaces: list[tuple[str, str]], recorded: list[tuple[SnapshotEntry, bytes]]) -> None:
        """Store freshly fetched bodies, dropping every manifest entry of the ``(api,
        dataset)`` pairs they replace: a dataset that now has fewer pages, or that moved to
        another API generation, must not keep serving its old files."""
        for entry, body in recorded:
            write_atomically(self.root / entry.file, body)
        stale = set(replaces)
        kept = [e for e in self.entries() if (e.api, e.dataset) not in stale]
        for e in self.entries():
            if (e.api, e.dataset) in stale and e.file not in {r.file for r, _ in recorded}:
                (self.root / e.file).unlink(missing_ok=True)
        self._entries = sorted(
            [*kept, *(entry for entry, _ in recorded)], key=lambda e: (e.source, e.api, e.dataset, e.page)
        )
        manifest = {}
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        manifest["entries"] = [asdict(e) for e in self._entries]
        write_atomically(
            self.manifest_path,
            (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )
