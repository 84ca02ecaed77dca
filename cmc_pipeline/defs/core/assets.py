"""Core conformed tables: the country and indicator dimensions and the one long fact table."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL, batched_backfill, country_partitions
from cmc_pipeline.defs.quality import check_events, check_specs_for, review_check_spec
from cmc_pipeline.defs.resources import WarehouseResource
from cmc_pipeline.lib import core_tables
from cmc_pipeline.steps.facts import FACT_TABLE
from cmc_pipeline.steps.review import REVIEW_TABLE


@dg.asset(
    key_prefix="core",
    name="dim_country",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata("core.dim_country"),
    check_specs=check_specs_for("core.dim_country", dg.AssetKey(["core", "dim_country"])),
)
def dim_country(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per CMC country: ISO3/ISO2/M49 codes, English name, the name variants the
    sources use, and membership flags (CARICOM member or associate, OECS, CSME, 2018 MGNA,
    CMC). From ``reference/countries.csv``."""
    report = core_tables.build_dim_country(warehouse.get())
    yield materialize_result(report)
    yield from check_events(context, report)


@dg.asset(
    key_prefix="core",
    name="dim_indicator",
    group_name="core",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=definition_metadata("core.dim_indicator"),
    check_specs=check_specs_for("core.dim_indicator", dg.AssetKey(["core", "dim_indicator"])),
)
def dim_indicator(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """One row per indicator and source: label, topic, unit and multiplier, and its ids
    upstream. From the indicator catalogues under ``reference/``."""
    report = core_tables.build_dim_indicator(warehouse.get())
    yield materialize_result(report)
    yield from check_events(context, report)


FACTS_DESCRIPTION = """One comparable row per country × period × indicator × sex × age × breakdown × source.

Harmonised from the staging tables: ISO3 countries, ILO sex/age/breakdown codes
(``_Z`` where a breakdown does not apply), periods as 2019 / 2019-Q1 / 2019-M01, and an
explicit unit and multiplier (value × 10^unit_multiplier is the figure in ``unit``).
Sources: ILOSTAT, World Bank WDI, UN DESA migrant stocks (immigrants by origin,
emigrants by destination) and IOM Missing Migrants counts by cause and route; each
source's rows are replaced as its own slice. A value no code list maps holds back its
country × indicator slice, whose previous facts stay (see quality.unmapped_values).

Reads only promoted staging rows (a country blocked at staging keeps its last good
rows there). The facts are checked against their contract too, including the
comparability rules (sex totals, shares, year-on-year jumps, the same indicator from
two sources); a country failing an error rule keeps its previous facts.
"""
REVIEW_DESCRIPTION = """One row per value that no code list maps, with its country, slice (the indicator
as published), column, count, file and first line. Each held back its country × indicator
slice of core.fact_observation, whose previous facts stay; the rest of the load went on.
Empty when every value mapped."""


FACTS = dg.AssetKey(["core", "fact_observation"])
REVIEW = dg.AssetKey(["quality", "unmapped_values"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FACTS,
            group_name="core",
            kinds={"python", "duckdb"},
            deps=[
                dg.AssetKey(["staging", "ilostat_observations"]),
                dg.AssetKey(["staging", "worldbank_observations"]),
                dg.AssetKey(["staging", "undesa_migrant_stock"]),
                dg.AssetKey(["staging", "undesa_stock_by_destination"]),
                dg.AssetKey(["core", "migrant_incident"]),
                dim_country,
                dim_indicator,
            ],
            metadata=definition_metadata(FACT_TABLE),
            description=FACTS_DESCRIPTION,
        ),
        dg.AssetSpec(
            REVIEW,
            group_name="quality",
            kinds={"python", "duckdb"},
            metadata=definition_metadata(REVIEW_TABLE),
            description=REVIEW_DESCRIPTION,
        ),
    ],
    partitions_def=country_partitions,
    backfill_policy=batched_backfill,
    pool=WAREHOUSE_POOL,
    check_specs=[
        *check_specs_for(FACT_TABLE, FACTS, country_partitions),
        review_check_spec(FACTS, country_partitions),
    ],
)
def fact_observation(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """The fact table and, from the same harmonisation, its review list of unmapped values."""
    report = core_tables.build_fact_observations(warehouse.get(), context.partition_keys)
    yield materialize_result(report, FACTS)
    yield materialize_result(core_tables.review_report(report), REVIEW)
    yield from check_events(context, report, FACTS)
