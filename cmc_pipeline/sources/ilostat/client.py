"""ILOSTAT: fetch labour-migration and labour-market series, live or from snapshots
(``parser.py`` turns the answers into staging rows).

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
from typing import TYPE_CHECKING

from cmc_pipeline.lib import http
from cmc_pipeline.lib.http import SourceError, SourceFormatError, SourceHTTPError
from cmc_pipeline.lib.raw_store import utc_now_iso
from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.sources.ilostat.catalogue import IlostatIndicator

# The SDMX-CSV columns are named once, beside the parser; `cmc export` imports them from here.
from cmc_pipeline.sources.ilostat.parser import SDMX_CSV_KEY_COLUMNS, SDMX_CSV_OBSERVATION_COLUMNS  # noqa: F401
from cmc_pipeline.steps.fetching import FetchedResponse, SourceClient

if TYPE_CHECKING:
    import requests

BULK_BASE_URL = "https://rplumber.ilo.org"
SDMX_BASE_URL = "https://sdmx.ilo.org/rest"

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
