"""IOM data: Missing Migrants Project incidents (open) and DTM displacement (restricted)."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.resources import (
    DtmResource,
    MissingMigrantsResource,
    RawStoreResource,
    WarehouseResource,
)
from cmc_pipeline.lib import migration_data
from cmc_pipeline.lib.reference import cmc_iso3_codes


@dg.asset(
    key_prefix="staging",
    name="missing_migrants_incidents",
    group_name="staging",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(migration_data.MISSING_MIGRANTS_STAGING),
)
def missing_migrants_incidents(
    missing_migrants: MissingMigrantsResource, warehouse: WarehouseResource, raw_store: RawStoreResource
) -> dg.MaterializeResult:
    """IOM Missing Migrants Project: one row per incident in the Caribbean region, as
    published in the yearly JSON (``/global-figures/<year>/json``), numbers parsed.

    Not partitioned by country: one request per year covers the world, and incidents at
    sea belong to no country. Every yearly response is kept in the raw store first.
    """
    report = migration_data.load_missing_migrants(missing_migrants.client(), warehouse.get(), raw_store.path)
    return materialize_result(report)


@dg.asset(
    key_prefix="core",
    name="migrant_incident",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[missing_migrants_incidents],
    metadata=definition_metadata(migration_data.INCIDENT_TABLE),
)
def migrant_incident(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per Caribbean incident in which migrants died or went missing: CMC country
    (empty at sea or elsewhere), year and date, cause and route as codes, dead, missing
    and survivors. An unknown cause or route fails and names the values.
    ``core.fact_observation`` holds the counts by country × year × cause × route."""
    return materialize_result(migration_data.build_migrant_incidents(warehouse.get()))


@dg.asset(
    key_prefix="staging",
    name="dtm_displacement",
    group_name="staging",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    output_required=False,
    metadata={
        **definition_metadata(migration_data.DTM_STAGING),
        "dissemination_level": "restricted: the DTM licence forbids redistribution",
    },
)
def dtm_displacement(
    context: dg.AssetExecutionContext,
    dtm: DtmResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """IOM Displacement Tracking Matrix API v3, country level (admin 0): one row per record
    for the CMC countries (Haiti; the Bahamas after Dorian; Dominica and Antigua and
    Barbuda after the 2017 hurricanes …).

    RESTRICTED: every row says so, and nothing is ever bundled. Without a key (or in
    snapshot mode) the asset is not materialised: the run shows an observation with the
    reason, and core.displacement is skipped with it.
    """
    reason = dtm.skip_reason()
    if reason:
        context.log.warning(f"DTM displacement not loaded: {reason}")
        yield dg.AssetObservation(asset_key=context.asset_key, metadata={"skipped": reason})
        return
    report = migration_data.load_dtm(dtm.client(), warehouse.get(), raw_store.path, cmc_iso3_codes())
    yield materialize_result(report)


@dg.asset(
    key_prefix="core",
    name="displacement",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[dtm_displacement],
    metadata={
        **definition_metadata(migration_data.DISPLACEMENT_TABLE),
        "dissemination_level": "restricted: the DTM licence forbids redistribution",
    },
)
def displacement(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per CMC country × DTM operation × reporting date × round × reason × sex:
    internally displaced persons present. RESTRICTED (dissemination_level on every row):
    kept out of core.fact_observation so that no public export can include it."""
    return materialize_result(migration_data.build_displacement(warehouse.get()))
