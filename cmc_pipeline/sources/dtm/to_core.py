"""DTM records → core.displacement (restricted)."""

from __future__ import annotations

from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.sources.dtm.client import RESTRICTED
from cmc_pipeline.steps.facts import HarmonisationError

SOURCE_DTM = "IOM DTM"
NOT_STATED = "not stated"


def dtm_to_displacement(staging: pd.DataFrame) -> pd.DataFrame:
    """``core.displacement`` rows: one per record and sex (total, males, females); a
    record is a country × operation × date × round × reason × department of origin."""
    dates = pd.to_datetime(staging["reporting_date"].str.slice(0, 10), errors="coerce", format="%Y-%m-%d")
    bad = dates.isna()
    if bad.any():
        raise HarmonisationError(
            "DTM reporting dates that are not YYYY-MM-DD…: "
            + ", ".join(
                f"{v!r} (record {n})"
                for v, n in zip(
                    staging["reporting_date"][bad], staging["source_row_number"][bad], strict=True
                )
            )
        )
    common = {
        "country_iso3": staging["country_iso3"],
        "operation": staging["operation"],
        "reporting_date": dates,
        "round_number": staging["round_number"].fillna(0),
        "displacement_reason": staging["displacement_reason"].fillna(NOT_STATED),
        # DTM splits a country's figure by the displaced persons' department of origin.
        "idp_origin_admin1_pcode": staging["idp_origin_admin1_pcode"].fillna(NOT_STATED),
        "idp_origin_admin1_name": staging["idp_origin_admin1_name"],
        "indicator_id": "DTM_IDP_PRESENT",
        "assessment_type": staging["assessment_type"],
        "source": SOURCE_DTM,
        "dissemination_level": RESTRICTED,
        "raw_sha256": staging["raw_sha256"],
        "loaded_at": staging["loaded_at"],
    }
    parts = [
        pd.DataFrame({**common, "sex": sex, "idps": staging[column]})
        for sex, column in (
            ("SEX_T", "num_present_idp_ind"),
            ("SEX_M", "number_males"),
            ("SEX_F", "number_females"),
        )
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[(rows["sex"] == "SEX_T") | rows["idps"].notna()]
    key = [
        "country_iso3",
        "operation",
        "reporting_date",
        "round_number",
        "displacement_reason",
        "idp_origin_admin1_pcode",
        "sex",
    ]
    duplicated = rows.duplicated(key, keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise HarmonisationError(
            f"DTM records repeat the same country, operation, date, round, reason and department of origin "
            f"({int(duplicated.sum())} rows), e.g. {first['country_iso3']} {first['operation']!r} "
            f"{first['reporting_date']:%Y-%m-%d} round {first['round_number']} "
            f"origin {first['idp_origin_admin1_pcode']}"
        )
    return rows.sort_values(key).reset_index(drop=True)
