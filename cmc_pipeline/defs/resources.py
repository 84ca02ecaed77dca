"""One Dagster resource per external system, configured through environment variables.

The same resource classes serve snapshot and live modes (``CMC_SOURCE_MODE``), so tests
and ``make build`` exercise the real parsing path.
"""

from pathlib import Path

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.lib.sources.ilostat import IlostatClient
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


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment, with the project's defaults."""
    mode = settings.source_mode()
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url()),
        "raw_store": RawStoreResource(root=str(settings.raw_dir())),
        "ilostat": IlostatResource(mode=mode),
        "worldbank": WorldBankResource(mode=mode),
    }
