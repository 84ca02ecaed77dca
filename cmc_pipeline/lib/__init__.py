"""Plain-Python pipeline logic. Nothing here imports Dagster, so every step can be run and
tested on its own, and reused from the command line."""
