"""Missing Migrants Project's Dagster assets: staged incidents and core.migrant_incident."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.quality import contract_checks, materialized_with_checks, on_latest_materialization
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.sources.missing_migrants import load
from cmc_pipeline.sources.missing_migrants.resource import MissingMigrantsResource
from cmc_pipeline.steps.review import REVIEW_TABLE, describe

EVERY_VALUE_MAPPED = "every_cause_and_route_mapped"


@dg.asset(
    key_prefix="staging",
    name="missing_migrants_incidents",
    group_name="staging",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.MISSING_MIGRANTS_STAGING),
    check_specs=contract_checks(load.MISSING_MIGRANTS_STAGING),
)
def missing_migrants_incidents(
    context: dg.AssetExecutionContext,
    missing_migrants: MissingMigrantsResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """IOM Missing Migrants Project: one row per incident in the Caribbean region, as
    published in the yearly JSON (``/global-figures/<year>/json``), numbers parsed.

    Not partitioned by country: one request per year covers the world, and incidents at
    sea belong to no country. Every yearly response is kept in the raw store first.
    """
    report = load.load_missing_migrants(missing_migrants.client(), warehouse.get(), raw_store.path)
    yield from materialized_with_checks(context, report)


@dg.asset(
    key_prefix="core",
    name="migrant_incident",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[missing_migrants_incidents],
    metadata=definition_metadata(load.INCIDENT_TABLE),
    check_specs=[
        *contract_checks(load.INCIDENT_TABLE),
        dg.AssetCheckSpec(
            EVERY_VALUE_MAPPED,
            asset=dg.AssetKey(["core", "migrant_incident"]),
            description="Every cause of death and route maps to a code; otherwise the country × "
            f"year slices that hold them keep their previous rows and {REVIEW_TABLE} lists them.",
        ),
    ],
)
def migrant_incident(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per published record of an incident in which migrants died or went missing
    (the Caribbean region and the CMC countries): CMC country (empty at sea or elsewhere),
    year and date, cause as written and as a code, route as a code, dead, missing and
    survivors. A cause or route no code list maps holds back its country × year slice,
    which keeps its previous rows; the value is listed in quality.unmapped_values.
    ``core.fact_observation`` holds the counts by country × year × cause × route."""
    report = load.build_migrant_incidents(warehouse.get())
    yield from materialized_with_checks(context, report)
    unmapped = report.unmapped
    yield from on_latest_materialization(
        context,
        [
            dg.AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name=EVERY_VALUE_MAPPED,
                passed=unmapped is None or unmapped.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "slices_held_back": report.held_back,
                    "values": dg.MetadataValue.md(describe(unmapped) if report.held_back else "none"),
                },
            )
        ],
    )
