"""The core tables every source feeds: the fact table, and the country and indicator dimensions."""

from __future__ import annotations

from collections.abc import Callable

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.reference import COUNTRY_FLAG_COLUMNS, countries, migration_indicators
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources import licence_statement
from cmc_pipeline.sources.ilostat import load as ilostat_load
from cmc_pipeline.sources.ilostat.to_core import SOURCE_ILOSTAT
from cmc_pipeline.sources.missing_migrants import load as missing_migrants_load
from cmc_pipeline.sources.missing_migrants.to_core import SOURCE_MISSING_MIGRANTS
from cmc_pipeline.sources.undesa import load as undesa_load
from cmc_pipeline.sources.undesa.to_core import SOURCE_UNDESA
from cmc_pipeline.sources.worldbank import load as worldbank_load
from cmc_pipeline.sources.worldbank.catalogue import worldbank_indicators
from cmc_pipeline.sources.worldbank.to_core import SOURCE_WORLDBANK
from cmc_pipeline.steps.facts import FACT_TABLE, empty_facts
from cmc_pipeline.steps.gate import save_review, validate_and_save
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import REVIEW_TABLE, Harmonised, empty_review

# Every source that feeds the fact table: its name there, and how it maps the staged rows
# of a batch of countries. Each source owns its slice of the table.
FACT_FEEDS: dict[str, Callable[[Warehouse, list[str]], Harmonised]] = {
    SOURCE_ILOSTAT: ilostat_load.core_facts,
    SOURCE_WORLDBANK: worldbank_load.core_facts,
    SOURCE_UNDESA: undesa_load.core_facts,
    SOURCE_MISSING_MIGRANTS: missing_migrants_load.core_facts,
}


def build_fact_observations(warehouse: Warehouse, batch: list[str]) -> LoadReport:
    """Harmonise the staged rows of the batch's countries into ``core.fact_observation``.

    A value no code list maps holds back its country × indicator slice: that slice keeps
    its previous facts, the value is listed in ``quality.unmapped_values``, and every
    other slice of every country is written.
    """
    report = LoadReport(FACT_TABLE)
    harmonised = [feed(warehouse, batch) for feed in FACT_FEEDS.values()]
    facts = pd.concat([h.facts for h in harmonised if len(h.facts)] or [empty_facts()], ignore_index=True)
    reviews = [h.review for h in harmonised if len(h.review)]
    report.unmapped = pd.concat(reviews, ignore_index=True) if reviews else harmonised[0].review
    held = [h.held_slices for h in harmonised if len(h.held_slices)]
    report.demonstration = bool(facts["demonstration_data"].any()) if len(facts) else False
    facts = validate_and_save(
        warehouse,
        FACT_TABLE,
        [facts],
        report,
        batch=batch,
        slice_for=lambda countries: {"country_iso3": countries, "source": list(FACT_FEEDS)},
        keep_previous=pd.concat(held, ignore_index=True) if held else None,
    )
    for source in FACT_FEEDS:
        save_review(warehouse, report, source=source, table=FACT_TABLE, countries=batch)
    return report.finish(facts, batch)


def review_report(facts_report: LoadReport) -> LoadReport:
    """What the fact step wrote to the review list, as a report of its own."""
    review = facts_report.unmapped if facts_report.unmapped is not None else empty_review()
    report = LoadReport(REVIEW_TABLE, rows_written=len(review), preview=review.head(10))
    report.countries = facts_report.countries
    return report


def build_dim_country(warehouse: Warehouse) -> LoadReport:
    frame = pd.DataFrame(
        [
            {
                "country_iso3": c.iso3,
                "iso2": c.iso2,
                "m49": c.m49,
                "name_en": c.name_en,
                "name_variants": "|".join(c.name_variants),
                **{flag: c.flags[flag] for flag in COUNTRY_FLAG_COLUMNS},
            }
            for c in countries()
        ]
    )
    report = LoadReport("core.dim_country", preview=frame.head(10))
    validate_and_save(warehouse, "core.dim_country", [frame], report, batch=None, slice_for=lambda _: {})
    report.countries = list(frame["country_iso3"])
    return report


def build_dim_indicator(warehouse: Warehouse) -> LoadReport:
    rows = (
        [
            {
                "indicator_id": i.indicator_id,
                "source": SOURCE_ILOSTAT,
                "label": i.label,
                "topic": i.topic,
                "unit": i.unit,
                "unit_multiplier": i.unit_multiplier,
                "frequency": i.frequency,
                "source_ids": "; ".join(
                    f"{name}={value}"
                    for name, value in (("bulk", i.bulk_dataset_id), ("sdmx", i.sdmx_dataflow))
                    if value
                ),
                "licence": licence_statement("ilostat"),
            }
            # The catalogue's, and those of files users imported (their unit from the label).
            for i in ilostat_load.indicators_in_warehouse(warehouse)
        ]
        + [
            {
                "indicator_id": i.indicator_id,
                "source": SOURCE_WORLDBANK,
                "label": i.label,
                "topic": i.topic,
                "unit": i.unit,
                "unit_multiplier": i.unit_multiplier,
                "frequency": "A",
                "source_ids": f"wdi={i.indicator_id}",
                "licence": licence_statement("worldbank"),
            }
            for i in worldbank_indicators()
        ]
        + [
            {
                "indicator_id": i.indicator_id,
                "source": i.source,
                "label": i.label,
                "topic": i.topic,
                "unit": i.unit,
                "unit_multiplier": i.unit_multiplier,
                "frequency": i.frequency,
                "source_ids": i.source_ids,
                "licence": licence_statement(i.licence_key),
            }
            for i in migration_indicators()
        ]
    )
    frame = pd.DataFrame(rows)
    report = LoadReport("core.dim_indicator", preview=frame.head(10))
    validate_and_save(warehouse, "core.dim_indicator", [frame], report, batch=None, slice_for=lambda _: {})
    return report
