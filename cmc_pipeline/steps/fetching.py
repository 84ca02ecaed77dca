"""What every source client shares: the fetched-response record and strict CSV reading."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceFormatError, describe_body, looks_like_html
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.snapshots import SnapshotStore

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class FetchedResponse:
    """One upstream response body and where it came from, before it is landed raw."""

    source: str
    api: str
    dataset_id: str
    url: str
    body: bytes
    retrieved_at: str
    demonstration: bool
    suffix: str  # file extension for the raw store: ".csv", ".json"
    page: int = 1
    # True when the source answered "no data" (e.g. SDMX 404): a legitimate empty result.
    empty_result: bool = False


class SourceClient:
    """What every upstream client shares: snapshot or live mode (the same parsing either
    way), the snapshot store, and one HTTP session with retries, made on first use."""

    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
    ):
        if mode not in ("snapshot", "live"):
            raise ValueError(f"mode must be 'snapshot' or 'live', not {mode!r}")
        self.mode = mode
        self.snapshots = snapshots or SnapshotStore()
        self.http_settings = http_settings or http.HttpSettings()
        self._session = session

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = http.make_session(self.http_settings)
        return self._session


def read_json(body: bytes, *, origin: str):
    """Parse a JSON answer, refusing an HTML page (a CDN challenge, an error page served
    with status 200) or text that is not JSON with an error naming ``origin``."""
    if looks_like_html(body):
        raise SourceFormatError(f"{origin}: got an HTML page instead of JSON: {describe_body(body)}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SourceFormatError(f"{origin}: not JSON ({exc}): {describe_body(body)}") from exc


def read_csv_strict(body: bytes, *, origin: str, skip_lines: int = 0) -> tuple[list[str], pd.DataFrame]:
    """Parse CSV text into string columns, refusing anything that is not clean CSV.

    Returns the header and a DataFrame of strings with ``source_row_number`` (the line in
    the file, 1-based, header = line ``skip_lines + 1``) so that every later error can
    point a person at the exact line. A row with the wrong number of fields — which is
    what a truncated download looks like — is an error, not a row of blanks.
    """
    if not body.strip():
        raise SourceFormatError(f"{origin}: the response is empty (no header, no rows)")
    if looks_like_html(body):
        raise SourceFormatError(
            f"{origin}: got an HTML page instead of CSV (a CDN challenge or an error page?): "
            f"{describe_body(body)}"
        )
    text = body.decode("utf-8-sig", errors="strict") if _is_utf8(body) else None
    if text is None:
        raise SourceFormatError(f"{origin}: the file is not UTF-8 text")
    lines = io.StringIO(text)
    for _ in range(skip_lines):
        lines.readline()
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise SourceFormatError(f"{origin}: no header line") from None
    # A trailing comma (World Bank bulk files) makes an empty last header field.
    width = len(header)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise SourceFormatError(
                    f"{origin}: line {reader.line_num + skip_lines} has {len(row)} fields, the header "
                    f"has {width} (a truncated or damaged file?): {','.join(row)[:200]}"
                )
            rows.append(row)
            line_numbers.append(reader.line_num + skip_lines)
    except csv.Error as exc:
        raise SourceFormatError(
            f"{origin}: line {reader.line_num + skip_lines} is not valid CSV ({exc}); "
            "the file may be truncated"
        ) from exc
    frame = (
        pd.DataFrame(rows, columns=header, dtype="string")
        if rows
        else pd.DataFrame({name: pd.Series(dtype="string") for name in header})
    )
    frame["source_row_number"] = pd.array(line_numbers, dtype="Int64")
    return header, frame


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def to_float(frame: pd.DataFrame, column: str, *, origin: str) -> pd.Series:
    """Convert a text column to numbers; empty means missing, anything else must parse."""
    text = frame[column].fillna("").str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = numbers.isna() & (text != "")
    if bad.any():
        first = bad.idxmax()
        raise SourceFormatError(
            f"{origin}: line {frame.at[first, 'source_row_number']}, column {column!r}: "
            f"{text[first]!r} is not a number ({int(bad.sum())} such values)"
        )
    return numbers.astype("Float64")
