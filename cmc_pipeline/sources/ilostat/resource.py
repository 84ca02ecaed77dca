"""The Dagster resource for ILOSTAT: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.lib.warehouse import Years
from cmc_pipeline.sources.ilostat.client import IlostatClient


class IlostatResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    timefrom: int = 2000

    def client(self, years: Years | None = None) -> IlostatClient:
        # The API has a start year only; later years are dropped after parsing.
        timefrom = max(self.timefrom, years.first) if years else self.timefrom
        return IlostatClient(mode=self.mode, timefrom=timefrom)
