"""The raw layer: every fetched response or uploaded file, kept byte-for-byte.

Files are content-addressed (named by their sha256) under ``<raw>/<source>/<aa>/<sha>``
with a JSON sidecar of provenance (``<sha>.provenance.json``). A file is written to a
temporary name, flushed to disk and renamed, so a crash or a full disk never leaves a
partial file under a final name.
Landing the same bytes twice keeps the first file and its first provenance: raw files are
never overwritten and never edited. Later retrievals of identical bytes are appended to
the sidecar's ``seen`` list so the history of fetches is not lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class LandedFile:
    sha256: str
    path: Path
    provenance: dict


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Never leave a half-written file behind, whatever went wrong (ENOSPC included).
        Path(tmp_name).unlink(missing_ok=True)
        raise


def land_bytes(raw_root: Path, source: str, body: bytes, *, suffix: str, provenance: dict) -> LandedFile:
    """Keep ``body`` in the raw store and return where it is.

    ``provenance`` should say where the bytes came from: ``url`` or ``uploader``,
    ``retrieved_at``, ``producer``, ``licence``; ``sha256`` and ``bytes`` are added here.
    """
    sha = hashlib.sha256(body).hexdigest()
    folder = Path(raw_root) / source / sha[:2]
    data_path = folder / f"{sha}{suffix}"
    sidecar_path = folder / f"{sha}.provenance.json"
    record = {**provenance, "sha256": sha, "bytes": len(body), "source": source}
    record.setdefault("retrieved_at", utc_now_iso())

    if not data_path.exists():
        write_atomically(data_path, body)
    if sidecar_path.exists():
        existing = json.loads(sidecar_path.read_text(encoding="utf-8"))
        existing.setdefault("seen", []).append(
            {k: record[k] for k in ("retrieved_at", "url", "uploader") if k in record}
        )
        write_atomically(sidecar_path, json.dumps(existing, indent=2, sort_keys=True).encode())
        return LandedFile(sha, data_path, existing)
    write_atomically(sidecar_path, json.dumps(record, indent=2, sort_keys=True).encode())
    return LandedFile(sha, data_path, record)
