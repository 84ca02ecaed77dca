"""Migration governance needs, keyed by analysts from IOM assessment reports."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.quality import contract_checks, materialized_with_checks
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.sources.governance_needs import workbook as needs
from cmc_pipeline.sources.governance_needs.resource import GovernanceNeedsResource


@dg.asset(
    key_prefix="core",
    name="governance_need",
    group_name="core",
    kinds={"python", "duckdb", "excel"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata(needs.TABLE),
    check_specs=contract_checks(needs.TABLE),
)
def governance_need(
    context: dg.AssetExecutionContext,
    governance_needs: GovernanceNeedsResource,
    warehouse: WarehouseResource,
    raw_store: RawStoreResource,
) -> Iterator:
    """One row per finding or need of one country in one governance assessment
    (MGNA-2018, later MGI assessments): Migration Governance Framework domain, topic,
    finding, need, priority, MGI status score and where it is in the report.

    From the governance-needs workbook (`cmc template governance_needs`), read and checked
    as a national upload is (the uploads' reader, the contract's rules, every problem with
    its row and column): CMC_GOVERNANCE_NEEDS_WORKBOOK names the analysts' workbook; without it the bundled
    workbook of illustrative demonstration rows for the ten MGNA 2018 countries is loaded,
    and never over rows loaded from a real workbook.
    """
    report = needs.load_configured_workbook(governance_needs.workbook, warehouse.get(), raw_store.path)
    yield from materialized_with_checks(context, report)
