"""ILOSTAT answers → staging rows: the bulk CSV in code and label form, and SDMX-CSV.

The format is taken from the publisher's real files (see ``snapshots/README.md``): the
bulk ("rplumber") API and the web site's downloads are CSV with a BOM, ``type=code`` or
``type=label`` headers, optional note columns, and no sex or classification column for
indicators without that breakdown; SDMX-CSV carries ILO codes in every dimension, the
measure code (``CL_MEASURE``) in ``MEASURE`` and the unit multiplier in ``UNIT_MULT``.
Values stay as published here; ``to_core`` maps them to codes.
"""

from __future__ import annotations

from cmc_pipeline.lib.http import SourceFormatError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.sources.ilostat.catalogue import IlostatIndicator
from cmc_pipeline.steps.fetching import FetchedResponse, read_csv_strict, to_float

# Staging columns shared by all three ILOSTAT formats (values as published).
OBSERVATION_COLUMNS = [
    "ref_area",
    "indicator",
    "source_survey",
    "sex",
    "classif1",
    "classif2",
    "time",
    "obs_value",
    "obs_status",
    "unit_multiplier",
    "note_classif",
    "note_indicator",
    "note_source",
    "file_format",
    "source_row_number",
]

_CODE_HEADER = {
    "ref_area": "ref_area",
    "source": "source_survey",
    "indicator": "indicator",
    "sex": "sex",
    "classif1": "classif1",
    "classif2": "classif2",
    "time": "time",
    "obs_value": "obs_value",
    "obs_status": "obs_status",
    "note_classif": "note_classif",
    "note_indicator": "note_indicator",
    "note_source": "note_source",
}
_LABEL_HEADER = {
    "ref_area.label": "ref_area",
    "source.label": "source_survey",
    "indicator.label": "indicator",
    "sex.label": "sex",
    "classif1.label": "classif1",
    "classif2.label": "classif2",
    "time": "time",
    "obs_value": "obs_value",
    "obs_status.label": "obs_status",
    "note_classif.label": "note_classif",
    "note_indicator.label": "note_indicator",
    "note_source.label": "note_source",
}
# Columns that tell the two bulk forms apart. A file that has them is parsed; whether it
# also has every column the staging contract requires (sex, obs_value …) is for the
# contract's check to say, country by country, naming the column.
_CODE_SIGNATURE = {"ref_area", "indicator", "time"}
_LABEL_SIGNATURE = {"ref_area.label", "indicator.label", "time"}
# Published columns the staging table leaves out on purpose (best_source=all adds one).
_KNOWN_UNSTAGED = {"best_source", "best_source.label"}
# Staging columns a response may legitimately lack: they are staged empty.
_OPTIONAL_COLUMNS = [
    "source_survey",
    "classif1",
    "classif2",
    "obs_status",
    "unit_multiplier",
    "note_classif",
    "note_indicator",
    "note_source",
]
# ILOSTAT's SDMX-CSV columns: the series key, then (after one column per breakdown, such
# as SEX and AGE) the observation and its attributes. Read here, written by `cmc export`.
SDMX_CSV_KEY_COLUMNS = ["DATAFLOW", "REF_AREA", "FREQ", "MEASURE"]
SDMX_CSV_OBSERVATION_COLUMNS = [
    "TIME_PERIOD",
    "OBS_VALUE",
    "OBS_STATUS",
    "UNIT_MEASURE_TYPE",
    "UNIT_MEASURE",
    "UNIT_MULT",
    "SOURCE",
    "NOTE_SOURCE",
    "NOTE_INDICATOR",
    "NOTE_CLASSIF",
    "DECIMALS",
    "UPPER_BOUND",
    "LOWER_BOUND",
]
# SDMX-CSV columns that identify the format; the others the staging contract wants (SEX,
# OBS_VALUE …) are judged by its check, per country, like the bulk CSV's.
_SDMX_SIGNATURE = ["REF_AREA", "MEASURE", "TIME_PERIOD"]
# Technical SDMX-CSV columns the staging table does not keep.
_SDMX_UNSTAGED = {
    "DATAFLOW",
    "FREQ",
    "UNIT_MEASURE_TYPE",
    "UNIT_MEASURE",
    "UNIT_MULT",
    "DECIMALS",
    "UPPER_BOUND",
    "LOWER_BOUND",
}


