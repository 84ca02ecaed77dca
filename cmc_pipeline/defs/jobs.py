"""Jobs the working group starts from the UI or the command line."""

import dagster as dg

from cmc_pipeline.defs.automation.freshness import FRESHNESS_CHECKS

# Everything, for any selection of countries: `cmc build` runs it over all of them in one
# run (a partition range), and the UI's "Materialize all" does the same. Freshness checks
# are left to their daily schedule: right after a build they say nothing new, and a build
# of a few countries would report the others as stale.
build_warehouse_job = dg.define_asset_job(
    "build_warehouse",
    selection=dg.AssetSelection.all() - FRESHNESS_CHECKS,
    description="Refresh every source and rebuild every table for the selected countries.",
)
