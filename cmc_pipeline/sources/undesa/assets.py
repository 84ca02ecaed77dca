"""UN DESA International Migrant Stock: the staged workbook and the migration corridors.

Not partitioned by country: one workbook covers the world, and a corridor belongs to two
countries. The country facts it feeds are written per country by core.fact_observation.
"""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.quality import contract_checks, materialized_with_checks
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.sources.undesa import load
from cmc_pipeline.sources.undesa.resource import UndesaResource


@dg.asset(
    key_prefix="staging",
    name="undesa_migrant_stock",
    group_name="staging",
    kinds={"python", "duckdb", "excel"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.UNDESA_STAGING),
    check_specs=contract_checks(load.UNDESA_STAGING),
)
def undesa_migrant_stock(
    context: dg.AssetExecutionContext,
    undesa: UndesaResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """UN DESA International Migrant Stock 2024, "Table 1" of the destination-and-origin
    workbook, for every pair with a CMC country at one end.

    One row per destination × origin × year (1990 … 2024) × sex as published, with the
    M49 codes, ISO3 where the location is a country, and the kind of aggregate where it is
    a region or group (World, Caribbean …). The workbook is kept byte-for-byte in the raw
    store first. The bundled workbook is demonstration data; `cmc import undesa FILE`
    loads the official one, which later builds keep.
    """
    yield from materialized_with_checks(
        context, load.load_undesa(undesa.client(), warehouse.get(), raw_store.path)
    )


@dg.asset(
    key_prefix="staging",
    name="undesa_stock_by_destination",
    group_name="staging",
    kinds={"python", "duckdb", "excel"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.DESTINATION_STAGING),
    check_specs=contract_checks(load.DESTINATION_STAGING),
)
def undesa_stock_by_destination(
    context: dg.AssetExecutionContext,
    undesa: UndesaResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """UN DESA International Migrant Stock by destination, Rev.2019 and Rev.2020 (the real
    workbooks): for every CMC country, the migrant stock by sex, the total population, the
    stock as a percentage of the population, female migrants as a percentage of the stock,
    and refugees, 1990–2019/2020. One row per revision × measure × country × year × sex, as
    published; every revision is kept (core takes the newest). Regions and groups are
    skipped and counted; an unknown M49 code or column block holds back only its values,
    listed in quality.unmapped_values. The workbooks are kept byte-for-byte in the raw store
    first."""
    yield from materialized_with_checks(
        context, load.load_stock_by_destination(undesa.client(), warehouse.get(), raw_store.path)
    )


@dg.asset(
    key_prefix="core",
    name="migration_corridor",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[undesa_migrant_stock],
    metadata=definition_metadata(load.CORRIDOR_TABLE),
    check_specs=contract_checks(load.CORRIDOR_TABLE),
)
def migration_corridor(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per origin country × destination country × year × sex: the migrant stock of
    a corridor with a CMC country at one end or both (where each country's emigrants live
    and where its immigrants come from). Regions and groups are excluded. From
    staging.undesa_migrant_stock."""
    yield from materialized_with_checks(context, load.build_migration_corridors(warehouse.get()))
