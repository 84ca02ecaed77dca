"""Mirror statistics: one flow between two member states as each of them reports it.

Two flows are reported from both ends in the national uploads:

- **Seasonal workers.** The sending country reports workers departed to a destination
  (``core.seasonal_workers``); a CMC destination reports the work permits it granted to
  nationals of that country (``core.work_permits``, new and renewed permits). Compared
  by year, over every programme and occupation: departures carry no occupation.
- **CSME skills certificates.** The home country reports the certificates it issued to
  its own nationals (``core.csme_skills_certificates``, action ISSUED); the receiving
  countries report the certificates of those nationals they verified on arrival (action
  VERIFIED). The home country does not say where its holders went, so its figure is
  compared with the sum over every receiving country that reports, by year and skill
  category.

Each row of ``marts.mirror_flows`` puts both figures side by side with their gap, and says
whether they agree within the contract's tolerance (``mirror_tolerance_pct``). The warning
rule ``mirror_figures_agree`` counts the rows that do not; its result is kept for every
country of each disagreeing pair, so both data officers see where their figures differ
(:func:`per_country_results`).

Where a figure is the sum of several reported rows, a total row the country gave (all
programmes, TOTAL permits, all occupations) is taken instead of adding up its parts, so
nothing is counted twice.
"""

from __future__ import annotations

from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.quality import Offence, RuleResult, ValidationRun
from cmc_pipeline.steps.load_report import LoadReport

MIRROR_FLOWS = "marts.mirror_flows"
AGREE_RULE = "mirror_figures_agree"
SEASONAL = "SEASONAL_WORKERS"
CSME = "CSME_CERTIFICATES"
ALL_RECEIVING = "CMC"  # the destination of a home country's certificates: every receiving reporter
ALL = "_T"  # no breakdown (SDMX: total)
MIRRORED_DATASETS = ("seasonal_workers", "work_permits", "csme_skills_certificates")


def tolerance_pct() -> float:
    """How far apart two figures of one flow may be, in percent of the larger, and still agree."""
    return float(contract_for(MIRROR_FLOWS).custom_properties["mirror_tolerance_pct"])


