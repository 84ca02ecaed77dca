"""Published marts: stable, contract-backed tables for BI tools, R, Excel and the report.

Marts are regional (they compare countries), so they are not partitioned: each rebuilds
whole from core once its inputs are up to date.
"""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.automation.rebuild import REBUILT_WHEN_INPUTS_CHANGE
from cmc_pipeline.defs.metadata import definition_metadata
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.quality import contract_checks, materialized_with_checks
from cmc_pipeline.defs.resources import WarehouseResource
from cmc_pipeline.lib import marts, mirror

FACTS = dg.AssetKey(["core", "fact_observation"])
COUNTRIES = dg.AssetKey(["core", "dim_country"])
INDICATORS = dg.AssetKey(["core", "dim_indicator"])
MART_SETTINGS = {
    "key_prefix": "marts",
    "group_name": "marts",
    "kinds": {"sql", "duckdb"},
    "pool": WAREHOUSE_POOL,
    # Rebuilt when what they read changes (defs/automation/rebuild.py).
    "automation_condition": REBUILT_WHEN_INPUTS_CHANGE,
}


@dg.asset(
    name="labour_migration_indicators",
    deps=[FACTS, COUNTRIES],
    metadata=definition_metadata(marts.LABOUR_MIGRATION),
    check_specs=contract_checks(marts.LABOUR_MIGRATION),
    **MART_SETTINGS,
)
def labour_migration_indicators(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One comparable row per country × year: migrants in the labour force and their share,
    employment and derived unemployment of foreign- vs native-born workers, inflows and
    outflows, nationals abroad, remittances (US$ and % of GDP), migrant stock, each value
    with its source and status. Columns come from ``reference/mart_indicator_columns.yaml``.
    """
    yield from materialized_with_checks(context, marts.build_labour_migration_indicators(warehouse.get()))


@dg.asset(
    name="remittances",
    deps=[FACTS, COUNTRIES],
    metadata=definition_metadata(marts.REMITTANCES),
    check_specs=contract_checks(marts.REMITTANCES),
    **MART_SETTINGS,
)
def remittances(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per country × year with remittances received and paid (US$), net, per person,
    as a share of GDP, and the average cost of sending USD 200 to the country."""
    yield from materialized_with_checks(context, marts.build_remittances(warehouse.get()))


@dg.asset(
    name="data_coverage",
    deps=[FACTS, COUNTRIES, INDICATORS],
    metadata=definition_metadata(marts.DATA_COVERAGE),
    check_specs=contract_checks(marts.DATA_COVERAGE),
    **MART_SETTINGS,
)
def data_coverage(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per country × indicator × source × year since 2000: whether a value exists and
    how recent it is. The gaps are a finding the working group needs to see."""
    yield from materialized_with_checks(context, marts.build_data_coverage(warehouse.get()))


@dg.asset(
    name="regional_aggregates",
    deps=[labour_migration_indicators, COUNTRIES],
    metadata=definition_metadata(marts.REGIONAL_AGGREGATES),
    check_specs=contract_checks(marts.REGIONAL_AGGREGATES),
    **MART_SETTINGS,
)
def regional_aggregates(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per group (CARICOM, OECS, CSME) × additive indicator × year, published only where
    enough members report (``reference/regional_groups.yaml``), with the countries behind it."""
    yield from materialized_with_checks(context, marts.build_regional_aggregates(warehouse.get()))


@dg.asset(
    name="migration_corridors",
    deps=[dg.AssetKey(["core", "migration_corridor"]), COUNTRIES],
    metadata=definition_metadata(marts.MIGRATION_CORRIDORS),
    check_specs=contract_checks(marts.MIGRATION_CORRIDORS),
    **MART_SETTINGS,
)
def migration_corridors(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per origin × destination × year × sex with at least one CMC end: migrants living
    in each CMC country by origin, and each CMC country's diaspora by destination (UN DESA),
    with flags for the direction and each corridor's share of the origin's diaspora."""
    yield from materialized_with_checks(context, marts.build_migration_corridors(warehouse.get()))


@dg.asset(
    name="governance_needs",
    deps=[dg.AssetKey(["core", "governance_need"]), COUNTRIES],
    metadata=definition_metadata(marts.GOVERNANCE_NEEDS),
    check_specs=contract_checks(marts.GOVERNANCE_NEEDS),
    **MART_SETTINGS,
)
def governance_needs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per assessment × country × governance domain × topic: the needs a country
    recorded, ranked within the country by priority, and how many countries share them; a
    need shared by three or more countries is flagged and ranked as a regional priority."""
    yield from materialized_with_checks(context, marts.build_governance_needs(warehouse.get()))


@dg.asset(
    name="displacement",
    deps=[dg.AssetKey(["core", "displacement"]), COUNTRIES],
    metadata={**definition_metadata(marts.DISPLACEMENT), "dissemination_level": "restricted"},
    check_specs=contract_checks(marts.DISPLACEMENT),
    **MART_SETTINGS,
)
def displacement(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per country × DTM operation × round × reason × sex: internally displaced
    persons. Restricted by the DTM licence: readable in the warehouse, never exported."""
    yield from materialized_with_checks(context, marts.build_displacement(warehouse.get()))


def _upload_mart(dataset: str) -> dg.AssetsDefinition:
    from cmc_pipeline.defs.uploads.assets import current_key

    table = f"marts.{dataset}"

    @dg.asset(
        name=dataset,
        deps=[current_key(dataset), COUNTRIES],
        metadata=definition_metadata(table),
        check_specs=contract_checks(table),
        description=(
            f"One row per area × period × breakdown of the national {dataset.replace('_', ' ')} uploads: "
            "each country's current figures as it reported them, and regional (CMC) totals of each "
            "annual period over the countries that reported it, with how many did. "
            + marts.upload_mart_note(dataset)
        ),
        **MART_SETTINGS,
    )
    def upload_mart(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
        yield from materialized_with_checks(context, marts.build_upload_mart(warehouse.get(), dataset))

    return upload_mart


work_permits = _upload_mart("work_permits")
csme_skills_certificates = _upload_mart("csme_skills_certificates")
seasonal_workers = _upload_mart("seasonal_workers")
recruitment_agencies = _upload_mart("recruitment_agencies")
trafficking_cases = _upload_mart("trafficking_cases")


@dg.asset(
    name="mirror_flows",
    deps=[
        dg.AssetKey(["core", "seasonal_workers"]),
        dg.AssetKey(["core", "work_permits"]),
        dg.AssetKey(["core", "csme_skills_certificates"]),
        COUNTRIES,
    ],
    metadata=definition_metadata(mirror.MIRROR_FLOWS),
    check_specs=contract_checks(mirror.MIRROR_FLOWS),
    **MART_SETTINGS,
)
def mirror_flows(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """Mirror statistics: one row per flow × year × sending × receiving country (× CSME skill
    category) that both ends report, with each side's figure and the gap: seasonal workers
    departed against the work permits the receiving country granted to their nationals, CSME
    certificates a home country issued against those verified on arrival. The warning check
    mirror_figures_agree names both countries of each pair that disagrees. Restricted: the
    permits side adds up cells that exports suppress."""
    yield from materialized_with_checks(context, mirror.build_mirror_flows(warehouse.get()))
