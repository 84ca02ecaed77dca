"""The Dagster resource for the Missing Migrants Project: the same class serves snapshot and live modes."""

from __future__ import annotations

import os

import dagster as dg

from cmc_pipeline.sources import origin
from cmc_pipeline.sources.missing_migrants.client import BASE_URL, FIRST_YEAR, MissingMigrantsClient


class MissingMigrantsResource(dg.ConfigurableResource):
    """IOM Missing Migrants Project yearly JSON (no key).

    ``base_url`` is where ``<base_url>/<year>/json`` is asked in live mode (a mirror, a
    proxy or a test server may stand in for IOM's site); it never changes the mode."""

    mode: str = "snapshot"
    first_year: int = FIRST_YEAR
    last_year: int | None = None  # None: the current year
    base_url: str = BASE_URL

    @classmethod
    def from_environment(cls, mode: str) -> MissingMigrantsResource:
        """The resource as ``cmc build`` and the Dagster code location configure it: the base
        URL from ``CMC_MISSING_MIGRANTS_URL`` (origin.yaml), IOM's own when unset."""
        variable = origin("missing_migrants").base_url_settings["global_figures"]
        return cls(mode=mode, base_url=os.environ.get(variable) or BASE_URL)

    def client(self) -> MissingMigrantsClient:
        return MissingMigrantsClient(
            mode=self.mode, first_year=self.first_year, last_year=self.last_year, base_url=self.base_url
        )
