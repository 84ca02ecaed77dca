"""Digests of tables, for work kept under what it was computed from (Great Expectations'
outcomes, the report's charts): equal digests mean the same columns, types and values."""

from __future__ import annotations

import hashlib
import json

from cmc_pipeline.lib.lazy import pandas as pd


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 of a frame's column names, their types and every value, row by row."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
