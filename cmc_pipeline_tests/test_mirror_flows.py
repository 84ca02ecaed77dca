"""Mirror statistics: a flow between two member states as each of them reports it, the gap
between the two figures, a warning both countries see, and a report section that shows
no figure a public release hides."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from cmc_pipeline.lib import core_tables
from cmc_pipeline.lib.contracts import contract_for
from cmc_pipeline.lib.mirror import AGREE_RULE, CSME, MIRROR_FLOWS, SEASONAL, build_mirror_flows
from cmc_pipeline_tests.portal_fixtures import portal_app as portal_app  # the fixture

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def current_rows(dataset: str, rows: list[dict]) -> pd.DataFrame:
    """Rows of core.<dataset> as an accepted upload leaves them."""
    frame = pd.DataFrame(rows)
    return frame.assign(upload_id=frame["country_iso3"] + "-upload", raw_sha256="0" * 64,
                        demonstration_data=False, loaded_at=NOW)  # fmt: skip


def seasonal(origin, destination, programme, departed, period="2023", sex="SEX_T"):
    return {"country_iso3": origin, "period": period, "sex": sex, "destination_iso3": destination,
            "programme": programme, "workers_departed": departed, "workers_returned": departed}  # fmt: skip


def permits(receiver, nationality, occupation, permit_type, granted, period="2023", sex="SEX_T"):
    return {"country_iso3": receiver, "period": period, "sex": sex, "nationality_iso3": nationality,
            "occupation": occupation, "permit_type": permit_type, "permits_granted": granted,
            "applications_received": granted}  # fmt: skip


def certificates(reporter, nationality, category, action, count, period="2023", sex="SEX_T"):
    return {"country_iso3": reporter, "period": period, "sex": sex, "nationality_iso3": nationality,
            "skill_category": category, "certificate_action": action, "certificates": count}  # fmt: skip


@pytest.fixture
def uploads(warehouse):
    core_tables.build_dim_country(warehouse)

    def load(dataset: str, rows: list[dict]) -> None:
        table = f"core.{dataset}"
        warehouse.ensure_tables([contract_for(table)])
        if rows:
            warehouse.replace_slice(table, current_rows(dataset, rows), {})

    return load


def test_each_side_counts_its_total_once_and_the_gap_is_receiving_minus_sending(warehouse, uploads):
    uploads(
        "seasonal_workers",
        [
            # Guyana gives a total over programmes and its parts: the total is taken, once.
            seasonal("GUY", "BRB", "TOTAL", 100),
            seasonal("GUY", "BRB", "OTHER", 60),
            seasonal("GUY", "BRB", "CAN_SAWP", 40),
            seasonal("GUY", "BRB", "OTHER", 55, sex="SEX_M"),  # not both sexes: not compared
            seasonal("GUY", "CAN", "CAN_SAWP", 500),  # Canada reports no permits here
            seasonal("JAM", "TTO", "OTHER", 30),  # Trinidad and Tobago gave Jamaicans no permit row
        ],
    )
    uploads(
        "work_permits",
        [
            # Barbados: new and renewed permits added, occupations added; no TOTAL row given.
            permits("BRB", "GUY", "OCU_ISCO08_6", "NEW", 70),
            permits("BRB", "GUY", "OCU_ISCO08_6", "RENEWAL", 20),
            permits("BRB", "GUY", "OCU_ISCO08_9", "NEW", 40),
            permits("BRB", "VEN", "OCU_ISCO08_9", "NEW", 5),
            permits("BRB", "GUY", "OCU_ISCO08_9", "NEW", 900, period="2023-Q1"),  # not annual
        ],
    )
    uploads(
        "csme_skills_certificates",
        [
            certificates("GUY", "GUY", "NURSE", "ISSUED", 50),
            certificates("BRB", "GUY", "NURSE", "VERIFIED", 20),
            certificates("TTO", "GUY", "NURSE", "VERIFIED", 26),
            certificates("GUY", "GUY", "TEACHER", "ISSUED", 10),  # verified nowhere: no mirror
            certificates("BRB", "JAM", "NURSE", "ISSUED", 99),  # a host country's issue: no mirror
        ],
    )
    build_mirror_flows(warehouse)

    mirror = warehouse.query(f"SELECT * FROM {MIRROR_FLOWS} ORDER BY flow")
    assert mirror[["flow", "year", "origin_iso3", "destination_iso3", "breakdown"]].values.tolist() == [
        [CSME, 2023, "GUY", "CMC", "NURSE"],
        [SEASONAL, 2023, "GUY", "BRB", "_T"],
    ]
    csme, seasonal_row = mirror.iloc[0], mirror.iloc[1]
    assert (seasonal_row.origin_reported, seasonal_row.destination_reported) == (100, 130)
    assert (seasonal_row.gap, seasonal_row.gap_pct) == (30, 30)
    assert not seasonal_row.figures_agree  # 30 apart is more than 10 % of 130
    assert (csme.origin_reported, csme.destination_reported, csme.destination_countries) == (
        50,
        46,
        "BRB TTO",
    )
    assert csme.figures_agree  # 4 apart is within 10 % of 50


def test_both_countries_of_a_disagreeing_pair_see_the_warning(warehouse, uploads):
    uploads("seasonal_workers", [seasonal("GUY", "BRB", "OTHER", 100), seasonal("JAM", "BRB", "OTHER", 50)])
    uploads(
        "work_permits",
        [
            permits("BRB", "GUY", "OCU_ISCO08_9", "TOTAL", 180),
            permits("BRB", "JAM", "OCU_ISCO08_9", "TOTAL", 52),
        ],
    )
    uploads("csme_skills_certificates", [])  # none: only the seasonal flow is compared
    report = build_mirror_flows(warehouse)

    results = warehouse.query(
        "SELECT country_iso3, passed, rows_checked, rows_failed, first_offence FROM quality.check_results "
        f"WHERE table_name = '{MIRROR_FLOWS}' AND rule_id = '{AGREE_RULE}' AND country_iso3 <> '_Z' "
        "ORDER BY country_iso3"
    )
    assert results[["country_iso3", "passed", "rows_checked", "rows_failed"]].values.tolist() == [
        ["BRB", False, 2, 1],
        ["GUY", False, 1, 1],
        ["JAM", True, 1, 0],
    ]
    guyana = results.set_index("country_iso3").loc["GUY", "first_offence"]
    assert "'sending': 'GUY'" in guyana and "'receiving': 'BRB'" in guyana and "'partner': 'BRB'" in guyana
    barbados = results.set_index("country_iso3").loc["BRB", "first_offence"]
    assert "'partner': 'GUY'" in barbados

    # The Dagster check says the same in one line for the data engineer.
    from cmc_pipeline.defs.quality import combined_evaluation

    evaluation = combined_evaluation(
        __import__("dagster").AssetKey(["marts", "mirror_flows"]),
        report.validation.for_rule(AGREE_RULE),
        report,
    )
    assert not evaluation.passed
    assert "failed for BRB (1 rows), GUY (1 rows)" in evaluation.description


def test_the_bundled_build_mirrors_guyana_with_its_partners(built_warehouse):
    warehouse, _ = built_warehouse
    mirror = warehouse.query(f"SELECT * FROM {MIRROR_FLOWS}")
    seasonal_rows = mirror[mirror["flow"] == SEASONAL]
    assert set(zip(seasonal_rows["origin_iso3"], seasonal_rows["destination_iso3"], strict=True)) == {
        ("GUY", "BRB"),
        ("GUY", "TTO"),
    }
    # The demonstration figures sit near the partner's in 2022 and apart in 2023.
    assert seasonal_rows.set_index("year")["figures_agree"].groupby(level=0).all().to_dict() == {
        2022: True,
        2023: False,
    }
    # The sending side as the core table holds it, added up independently.
    core = warehouse.query(
        "SELECT destination_iso3, CAST(period AS INTEGER) AS year, sum(workers_departed) AS departed "
        "FROM core.seasonal_workers WHERE country_iso3 = 'GUY' AND sex = 'SEX_T' GROUP BY 1, 2"
    ).set_index(["destination_iso3", "year"])["departed"]
    for row in seasonal_rows.itertuples():
        assert row.origin_reported == core.loc[(row.destination_iso3, row.year)]
    assert set(mirror.loc[mirror["flow"] == CSME, "destination_countries"]) == {"BRB JAM TTO"}
    assert mirror["demonstration_data"].all()


def test_the_report_shows_no_mirror_figure_a_public_release_hides(built_warehouse, tmp_path):
    """A receiving figure adds up permit cells: it is shown only where the public release
    of the permits shows every one of them, and then equals their sum."""
    from cmc_pipeline.lib.exports import release_for_audience
    from cmc_pipeline.lib.report import write_report
    from cmc_pipeline.lib.sharing import sharing_settings

    warehouse, _ = built_warehouse
    html = write_report(warehouse, tmp_path / "report.html").path.read_text(encoding="utf-8")
    section = re.search(r'<section id="mirror">(.*?)</section>', html, re.S).group(1)
    table = pd.read_html(__import__("io").StringIO(section), match="Sending country reports")[0]
    seasonal_rows = table[table["Flow"].str.startswith("Seasonal workers")]
    assert len(seasonal_rows) == 4  # Guyana to Barbados and to Trinidad and Tobago, 2022 and 2023

    contract = contract_for("marts.work_permits")
    frame = warehouse.query("SELECT * FROM marts.work_permits")[contract.column_names]
    # The release the report made is in the ledger: asking again gives the same cells.
    from cmc_pipeline.lib.exports import default_ledger

    public, *_ = release_for_audience(
        frame, contract, audience="public", settings=sharing_settings(), ledger=default_ledger(warehouse)
    )
    annual = public[
        (public["area_type"] == "country") & (public["sex"] == "SEX_T") & (public["frequency"] == "A")
    ]
    for row in seasonal_rows.itertuples():
        receiver = re.search(r"\((\w{3})\)", row.Receiving).group(1)
        cells = annual[(annual["area_code"] == receiver) & (annual["nationality_iso3"] == "GUY")
                       & (annual["year"] == row.Year)]  # fmt: skip
        shown = row._7
        if (cells["permits_granted_conf_status"] == "F").all():
            assert float(str(shown).replace(",", "")) == cells["permits_granted"].sum()
        else:
            assert shown == "n.p." and row.Gap == "—" and row._9 == "—"


def test_the_officers_of_both_countries_see_the_pair_and_the_warning_in_the_portal(portal_app, warehouse):
    """Barbados's officer sees Guyana's departures beside Barbados's own permits for
    Guyanese, and where they differ; an analyst's page has no such section, and Jamaica's
    officer, who reports neither side of these flows, sees none."""
    from cmc_pipeline import settings
    from cmc_pipeline.lib import marts
    from cmc_pipeline.lib.uploads.loading import load_demonstration_uploads
    from cmc_pipeline_tests.portal_fixtures import sign_in

    core_tables.build_dim_country(warehouse)
    for dataset in ("seasonal_workers", "work_permits", "csme_skills_certificates"):
        load_demonstration_uploads(dataset, ["BRB", "GUY", "JAM"], warehouse, settings.raw_dir())
        marts.build_upload_mart(warehouse, dataset)
    build_mirror_flows(warehouse)
    expected = warehouse.query(
        f"SELECT * FROM {MIRROR_FLOWS} WHERE flow = '{SEASONAL}' AND destination_iso3 = 'BRB' ORDER BY year"
    )
    assert expected["figures_agree"].tolist() == [True, False]

    def mirror_section(email: str, country: str, section: str = "mirror") -> str | None:
        client = portal_app.test_client()
        sign_in(client, email)
        page = client.get(f"/c/{country}").get_data(as_text=True)
        found = re.search(rf'<section class="dataset" id="{section}">(.*?)</section>', page, re.S)
        return found.group(1) if found else None

    barbados = mirror_section("brb.officer@labour.gov.bb", "BRB")
    assert barbados is not None
    rows = re.findall(
        r"<tr( class=\"disagree\")?>\s*<td>Seasonal workers / work permits</td>(.*?)</tr>", barbados, re.S
    )
    assert len(rows) == 2
    for (disagree, cells), row in zip(rows, expected.itertuples(), strict=True):
        values = re.findall(r"<td>(.*?)</td>", cells, re.S)
        assert values[:4] == [str(row.year), "GUY", "BRB", "_T"]
        assert values[4:6] == [str(int(row.origin_reported)), str(int(row.destination_reported))]
        assert bool(disagree) == (not row.figures_agree)
    assert mirror_section("analyst@cmc.invalid", "BRB") is None
    # The warning is among the checks Barbados's figures did not pass, without the partner's
    # figure its first offending row holds (the mirror section shows what may be shown).
    checks = mirror_section("brb.officer@labour.gov.bb", "BRB", "checks")
    assert "marts.mirror_flows" in checks and "(mirror_figures_agree)" in checks
    assert "receiving reports" not in checks
    assert mirror_section("analyst@cmc.invalid", "BRB", "checks") is None
    # Jamaica verified Guyanese certificates, but Guyana's issued ones are in this warehouse
    # only through Guyana's file: Jamaica's officer sees the CSME pair, not the seasonal one.
    jamaica = mirror_section("jam.officer@labour.gov.jm", "JAM")
    assert jamaica is not None and "Seasonal workers / work permits" not in jamaica
    assert "CSME certificates issued / verified" in jamaica