def mirror_flows_sql() -> str:
    """Both flows' figures from the current national uploads, annual periods, both sexes."""
    tolerance = tolerance_pct()
    return f"""
        WITH departed_by_programme AS (
            SELECT country_iso3 AS origin_iso3, destination_iso3 AS destination,
                   CAST(period AS INTEGER) AS year,
                   max(CASE WHEN programme = 'TOTAL' THEN workers_departed END) AS all_programmes,
                   sum(CASE WHEN programme <> 'TOTAL' THEN workers_departed END) AS programmes_added,
                   bool_or(demonstration_data) AS demonstration_data
            FROM core.seasonal_workers
            WHERE length(period) = 4 AND sex = 'SEX_T'
            GROUP BY 1, 2, 3
        ),
        permits_by_occupation AS (
            SELECT country_iso3 AS destination, nationality_iso3 AS origin_iso3,
                   CAST(period AS INTEGER) AS year, occupation,
                   coalesce(max(CASE WHEN permit_type = 'TOTAL' THEN permits_granted END),
                            sum(CASE WHEN permit_type <> 'TOTAL' THEN permits_granted END)) AS permits,
                   bool_or(demonstration_data) AS demonstration_data
            FROM core.work_permits
            WHERE length(period) = 4 AND sex = 'SEX_T'
            GROUP BY 1, 2, 3, 4
        ),
        permits AS (
            SELECT destination, origin_iso3, year,
                   coalesce(max(CASE WHEN occupation = 'OCU_ISCO08_TOTAL' THEN permits END),
                            sum(CASE WHEN occupation <> 'OCU_ISCO08_TOTAL' THEN permits END)) AS permits,
                   bool_or(demonstration_data) AS demonstration_data
            FROM permits_by_occupation
            GROUP BY 1, 2, 3
        ),
        seasonal AS (
            SELECT '{SEASONAL}' AS flow, d.year, d.origin_iso3, d.destination AS destination_iso3,
                   '{ALL}' AS breakdown,
                   'workers_departed (seasonal_workers, all programmes)' AS origin_measure,
                   coalesce(d.all_programmes, d.programmes_added) AS origin_reported,
                   'permits_granted (work_permits, new and renewed, all occupations)' AS destination_measure,
                   p.permits AS destination_reported,
                   d.destination AS destination_countries,
                   d.demonstration_data OR p.demonstration_data AS demonstration_data
            FROM departed_by_programme AS d
            JOIN permits AS p
              ON p.destination = d.destination AND p.origin_iso3 = d.origin_iso3 AND p.year = d.year
        ),
        issued AS (
            SELECT country_iso3 AS origin_iso3, CAST(period AS INTEGER) AS year, skill_category,
                   sum(certificates) AS certificates, bool_or(demonstration_data) AS demonstration_data
            FROM core.csme_skills_certificates
            WHERE length(period) = 4 AND sex = 'SEX_T' AND certificate_action = 'ISSUED'
              AND nationality_iso3 = country_iso3
            GROUP BY 1, 2, 3
        ),
        verified AS (
            SELECT nationality_iso3 AS origin_iso3, CAST(period AS INTEGER) AS year, skill_category,
                   sum(certificates) AS certificates,
                   string_agg(DISTINCT country_iso3, ' ' ORDER BY country_iso3) AS receivers,
                   bool_or(demonstration_data) AS demonstration_data
            FROM core.csme_skills_certificates
            WHERE length(period) = 4 AND sex = 'SEX_T' AND certificate_action = 'VERIFIED'
              AND nationality_iso3 <> country_iso3
            GROUP BY 1, 2, 3
        ),
        csme AS (
            SELECT '{CSME}' AS flow, i.year, i.origin_iso3, '{ALL_RECEIVING}' AS destination_iso3,
                   CASE WHEN i.skill_category = 'TOTAL' THEN '{ALL}' ELSE i.skill_category END AS breakdown,
                   'certificates issued to its own nationals (csme_skills_certificates, ISSUED)'
                       AS origin_measure,
                   i.certificates AS origin_reported,
                   'certificates of those nationals verified on arrival (csme_skills_certificates, VERIFIED)'
                       AS destination_measure,
                   v.certificates AS destination_reported,
                   v.receivers AS destination_countries,
                   i.demonstration_data OR v.demonstration_data AS demonstration_data
            FROM issued AS i
            JOIN verified AS v
              ON v.origin_iso3 = i.origin_iso3 AND v.year = i.year AND v.skill_category = i.skill_category
        ),
        flows AS (SELECT * FROM seasonal UNION ALL SELECT * FROM csme)
        SELECT f.flow, f.year, f.origin_iso3, o.name_en AS origin_name, f.destination_iso3,
               coalesce(d.name_en, 'CMC countries reporting') AS destination_name, f.breakdown,
               f.origin_measure, f.origin_reported, f.destination_measure, f.destination_reported,
               f.destination_countries,
               f.destination_reported - f.origin_reported AS gap,
               CASE WHEN f.origin_reported > 0
                    THEN 100.0 * (f.destination_reported - f.origin_reported) / f.origin_reported
               END AS gap_pct,
               abs(f.destination_reported - f.origin_reported)
                   <= {tolerance} / 100.0 * greatest(f.origin_reported, f.destination_reported)
                   AS figures_agree,
               f.demonstration_data
        FROM flows AS f
        JOIN core.dim_country AS o ON o.country_iso3 = f.origin_iso3
        LEFT JOIN core.dim_country AS d ON d.country_iso3 = f.destination_iso3
        WHERE f.origin_reported IS NOT NULL AND f.destination_reported IS NOT NULL
    """


def per_country_results(run: ValidationRun, frame: pd.DataFrame) -> ValidationRun:
    """The agreement rule's result for every country of a disagreeing pair, the sending and
    each receiving country alike (the engine checks the table whole): what
    ``quality.check_results`` keeps and the Dagster check shows, so each data officer sees
    the flows where their figures and a partner's differ. Other rules stay as they are."""
    (whole,) = run.for_rule(AGREE_RULE)
    countries = sorted(
        set(frame["origin_iso3"]) | {c for listed in frame["destination_countries"] for c in listed.split()}
    )
    disagree = frame[~frame["figures_agree"].astype(bool)]
    receivers = frame["destination_countries"].str.split()
    results = [r for r in run.results if r.rule.id != AGREE_RULE]
    for country in countries:
        involved = frame[
            (frame["origin_iso3"] == country) | receivers.map(lambda listed, c=country: c in listed)
        ]
        failing = disagree.loc[disagree.index.intersection(involved.index)]
        results.append(
            RuleResult(
                rule=whole.rule,
                partition=country,
                rows_checked=len(involved),
                failing_rows=len(failing),
                examples=[_offence(country, row) for row in failing.head(5).itertuples()],
                evaluated_by=whole.evaluated_by,
            )
        )
    return ValidationRun(
        table=run.table,
        contract_version=run.contract_version,
        results=results,
        rows_checked=run.rows_checked,
        great_expectations_result=run.great_expectations_result,
        great_expectations_summary=run.great_expectations_summary,
    )


