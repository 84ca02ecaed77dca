"""The Dagster resource for the World Bank: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.lib.warehouse import Years
from cmc_pipeline.sources.worldbank.client import WorldBankClient


class WorldBankResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    date_range: str = "2000:2024"

    def client(self, years: Years | None = None) -> WorldBankClient:
        date_range = f"{years.first}:{years.last}" if years else self.date_range
        return WorldBankClient(mode=self.mode, date_range=date_range)
