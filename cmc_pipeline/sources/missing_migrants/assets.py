"""Missing Migrants Project's Dagster assets: staged incidents and core.migrant_incident."""

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.sources.missing_migrants import load
from cmc_pipeline.sources.missing_migrants.resource import MissingMigrantsResource


@dg.asset(
    key_prefix="staging",
    name="missing_migrants_incidents",
    group_name="staging",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.MISSING_MIGRANTS_STAGING),
)
def missing_migrants_incidents(
    missing_migrants: MissingMigrantsResource, warehouse: WarehouseResource, raw_store: RawStoreResource
) -> dg.MaterializeResult:
    """IOM Missing Migrants Project: one row per incident in the Caribbean region, as
    published in the yearly JSON (``/global-figures/<year>/json``), numbers parsed.

    Not partitioned by country: one request per year covers the world, and incidents at
    sea belong to no country. Every yearly response is kept in the raw store first.
    """
    report = load.load_missing_migrants(missing_migrants.client(), warehouse.get(), raw_store.path)
    return materialize_result(report)


@dg.asset(
    key_prefix="core",
    name="migrant_incident",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[missing_migrants_incidents],
    metadata=definition_metadata(load.INCIDENT_TABLE),
)
def migrant_incident(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per Caribbean incident in which migrants died or went missing: CMC country
    (empty at sea or elsewhere), year and date, cause and route as codes, dead, missing
    and survivors. An unknown cause or route fails and names the values.
    ``core.fact_observation`` holds the counts by country × year × cause × route."""
    return materialize_result(load.build_migrant_incidents(warehouse.get()))
