"""ILOSTAT: fetch labour-migration and labour-market series and parse them to staging rows.

Two public APIs give the same code lists in different shapes (see docs/sources.md):
- the bulk ("rplumber") API and the files users download from the ILOSTAT web site:
  CSV with a BOM, ``type=code`` or ``type=label`` headers;
- the SDMX REST API: SDMX-CSV, with the unit multiplier stated (``UNIT_MULT``).

The ILO retired the old labour-migration bulk ids in 2025-26, so the catalogue names each
indicator in both generations and :meth:`IlostatClient.fetch` tries them in the
catalogue's order, moving on when one answers "deprecated or invalid dataset id".
"""

from __future__ import annotations

import json

import pandas as pd
import requests

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.ilostat.catalogue import IlostatIndicator
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient, read_csv_strict, to_float

BULK_BASE_URL = "https://rplumber.ilo.org"
SDMX_BASE_URL = "https://sdmx.ilo.org/rest"

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


# --- URLs --------------------------------------------------------------------------------


def bulk_url(
    indicator: IlostatIndicator, countries: list[str], timefrom: int, base: str = BULK_BASE_URL
) -> str:
    # The bulk API wants a literal "+" between areas; an encoded %2B breaks it, so the
    # query string is built by hand rather than by requests' params encoding.
    areas = "+".join(countries)
    return (
        f"{base}/data/indicator/?id={indicator.bulk_dataset_id}&ref_area={areas}"
        f"&timefrom={timefrom}&type=code&format=.csv"
    )


def sdmx_url(
    indicator: IlostatIndicator, countries: list[str], timefrom: int, base: str = SDMX_BASE_URL
) -> str:
    # Key: REF_AREA.FREQ.MEASURE.<breakdowns>, empty = wildcard.
    key = "+".join(countries) + f".{indicator.frequency}." + "." * len(indicator.sdmx_breakdowns)
    return f"{base}/data/ILO,{indicator.sdmx_dataflow}/{key}?startPeriod={timefrom}&format=csv"


# --- client ------------------------------------------------------------------------------


class DatasetRetired(SourceError):
    """This generation of the API no longer knows the id; the next generation may."""


class IlostatClient(SourceClient):
    """Fetches one indicator for a set of countries, live or from recorded snapshots."""

    def __init__(
        self,
        *,
        mode: str = "snapshot",
        snapshots: SnapshotStore | None = None,
        session: requests.Session | None = None,
        http_settings: http.HttpSettings | None = None,
        timefrom: int = 2000,
        bulk_base_url: str = BULK_BASE_URL,
        sdmx_base_url: str = SDMX_BASE_URL,
    ):
        super().__init__(mode=mode, snapshots=snapshots, session=session, http_settings=http_settings)
        self.timefrom = timefrom
        self.bulk_base_url = bulk_base_url
        self.sdmx_base_url = sdmx_base_url

    def fetch(self, indicator: IlostatIndicator, countries: list[str]) -> FetchedResponse:
        """The first generation in ``fetch_order`` that still serves the indicator."""
        retired: list[str] = []
        for generation in indicator.fetch_order:
            try:
                if self.mode == "snapshot":
                    response = self._from_snapshot(indicator, generation)
                    if response is None:
                        retired.append(f"{generation}: no recorded snapshot")
                        continue
                    return response
                return self._fetch_live(indicator, generation, countries)
            except DatasetRetired as exc:
                retired.append(f"{generation}: {exc}")
        hint = " (run `cmc snapshot record` where there is internet)" if self.mode == "snapshot" else ""
        raise SourceError(
            f"ILOSTAT has no usable dataset for {indicator.indicator_id}{hint}: " + "; ".join(retired)
        )

    def _dataset_id(self, indicator: IlostatIndicator, generation: str) -> str | None:
        return indicator.bulk_dataset_id if generation == "bulk" else indicator.sdmx_dataflow

    def _from_snapshot(self, indicator: IlostatIndicator, generation: str) -> FetchedResponse | None:
        dataset = self._dataset_id(indicator, generation)
        pages = self.snapshots.pages(f"ilostat_{generation}", dataset) if dataset else []
        if not pages:
            return None
        entry = pages[0]
        return FetchedResponse(
            source="ilostat",
            api=entry.api,
            dataset_id=dataset,
            url=entry.url,
            body=self.snapshots.read(entry),
            retrieved_at=entry.retrieved_at,
            demonstration=entry.demonstration,
            suffix=".csv",
        )

    def _fetch_live(
        self, indicator: IlostatIndicator, generation: str, countries: list[str]
    ) -> FetchedResponse:
        dataset = self._dataset_id(indicator, generation)
        if not dataset:
            raise DatasetRetired(f"no {generation} id in the catalogue")
        if generation == "bulk":
            url = bulk_url(indicator, countries, self.timefrom, self.bulk_base_url)
        else:
            url = sdmx_url(indicator, countries, self.timefrom, self.sdmx_base_url)
        response = http.get(self.session, url, self.http_settings)
        body = response.content
        empty = False
        if response.status_code == 400 and generation == "bulk":
            raise DatasetRetired(_bulk_error_message(body))
        if response.status_code == 404 and generation == "sdmx" and b"No data" in body:
            empty = True  # SDMX's way of saying "nothing for this key": a real, empty answer
        elif response.status_code != 200:
            raise SourceHTTPError(url, response.status_code, http.describe_body(body))
        elif http.looks_like_html(body):
            raise SourceFormatError(
                f"{url} answered with an HTML page instead of CSV (a CDN challenge?): "
                f"{http.describe_body(body)}"
            )
        return FetchedResponse(
            source="ilostat",
            api=f"ilostat_{generation}",
            dataset_id=dataset,
            url=url,
            body=body,
            retrieved_at=utc_now_iso(),
            demonstration=False,
            suffix=".txt" if empty else ".csv",
            empty_result=empty,
        )


def _bulk_error_message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return http.describe_body(body)


# --- parsing -----------------------------------------------------------------------------


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