def _offence(country: str, row) -> Offence:
    partner = row.destination_countries if row.origin_iso3 == country else row.origin_iso3
    return Offence(
        country,
        None,
        None,
        {
            "flow": row.flow,
            "year": int(row.year),
            "sending": row.origin_iso3,
            "receiving": row.destination_countries,
            "breakdown": row.breakdown,
            "sending reports": _number(row.origin_reported),
            "receiving reports": _number(row.destination_reported),
            "partner": partner,
        },
        f"the figures agree within {tolerance_pct():g} % of the larger",
    )


def _number(value) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def build_mirror_flows(warehouse) -> LoadReport:
    """marts.mirror_flows, through the gate like every mart (checked whole: a row belongs to
    two countries), then the agreement rule's result kept for each country of a pair."""
    from cmc_pipeline.lib.marts import rebuild_mart
    from cmc_pipeline.steps.gate import save_check_results

    warehouse.ensure_tables([contract_for(f"core.{dataset}") for dataset in MIRRORED_DATASETS])
    report = rebuild_mart(warehouse, MIRROR_FLOWS, mirror_flows_sql())
    if not report.validation.passed:
        return report  # not written: the previous rows, and their results, stay
    frame = warehouse.query(f"SELECT * FROM {MIRROR_FLOWS}")
    report.validation = per_country_results(report.validation, frame)
    report.countries = sorted({r.partition for r in report.validation.for_rule(AGREE_RULE)})
    save_check_results(warehouse, report.validation)
    return report


# --- what an audience may see ------------------------------------------------------------


def released_rows(
    frame: pd.DataFrame,
    *,
    permits: pd.DataFrame,
    seasonal: pd.DataFrame,
    certificates: pd.DataFrame,
    own: str | None = None,
) -> list[dict]:
    """The mirror rows as a release to an audience may show them: the public (the regional
    report) or the members (a data officer's page in the portal).

    ``permits``, ``seasonal`` and ``certificates`` are the audience's releases of the three
    upload marts (the rows it may see; permits with their CONF_STATUS). A figure is shown
    only where every row it adds up is in the release and, for permits, free for
    publication: a sum of visible cells reveals nothing a release hides. ``own`` is the
    country whose officers are looking: its own figures are theirs and always shown. The
    gap and whether the figures agree are shown only when both figures are (either would
    bound a hidden one)."""
    from cmc_pipeline.lib.disclosure import FREE

    def annual_totals(release: pd.DataFrame) -> pd.DataFrame:
        return release[(release["area_type"] == "country") & (release["frequency"] == "A")
                       & (release["sex"] == "SEX_T")]  # fmt: skip

    permit_rows = annual_totals(permits)
    permit_free = (
        (permit_rows["permits_granted_conf_status"] == FREE)
        .groupby([permit_rows["area_code"], permit_rows["nationality_iso3"], permit_rows["year"]])
        .all()
    )
    seasonal_rows = annual_totals(seasonal)
    departed = set(
        seasonal_rows[["area_code", "destination_iso3", "year"]].itertuples(index=False, name=None)
    )
    certificate_rows = annual_totals(certificates)
    issued = set(
        certificate_rows[["area_code", "nationality_iso3", "certificate_action", "year"]].itertuples(
            index=False, name=None
        )
    )
    shown = []
    for row in frame.itertuples():
        year = int(row.year)
        if row.flow == SEASONAL:
            origin_shown = (row.origin_iso3, row.destination_iso3, year) in departed
            destination_shown = bool(permit_free.get((row.destination_iso3, row.origin_iso3, year), False))
        else:
            origin_shown = (row.origin_iso3, row.origin_iso3, "ISSUED", year) in issued
            destination_shown = all(
                (receiver, row.origin_iso3, "VERIFIED", year) in issued
                for receiver in row.destination_countries.split()
            )
        origin_shown = origin_shown or row.origin_iso3 == own
        destination_shown = destination_shown or (own is not None and row.destination_countries == own)
        both = origin_shown and destination_shown
        shown.append(
            {
                "flow": row.flow,
                "year": year,
                "origin": row.origin_iso3,
                "origin_name": row.origin_name,
                "destination": row.destination_iso3,
                "destination_name": row.destination_name,
                "destination_countries": row.destination_countries.split(),
                "breakdown": row.breakdown,
                "origin_reported": _number(row.origin_reported) if origin_shown else None,
                "destination_reported": _number(row.destination_reported) if destination_shown else None,
                "gap_pct": None if not both or pd.isna(row.gap_pct) else float(row.gap_pct),
                "figures_agree": bool(row.figures_agree) if both else None,
                "demonstration": bool(row.demonstration_data),
            }
        )
    return shown
