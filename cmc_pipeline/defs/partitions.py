"""Partitions: one per CMC country, from the country reference file (never from code)."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.lib.reference import cmc_iso3_codes

country_partitions = dg.StaticPartitionsDefinition(cmc_iso3_codes())

# Many countries in one run: a backfill of all 25 countries starts one process, and the
# sources are asked once per indicator for the whole batch rather than once per country.
batched_backfill = dg.BackfillPolicy.single_run()

# DuckDB allows one writer per file: every asset that writes the warehouse takes a slot
# in this pool, whose limit is 1 (set in dagster.yaml).
WAREHOUSE_POOL = "warehouse"
