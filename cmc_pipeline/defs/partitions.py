"""Partitions: one per CMC country, from the country reference file (never from code)."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.lib.reference import cmc_iso3_codes
from cmc_pipeline.lib.warehouse import Years

country_partitions = dg.StaticPartitionsDefinition(cmc_iso3_codes())

# Many countries in one run: a backfill of all 25 countries starts one process, and the
# sources are asked once per indicator for the whole batch rather than once per country.
batched_backfill = dg.BackfillPolicy.single_run()

# DuckDB allows one writer per file: every asset that writes the warehouse takes a slot
# in this pool, whose limit is 1 (set in dagster.yaml).
WAREHOUSE_POOL = "warehouse"

# Years are not a partition dimension (docs/operations.md says why): a run covers every
# year of the sources' window unless it carries this tag, e.g. cmc/years=2015-2024, which
# the UI's backfill dialog, `cmc backfill --years` and `dagster job backfill --tags` can
# all set. The source steps then replace only those years of the selected countries.
YEARS_TAG = "cmc/years"


def selected_years(context: dg.AssetExecutionContext) -> Years | None:
    text = context.run.tags.get(YEARS_TAG)
    if text is None:
        return None
    try:
        return Years.parse(text)
    except ValueError as exc:
        raise dg.Failure(f"run tag {YEARS_TAG}: {exc}") from None
