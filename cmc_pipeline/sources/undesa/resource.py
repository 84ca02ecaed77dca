"""The Dagster resource for UN DESA: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.sources.undesa.client import UndesaClient


class UndesaResource(dg.ConfigurableResource):
    """UN DESA International Migrant Stock workbook (no API: the official XLSX file)."""

    mode: str = "snapshot"

    def client(self) -> UndesaClient:
        return UndesaClient(mode=self.mode)
