"""Tables parsed from a file, kept in ``settings.cache_dir()`` under a digest of what they
were parsed from: the file's bytes, the parser's code and the versions of the libraries
that read it.

Every build parses the same bundled downloads; reading back a kept table is a few
milliseconds where parsing the file again (xlrd walking every cell of a workbook, a CSV
turned from wide to long) takes a tenth of a second or more. A kept table is Parquet with
pandas' own metadata, so the frame comes back with the dtypes it was written with. A kept
file that cannot be read is parsed again from the bytes; one that cannot be written only
costs the next build the parse. Errors are never kept: a file that fails to parse fails
every time, with its own message.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterable
from functools import cache
from importlib.metadata import version
from pathlib import Path

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.raw_store import write_atomically

# Changes with the way a table is written below.
KEPT_FRAME_FORMAT = "1"


def kept_frame(
    kind: str,
    body: bytes,
    parse: Callable[[], pd.DataFrame],
    *,
    code: Iterable[Path],
    libraries: Iterable[str] = (),
) -> pd.DataFrame:
    """``parse()``, or the frame it returned for the same ``body``, ``code`` (the source
    files of the parser) and ``libraries`` (distribution names, by version)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _kept_path(kind, body, code, libraries)
    with contextlib.suppress(OSError, pa.ArrowException, ValueError):
        return pq.read_table(path).to_pandas()
    frame = parse()
    with contextlib.suppress(OSError, pa.ArrowException, ValueError, TypeError):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        write_atomically(path, buffer.getvalue())
    return frame


def _kept_path(kind: str, body: bytes, code: Iterable[Path], libraries: Iterable[str]) -> Path:
    from cmc_pipeline import settings

    digest = hashlib.sha256(body)
    for source in code:
        digest.update(_code_digest(Path(source)))
    for name in (*libraries, "pandas", "pyarrow"):
        digest.update(f"|{name} {version(name)}".encode())
    digest.update(f"|{KEPT_FRAME_FORMAT}".encode())
    return settings.cache_dir() / kind / f"{digest.hexdigest()}.parquet"


@cache
def _code_digest(source: Path) -> bytes:
    # Read once per process: a parser's code does not change while it runs.
    return hashlib.sha256(source.read_bytes()).digest()
