"""The Dagster resource for UN DESA: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.sources.undesa.client import UndesaClient


class UndesaResource(dg.ConfigurableResource):
    """UN DESA International Migrant Stock workbooks (no API: the official XLSX files).

    ``base_url`` is where live mode downloads them from (``<base_url>/<file name>``); empty
    means the Population Division's own files folder. ``CMC_UNDESA_URL`` sets it where the
    resource is built; it never changes the mode.
    """

    mode: str = "snapshot"
    base_url: str = ""

    def client(self) -> UndesaClient:
        return UndesaClient(mode=self.mode, base_url=self.base_url or None)
