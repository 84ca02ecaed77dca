"""One Dagster resource per external system, configured through environment variables.

The same resource classes serve snapshot and live modes (``CMC_SOURCE_MODE``), so tests
and ``make build`` exercise the real parsing path.
"""

import os
from pathlib import Path

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.lib.sources import dtm
from cmc_pipeline.lib.sources.ilostat import IlostatClient
from cmc_pipeline.lib.sources.missing_migrants import MissingMigrantsClient
from cmc_pipeline.lib.sources.undesa import UndesaClient
from cmc_pipeline.lib.sources.worldbank import WorldBankClient
from cmc_pipeline.lib.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The regional warehouse: a DuckDB file path or a ``postgresql://`` URL."""

    url: str

    def get(self) -> Warehouse:
        return Warehouse(self.url)


class RawStoreResource(dg.ConfigurableResource):
    """Folder of the raw layer (content-addressed files with provenance sidecars)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class IlostatResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    timefrom: int = 2000

    def client(self) -> IlostatClient:
        return IlostatClient(mode=self.mode, timefrom=self.timefrom)


class WorldBankResource(dg.ConfigurableResource):
    mode: str = "snapshot"
    date_range: str = "2000:2024"

    def client(self) -> WorldBankClient:
        return WorldBankClient(mode=self.mode, date_range=self.date_range)


class UndesaResource(dg.ConfigurableResource):
    """UN DESA International Migrant Stock workbook (no API: the official XLSX file)."""

    mode: str = "snapshot"

    def client(self) -> UndesaClient:
        return UndesaClient(mode=self.mode)


class MissingMigrantsResource(dg.ConfigurableResource):
    """IOM Missing Migrants Project yearly JSON (no key)."""

    mode: str = "snapshot"
    first_year: int = 2014

    def client(self) -> MissingMigrantsClient:
        return MissingMigrantsClient(mode=self.mode, first_year=self.first_year)


class DtmResource(dg.ConfigurableResource):
    """IOM Displacement Tracking Matrix API v3.

    The personal key comes from the ``DTM_API_KEY`` environment variable through
    ``dg.EnvVar``, so the Dagster UI shows the variable's name, never its value. DTM data
    are never bundled (the licence forbids redistribution), so there is nothing to serve
    in snapshot mode.
    """

    mode: str = "snapshot"
    api_key: str | None = None
    base_url: str = dtm.BASE_URL

    def skip_reason(self) -> str | None:
        """Why DTM figures cannot be fetched in this configuration, or None if they can."""
        if self.mode != "live":
            return (
                "snapshot mode: DTM figures are never bundled because the DTM licence forbids "
                "redistribution; set CMC_SOURCE_MODE=live and DTM_API_KEY to load them"
            )
        if not self.api_key:
            return (
                f"{dtm.KEY_ENVIRONMENT_VARIABLE} is not set: DTM API v3 needs a personal subscription key "
                "(register on the DTM API portal, then set the variable and reload the code location)"
            )
        return None

    def client(self) -> dtm.DtmClient:
        return dtm.DtmClient(self.api_key or "", base_url=self.base_url)


class GovernanceNeedsResource(dg.ConfigurableResource):
    """The governance-needs workbook to load: a path, or empty for the bundled
    demonstration workbook."""

    workbook: str = ""


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment, with the project's defaults."""
    mode = settings.source_mode()
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url()),
        "raw_store": RawStoreResource(root=str(settings.raw_dir())),
        "ilostat": IlostatResource(mode=mode),
        "worldbank": WorldBankResource(mode=mode),
        "undesa": UndesaResource(mode=mode),
        "missing_migrants": MissingMigrantsResource(mode=mode),
        # EnvVar only when the variable exists: an unset EnvVar fails the step, and a
        # missing key must skip the DTM assets with a reason instead.
        "dtm": DtmResource(
            mode=mode,
            api_key=dg.EnvVar(dtm.KEY_ENVIRONMENT_VARIABLE)
            if os.environ.get(dtm.KEY_ENVIRONMENT_VARIABLE)
            else None,
        ),
        "governance_needs": GovernanceNeedsResource(workbook=settings.governance_needs_workbook()),
    }
