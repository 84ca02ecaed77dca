"""The pieces every source's loading step shares, plain Python with no Dagster.

- ``fetching``: the fetched-response record, the base client (snapshot or live), strict CSV.
- ``landing``: keeping every body or imported file in the raw store with its provenance.
- ``load_report``: what one step did, for Dagster metadata and the command line.
- ``gate``: the single validate-and-save gate (contract check per country, then write).
- ``facts``: the fact table's schema, countries, periods and the rows it keeps.
- ``review``: values with no mapping, held back per slice and listed for a data engineer.
"""
