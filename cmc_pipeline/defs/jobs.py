"""Jobs the working group starts from the UI or the command line."""

import dagster as dg

# Everything, for any selection of countries: `cmc build` runs it over all of them in one
# run (a partition range), and the UI's "Materialize all" does the same.
build_warehouse_job = dg.define_asset_job(
    "build_warehouse",
    selection=dg.AssetSelection.all(),
    description="Refresh every source and rebuild every table for the selected countries.",
)
