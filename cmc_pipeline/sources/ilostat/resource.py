"""The Dagster resource for ILOSTAT: the same class serves snapshot and live modes."""

from __future__ import annotations

import os

import dagster as dg

from cmc_pipeline.lib.warehouse import Years
from cmc_pipeline.sources import origin
from cmc_pipeline.sources.ilostat.client import BULK_BASE_URL, SDMX_BASE_URL, IlostatClient


class IlostatResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    timefrom: int = 2000
    # The bulk ("rplumber") and SDMX API roots: the ILO's own, or a mirror, proxy or test
    # server. They change where live mode asks, never the mode.
    bulk_base_url: str = BULK_BASE_URL
    sdmx_base_url: str = SDMX_BASE_URL

    @classmethod
    def from_environment(cls, mode: str) -> IlostatResource:
        """The resource with the base URLs from ``CMC_ILOSTAT_BULK_URL`` and
        ``CMC_ILOSTAT_SDMX_URL`` (named in origin.yaml); unset means the ILO's own."""
        settings = origin("ilostat").base_url_settings
        return cls(
            mode=mode,
            bulk_base_url=os.environ.get(settings["bulk_api"]) or BULK_BASE_URL,
            sdmx_base_url=os.environ.get(settings["sdmx_api"]) or SDMX_BASE_URL,
        )

    def client(self, years: Years | None = None) -> IlostatClient:
        # The API has a start year only; later years are dropped after parsing.
        timefrom = max(self.timefrom, years.first) if years else self.timefrom
        return IlostatClient(
            mode=self.mode,
            timefrom=timefrom,
            bulk_base_url=self.bulk_base_url.rstrip("/"),
            sdmx_base_url=self.sdmx_base_url.rstrip("/"),
        )
