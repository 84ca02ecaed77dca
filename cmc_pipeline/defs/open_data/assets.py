"""Open-data staging assets: ILOSTAT and World Bank, one typed table per source."""

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
from cmc_pipeline.defs.resources import (
    IlostatResource,
    RawStoreResource,
    WarehouseResource,
    WorldBankResource,
)
from cmc_pipeline.lib import open_data


@dg.asset(
    key_prefix="staging",
    name="ilostat_observations",
    group_name="staging",
    kinds={"python", "duckdb"},
    partitions_def=country_partitions,
    backfill_policy=batched_backfill,
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(open_data.ILOSTAT_STAGING),
    check_specs=check_specs_for(
        open_data.ILOSTAT_STAGING, dg.AssetKey(["staging", "ilostat_observations"]), country_partitions
    ),
)
def ilostat_observations(
    context: dg.AssetExecutionContext,
    ilostat: IlostatResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """ILOSTAT labour-migration (ILMS) and labour-market series for each CMC country.

    One row per row ILOSTAT published: codes, labels and values as they came (counts are
    mostly in thousands). Every response is kept byte-for-byte in the raw store first;
    ``raw_sha256`` points to it. Indicators and their ids in both API generations come
    from ``reference/ilostat_indicators.yaml``.

    Each country's rows are checked against the staging contract before they are written;
    a country failing an error rule keeps its previous rows (see its checks).
    """
    years = selected_years(context)
    report = open_data.load_ilostat(
        ilostat.client(years), warehouse.get(), raw_store.path, context.partition_keys, years
    )
    yield materialize_result(report)
    yield from check_events(context, report)


@dg.asset(
    key_prefix="staging",
    name="worldbank_observations",
    group_name="staging",
    kinds={"python", "duckdb"},
    partitions_def=country_partitions,
    backfill_policy=batched_backfill,
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(open_data.WORLDBANK_STAGING),
    check_specs=check_specs_for(
        open_data.WORLDBANK_STAGING, dg.AssetKey(["staging", "worldbank_observations"]), country_partitions
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
    ``reference/worldbank_indicators.yaml``. Anguilla and Montserrat are not World Bank
    economies and have no rows. Checked against the staging contract per country before
    it is written, like ILOSTAT.
    """
    years = selected_years(context)
    report = open_data.load_worldbank(
        worldbank.client(years), warehouse.get(), raw_store.path, context.partition_keys, years
    )
    yield materialize_result(report)
    yield from check_events(context, report)
