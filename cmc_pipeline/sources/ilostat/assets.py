"""ILOSTAT's Dagster asset: the staged series, one typed table."""

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
from cmc_pipeline.sources.ilostat import load
from cmc_pipeline.sources.ilostat.resource import IlostatResource


@dg.asset(
    key_prefix="staging",
    name="ilostat_observations",
    group_name="staging",
    kinds={"python", "duckdb"},
    partitions_def=country_partitions,
    backfill_policy=batched_backfill,
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(load.ILOSTAT_STAGING),
    check_specs=check_specs_for(
        load.ILOSTAT_STAGING, dg.AssetKey(["staging", "ilostat_observations"]), country_partitions
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
    from ``sources/ilostat/indicators.yaml``.

    Each country's rows are checked against the staging contract before they are written;
    a country failing an error rule keeps its previous rows (see its checks).
    """
    years = selected_years(context)
    report = load.load_ilostat(
        ilostat.client(years), warehouse.get(), raw_store.path, context.partition_keys, years
    )
    yield materialize_result(report)
    yield from check_events(context, report)
