"""Dagster definitions by domain. ``cmc_pipeline/definitions.py`` loads everything here."""
