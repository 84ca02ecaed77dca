"""The Dagster resource for the Missing Migrants Project: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.sources.missing_migrants.client import MissingMigrantsClient


class MissingMigrantsResource(dg.ConfigurableResource):
    """IOM Missing Migrants Project yearly JSON (no key)."""

    mode: str = "snapshot"
    first_year: int = 2014

    def client(self) -> MissingMigrantsClient:
        return MissingMigrantsClient(mode=self.mode, first_year=self.first_year)
