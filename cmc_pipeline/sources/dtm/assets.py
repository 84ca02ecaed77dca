"""DTM's Dagster assets: staged displacement records and core.displacement (restricted)."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.quality import check_events, contract_checks, materialized_with_checks
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.sources.dtm import load
from cmc_pipeline.sources.dtm.resource import DtmResource
from cmc_pipeline.steps.load_report import LoadReport


@dg.asset(
    key_prefix="staging",
    name="dtm_displacement",
    group_name="staging",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    output_required=False,
    metadata={
        **definition_metadata(load.DTM_STAGING),
        "dissemination_level": "restricted: the DTM licence forbids redistribution",
    },
    check_specs=contract_checks(load.DTM_STAGING),
)
def dtm_displacement(
    context: dg.AssetExecutionContext,
    dtm: DtmResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """IOM Displacement Tracking Matrix API v3, country level (admin 0): one row per record
    for the CMC countries (Haiti; the Bahamas after Dorian; Dominica and Antigua and
    Barbuda after the 2017 hurricanes …), split as DTM publishes it by the displaced
    persons' department of origin. Only the CMC countries named in DTM's country and
    operation lists are asked for; the others are listed in the run's metadata.

    RESTRICTED: every row says so, and nothing is ever bundled. Without a key (or in
    snapshot mode) the asset is not materialised: the run shows an observation with the
    reason, and core.displacement is skipped with it.
    """
    reason = dtm.skip_reason()
    if reason:
        context.log.warning(f"DTM displacement not loaded: {reason}")
        yield dg.AssetObservation(asset_key=context.asset_key, metadata={"skipped": reason})
        # Nothing was checked: the checks end without an evaluation, as the table does.
        yield from check_events(context, LoadReport(load.DTM_STAGING))
        return
    report = load.load_dtm(dtm.client(), warehouse.get(), raw_store.path, cmc_iso3_codes())
    yield from materialized_with_checks(context, report)


@dg.asset(
    key_prefix="core",
    name="displacement",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[dtm_displacement],
    metadata={
        **definition_metadata(load.DISPLACEMENT_TABLE),
        "dissemination_level": "restricted: the DTM licence forbids redistribution",
    },
    check_specs=contract_checks(load.DISPLACEMENT_TABLE),
)
def displacement(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per CMC country × DTM operation × reporting date × round × reason × sex:
    internally displaced persons present. RESTRICTED (dissemination_level on every row):
    kept out of core.fact_observation so that no public export can include it."""
    yield from materialized_with_checks(context, load.build_displacement(warehouse.get()))