def parse_response(response: FetchedResponse, indicator: IlostatIndicator) -> pd.DataFrame:
    """Staging rows (``OBSERVATION_COLUMNS``) from any ILOSTAT response."""
    origin = f"ILOSTAT {response.dataset_id} ({response.url})"
    if response.empty_result:
        return _empty_frame()
    if response.api == "ilostat_sdmx":
        return parse_sdmx_csv(response.body, breakdowns=indicator.sdmx_breakdowns, origin=origin)
    return parse_bulk_csv(response.body, origin=origin)


def parse_bulk_csv(body: bytes, *, origin: str) -> pd.DataFrame:
    """Bulk-API or web-site download, in ``type=code`` or ``type=label`` form."""
    header, frame = read_csv_strict(body, origin=origin)
    columns = set(header)
    if columns >= _CODE_SIGNATURE:
        mapping, file_format = _CODE_HEADER, "code"
    elif columns >= _LABEL_SIGNATURE:
        mapping, file_format = _LABEL_HEADER, "label"
    else:
        missing_code = sorted(_CODE_SIGNATURE - columns)
        raise SourceFormatError(
            f"{origin}: not an ILOSTAT CSV: columns {missing_code} are missing (found {header[:12]})"
        )
    frame = frame.drop(columns=[c for c in header if c in _KNOWN_UNSTAGED])
    frame = frame.rename(columns={k: v for k, v in mapping.items() if k in columns})
    frame["file_format"] = file_format
    frame["unit_multiplier"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    if "sex" not in frame:
        # An indicator without a sex breakdown has no sex column in the bulk files; its
        # rows are "not applicable" by sex. (Were the breakdown lost instead, the rows of
        # each sex would share one key, and the staging contract's key check says so.)
        frame["sex"] = pd.Series([""] * len(frame), dtype="string", index=frame.index)
    return _finish(frame, origin)


def parse_sdmx_csv(body: bytes, *, breakdowns: tuple[str, ...], origin: str) -> pd.DataFrame:
    header, frame = read_csv_strict(body, origin=origin)
    missing = [c for c in _SDMX_SIGNATURE if c not in header]
    if missing:
        raise SourceFormatError(f"{origin}: not the expected SDMX-CSV: columns {missing} are missing")
    others = [b for b in breakdowns if b != "SEX"]
    renames = {
        "REF_AREA": "ref_area",
        "MEASURE": "indicator",
        "SOURCE": "source_survey",
        "SEX": "sex",
        "TIME_PERIOD": "time",
        "OBS_VALUE": "obs_value",
        "OBS_STATUS": "obs_status",
        "NOTE_CLASSIF": "note_classif",
        "NOTE_INDICATOR": "note_indicator",
        "NOTE_SOURCE": "note_source",
    }
    renames.update({dim: f"classif{i}" for i, dim in enumerate(others, start=1)})
    frame = frame.rename(columns=renames)
    if "UNIT_MULT" in frame:
        frame["unit_multiplier"] = to_float(frame, "UNIT_MULT", origin=origin).round().astype("Int64")
    frame["file_format"] = "sdmx-csv"
    return _finish(frame.drop(columns=[c for c in frame.columns if c in _SDMX_UNSTAGED]), origin)


def _finish(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Staging columns in order; values stay text where they were text.

    A value that is not a number (``obs_value`` of "n/a") and a column the response lacks
    or adds are left as they are, so the staging contract's checks name them with their
    line and block only the countries they concern, instead of one bad row stopping the
    whole load. ``origin`` names the response in the errors the parser itself raises.
    """
    for column in _OPTIONAL_COLUMNS:
        if column not in frame:
            empty = pd.NA if column == "unit_multiplier" else ""
            frame[column] = pd.Series(
                [empty] * len(frame), dtype="Int64" if empty is pd.NA else "string", index=frame.index
            )
    if "obs_value" in frame:
        text = frame["obs_value"].astype("string").str.strip()
        frame["obs_value"] = text.where(text != "")
    ordered = [c for c in OBSERVATION_COLUMNS if c in frame.columns]
    unknown = [c for c in frame.columns if c not in OBSERVATION_COLUMNS]
    return frame[ordered + unknown].reset_index(drop=True)


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in OBSERVATION_COLUMNS})
    frame["unit_multiplier"] = frame["unit_multiplier"].astype("Int64")
    frame["source_row_number"] = frame["source_row_number"].astype("Int64")
    return frame
