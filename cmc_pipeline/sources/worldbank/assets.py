"""The World Bank's Dagster asset: the staged WDI series, one typed table."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import (
    WAREHOUSE_POOL,
    batched_backfill,
    country_partitions,
    selected_years,
)
from cmc_pipeline.defs.quality import check_events, check_specs_for
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.sources.worldbank import load
from cmc_pipeline.sources.worldbank.resource import WorldBankResource


@dg.asset(
    key_prefix="staging",
    name="worldbank_observations",
    group_name="staging",
    kinds={"python", "duckdb"},
    partitions_def=country_partitions,
    backfill_policy=batched_backfill,
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.WORLDBANK_STAGING),
    check_specs=check_specs_for(
        load.WORLDBANK_STAGING, dg.AssetKey(["staging", "worldbank_observations"]), country_partitions
    ),
)
def worldbank_observations(
    context: dg.AssetExecutionContext,
    worldbank: WorldBankResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """World Bank WDI series (remittances and their cost, migrant stock, net migration,
    labour force, population) for each CMC country.

    One row per country × indicator × year as the Indicators API v2 published it, from
    ``sources/worldbank/indicators.yaml``. Anguilla and Montserrat are not World Bank
    economies and have no rows. Checked against the staging contract per country before
    it is written, like ILOSTAT.
    """
    years = selected_years(context)
    report = load.load_worldbank(
        worldbank.client(years), warehouse.get(), raw_store.path, context.partition_keys, years
    )
    yield materialize_result(report)
    yield from check_events(context, report)
