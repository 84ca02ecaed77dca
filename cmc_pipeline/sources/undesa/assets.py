"""UN DESA International Migrant Stock: the staged workbook and the migration corridors.

Not partitioned by country: one workbook covers the world, and a corridor belongs to two
countries. The country facts it feeds are written per country by core.fact_observation.
"""

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
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
)
def undesa_migrant_stock(
    undesa: UndesaResource, warehouse: WarehouseResource, raw_store: RawStoreResource
) -> dg.MaterializeResult:
    """UN DESA International Migrant Stock 2024, "Table 1" of the destination-and-origin
    workbook, for every pair with a CMC country at one end.

    One row per destination × origin × year (1990 … 2024) × sex as published, with the
    M49 codes, ISO3 where the location is a country, and the kind of aggregate where it is
    a region or group (World, Caribbean …). The workbook is kept byte-for-byte in the raw
    store first. The bundled workbook is demonstration data; `cmc import undesa FILE`
    loads the official one, which later builds keep.
    """
    return materialize_result(load.load_undesa(undesa.client(), warehouse.get(), raw_store.path))


@dg.asset(
    key_prefix="core",
    name="migration_corridor",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[undesa_migrant_stock],
    metadata=definition_metadata(load.CORRIDOR_TABLE),
)
def migration_corridor(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per origin country × destination country × year × sex: the migrant stock of
    a corridor with a CMC country at one end or both (where each country's emigrants live
    and where its immigrants come from). Regions and groups are excluded. From
    staging.undesa_migrant_stock."""
    return materialize_result(load.build_migration_corridors(warehouse.get()))
