"""A backfill's year selection: a run tagged ``cmc/years`` replaces only those years of the
selected countries; every other year stays as it was."""

from __future__ import annotations

import dagster as dg
import pytest

from cmc_pipeline.lib.warehouse import Years

JAM_ONLY = {"dagster/asset_partition_range_start": "JAM", "dagster/asset_partition_range_end": "JAM"}


@pytest.mark.parametrize(
    ("text", "years"),
    [("2019", Years(2019, 2019)), ("2015-2024", Years(2015, 2024)), (" 2000 – 2024 ", Years(2000, 2024))],
)
def test_years_are_read_as_a_person_writes_them(text, years):
    assert Years.parse(text) == years


@pytest.mark.parametrize("text", ["2024-2015", "last year", "19", "2015-24"])
def test_years_that_are_not_a_range_are_refused_with_an_example(text):
    with pytest.raises(ValueError, match="a year or a range like 2015-2024"):
        Years.parse(text)


def run_build(tags: dict) -> dg.ExecuteInProcessResult:
    from cmc_pipeline.orchestration import load_definitions

    job = load_definitions().resolve_job_def("build_warehouse")
    return job.execute_in_process(instance=dg.DagsterInstance.get(), tags=tags, raise_on_error=False)


# A value no source publishes, yet one every contract rule accepts (a negative mark would
# rightly be held back by the facts' no-negative-counts rule).
MARK = 0.123456


def marked_rows(warehouse, table: str, period: str) -> dict[str, int]:
    """JAM rows still carrying the mark, before 2020 and from 2020 on."""
    found = warehouse.query(
        f"SELECT substr({period}, 1, 4) >= '2020' AS recent, count(*) AS n FROM {table} "
        f"WHERE country_iso3 = 'JAM' AND value = {MARK} GROUP BY 1"
    )
    return {("recent" if r.recent else "earlier"): int(r.n) for r in found.itertuples()}


def test_a_run_tagged_with_years_reloads_only_those_years(data_dir, warehouse):
    from cmc_pipeline.cli import prepare_dagster_home

    prepare_dagster_home()
    assert run_build(JAM_ONLY).success
    # Mark every JAM World Bank value, staged and harmonised, so we can see which come back.
    with warehouse.connect() as connection:
        connection.execute(
            f"UPDATE staging.worldbank_observations SET value = {MARK} "
            "WHERE country_iso3 = 'JAM' AND value IS NOT NULL"
        )
        connection.execute(
            f"UPDATE core.fact_observation SET value = {MARK} "
            "WHERE country_iso3 = 'JAM' AND source = 'World Bank WDI'"
        )
    marked = marked_rows(warehouse, "staging.worldbank_observations", "date")
    assert marked["earlier"] > 0 and marked["recent"] > 0
    # Staging keeps every vintage (download and API); core has one figure per key.
    marked_facts = marked_rows(warehouse, "core.fact_observation", "period")
    assert marked_facts["earlier"] > 0 and marked_facts["recent"] > 0

    result = run_build({**JAM_ONLY, "cmc/years": "2020-2024"})

    assert result.success
    # 2020-2024 reloaded from the source; 2000-2019 untouched, in staging and in the facts.
    assert marked_rows(warehouse, "staging.worldbank_observations", "date") == {"earlier": marked["earlier"]}
    assert marked_rows(warehouse, "core.fact_observation", "period") == {"earlier": marked_facts["earlier"]}
    (materialization,) = [
        m for m in result.asset_materializations_for_node("staging__worldbank_observations")
    ]
    assert materialization.metadata["years"].value == "2020-2024"


def test_a_run_with_an_unreadable_years_tag_fails_saying_why(data_dir):
    from cmc_pipeline.cli import prepare_dagster_home

    prepare_dagster_home()
    result = run_build({**JAM_ONLY, "cmc/years": "recent"})
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert any(
        "run tag cmc/years: years must be a year or a range like 2015-2024, not 'recent'"
        in e.step_failure_data.error.message
        for e in failures
    )
