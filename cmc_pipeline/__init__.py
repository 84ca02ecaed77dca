"""cmc-pipeline: the regional labour-migration data warehouse of the Caribbean Migration
Consultations.

Layout, following the data's path:
- ``reference/``  country list, indicator catalogues, code lists (data, not code).
- ``snapshots/``  recorded upstream responses served in snapshot mode.
- ``lib/``        plain-Python logic with no Dagster imports: fetching, landing raw files,
                  parsing, harmonising, writing the warehouse. Usable from the CLI and tests.
- ``defs/``       Dagster assets, checks, resources, schedules and sensors, by domain.
- ``definitions.py`` loads ``defs/`` and sets the global execution policy once.
- ``cli.py``      the ``cmc`` command.
"""
