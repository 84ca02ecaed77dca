"""The Dagster resource for the World Bank: the same class serves snapshot and live modes."""

from __future__ import annotations

import os

import dagster as dg

from cmc_pipeline.lib.warehouse import Years
from cmc_pipeline.sources import origin
from cmc_pipeline.sources.worldbank.client import API_BASE_URL, WorldBankClient


class WorldBankResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    date_range: str = "2000:2024"
    # The Indicators API v2 root: the World Bank's own, or a mirror, proxy or test server.
    # It changes where live mode asks, never the mode.
    base_url: str = API_BASE_URL

    @classmethod
    def from_environment(cls, mode: str) -> WorldBankResource:
        """The resource with the base URL from ``CMC_WORLDBANK_URL`` (named in origin.yaml)."""
        variable = origin("worldbank").base_url_settings["indicators_api"]
        return cls(mode=mode, base_url=os.environ.get(variable) or API_BASE_URL)

    def client(self, years: Years | None = None) -> WorldBankClient:
        date_range = f"{years.first}:{years.last}" if years else self.date_range
        return WorldBankClient(mode=self.mode, date_range=date_range, base_url=self.base_url)
