"""The regional report: what the working group sees when they open the HTML file."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from cmc_pipeline.lib.report import write_report
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline_tests.headless_chromium import CHROMIUM_MISSING, chromium_path, visit

FIGURE = re.compile(r'<figure class="chart" id="([^"]+)">(.*?)</figure>', re.S)
SECTION = re.compile(r'<section id="([^"]+)"[^>]*>(.*?)</section>', re.S)


def figures(html: str) -> dict[str, str]:
    return dict(FIGURE.findall(html))


def sections(html: str) -> dict[str, str]:
    return dict(SECTION.findall(html))


@pytest.fixture(scope="module")
def report_file(built_warehouse, tmp_path_factory) -> Path:
    warehouse, _ = built_warehouse
    return write_report(warehouse, tmp_path_factory.mktemp("report") / "regional_report.html").path


@pytest.fixture(scope="module")
def report_html(report_file: Path) -> str:
    return report_file.read_text(encoding="utf-8")


@pytest.fixture
def warehouse_copy(built_warehouse, tmp_path: Path) -> Warehouse:
    """A writable copy of the built warehouse, for tables other issues are adding."""
    warehouse, _ = built_warehouse
    copy = tmp_path / "cmc.duckdb"
    shutil.copy(warehouse.url, copy)
    return Warehouse(str(copy))


def test_report_opens_in_a_browser_with_no_errors_and_draws_every_chart(report_file, report_html):
    if chromium_path() is None:
        pytest.fail(CHROMIUM_MISSING)
    seen = visit(report_file, width=1280, full_page=True)

    assert seen.console_errors == []
    assert seen.external_requests == [], "the report must open offline"
    assert seen.title == "Labour migration in the Caribbean: regional data report"
    with_svg = {anchor for anchor, body in figures(report_html).items() if "<svg" in body}
    drawn = {chart["id"]: chart for chart in seen.charts if chart["rendered"]}
    assert set(drawn) == with_svg and len(drawn) >= 9
    for anchor, chart in drawn.items():
        assert chart["width"] > 700 and chart["height"] > 150, (anchor, chart)
        assert chart["marks"] > 0 and chart["texts"] > 5, (anchor, chart)
    assert len(seen.heatmap_rows) == 25
    no_value = "rgb(238, 241, 244)"
    assert all(
        set(row["colours"]) == {no_value} for row in seen.heatmap_rows if row["country"] == "Montserrat"
    )
    jamaica = next(row for row in seen.heatmap_rows if row["country"] == "Jamaica")
    assert len(set(jamaica["colours"])) >= 3, "coverage levels must show as different colours"

    from PIL import Image

    screenshot = Image.open(io.BytesIO(seen.screenshot_png)).convert("RGB")
    assert screenshot.width == 1280 and screenshot.height > 5000
    colours = screenshot.resize((320, screenshot.height // 4)).getcolors(maxcolors=1_000_000)
    assert len(colours) > 200, "the screenshot looks blank"


def test_every_figure_names_its_source_and_labels_demonstration_data(report_html):
    assert f"<strong>{DEMONSTRATION_LABEL}</strong>" in report_html  # the banner at the top
    shown = figures(report_html)
    for anchor, body in shown.items():
        assert '<span class="label">Source:</span>' in body, anchor
    # Generated series carry the label; the real WDI 2022 remittance values do not.
    for anchor in ("foreign-born-share", "unemployment-by-birth", "migration-flows", "net-migration"):
        assert DEMONSTRATION_LABEL in shown[anchor], anchor
    for anchor in ("remittances-latest", "remittances-over-time", "remittance-cost"):
        assert DEMONSTRATION_LABEL not in shown[anchor], anchor
        assert "World Bank WDI" in shown[anchor]
    assert "ILOSTAT: Labour force by sex, age and place of birth" in shown["foreign-born-share"]
    assert "SDG 10.c target" in shown["remittance-cost"]


def test_coverage_heat_map_shows_every_country_and_the_gaps(report_html):
    coverage = sections(report_html)["coverage"]
    assert coverage.count('<th scope="row" class="country">') == 25
    assert "Curaçao" in coverage and "Saint Vincent and the Grenadines" in coverage
    montserrat = re.search(r'class="country">Montserrat</th>(.*?)</tr>', coverage, re.S).group(1)
    assert montserrat.count('class="l0"') == 18 and "0 / 18" in montserrat
    assert "No data at all yet for Anguilla, Montserrat." in coverage


def test_sections_whose_tables_are_not_loaded_say_so(report_html):
    found = sections(report_html)
    assert (
        "Not yet loaded: the warehouse has no marts.migration_corridors or core.migration_corridor."
        in (found["corridors"])
    )
    assert "Not yet loaded: the warehouse has no marts.governance_needs" in found["governance"]
    assert "Not yet loaded: the warehouse has no quality.check_results." in found["quality"]
    assert "<svg" not in found["corridors"] and "<table" not in found["governance"]


def test_data_quality_covers_every_source(report_html):
    quality = sections(report_html)["quality"]
    assert "<strong>ILOSTAT</strong>" in quality and "<strong>World Bank WDI</strong>" in quality
    assert "staging.ilostat_observations: 7,689 rows" in quality
    assert "No data from ILOSTAT for Anguilla, Aruba" in quality


def create_table(warehouse: Warehouse, table: str, rows: list[dict]) -> None:
    import duckdb

    with duckdb.connect(warehouse.url) as connection:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
        connection.register("new_rows", pd.DataFrame(rows))
        connection.execute(f"CREATE TABLE {table} AS SELECT * FROM new_rows")


def corridor(origin, destination, origin_name, destination_name, stock, *, year=2020, sex="SEX_T") -> dict:
    return {
        "origin_iso3": origin,
        "destination_iso3": destination,
        "origin_name": origin_name,
        "destination_name": destination_name,
        "year": year,
        "sex": sex,
        "migrant_stock": stock,
        "source": "UN DESA IMS",
        "demonstration_data": True,
    }


def need(country, domain, topic, text, priority) -> dict:
    return {
        "country_iso3": country,
        "mgf_domain": domain,
        "topic": topic,
        "need": text,
        "priority": priority,
        "assessment": "MGNA-2018",
        "demonstration_data": True,
    }


def test_corridors_needs_and_checks_appear_once_loaded_and_text_is_escaped(warehouse_copy, tmp_path):
    create_table(
        warehouse_copy,
        "marts.migration_corridors",
        [
            corridor("JAM", "USA", "Jamaica", "United States of America", 780_000.0),
            corridor("HTI", "DOM", "Haiti", "Dominican Republic", 496_000.0),
            corridor("HTI", "DOM", "Haiti", "Dominican Republic", 230_000.0, sex="SEX_F"),
            corridor("VEN", "TTO", "Venezuela", "Trinidad and Tobago", 41_000.0),
            corridor("JAM", "GBR", "Jamaica", "United Kingdom", 999_999_999.0, year=2015),
        ],
    )
    policy, orderly = "Evidence-based policy", "Safe and orderly migration"
    create_table(
        warehouse_copy,
        "marts.governance_needs",
        [
            need("BRB", policy, "labour migration data", "Share data <script>alert(1)</script>", "high"),
            need("JAM", policy, "labour migration data", "A labour-market information system", "high"),
            need("TTO", policy, "labour migration data", None, "medium"),
            need("TTO", orderly, "border management", "Train border staff", "low"),
        ],
    )
    create_table(
        warehouse_copy,
        "quality.check_results",
        [
            {"table_name": "staging.ilostat_observations", "passed": True, "severity": "error"},
            {"table_name": "staging.ilostat_observations", "passed": False, "severity": "error"},
            {"table_name": "staging.worldbank_observations", "passed": False, "severity": "warning"},
        ],
    )

    html = write_report(warehouse_copy, tmp_path / "report.html").path.read_text(encoding="utf-8")

    found, shown = sections(html), figures(html)
    emigration = shown["corridors-emigration"]
    assert "Where nationals of CMC countries live: largest corridors, 2020" in emigration
    assert "Jamaica → United States of America" in emigration and "Haiti → Dominican Republic" in emigration
    assert "United Kingdom" not in emigration, "only the latest year is shown"
    assert "UN DESA IMS" in emigration and DEMONSTRATION_LABEL in emigration
    assert "Venezuela → Trinidad and Tobago" in shown["corridors-immigration"]
    assert "Venezuela" not in emigration, "Venezuela is not a CMC country of origin"

    governance = found["governance"]
    first_need = governance.index("labour migration data")
    assert first_need < governance.index("border management"), "the most shared need comes first"
    assert "Barbados, Jamaica, Trinidad and Tobago" in governance
    assert "Share data &lt;script&gt;alert(1)&lt;/script&gt;" in governance
    assert "<script>" not in html, "text from the data must be escaped"
    assert "Assessment MGNA-2018" in governance and DEMONSTRATION_LABEL in governance

    quality = found["quality"]
    ilostat_checks = re.search(r"<td>staging.ilostat_observations</td>(.*?)</tr>", quality, re.S).group(1)
    assert re.findall(r">(\d+)<", ilostat_checks) == ["2", "1", "1", "1"]  # checks, passed, failed, blocking


def test_escaping_covers_every_field_from_the_data(warehouse_copy, tmp_path):
    import duckdb

    with duckdb.connect(warehouse_copy.url) as connection:
        connection.execute(
            "UPDATE marts.labour_migration_indicators SET country_name = 'Jamaica <b>&</b>' "
            "WHERE country_iso3 = 'JAM'"
        )
        connection.execute(
            "UPDATE marts.data_coverage SET country_name = 'Jamaica <b>&</b>' WHERE country_iso3 = 'JAM'"
        )

    html = write_report(warehouse_copy, tmp_path / "report.html").path.read_text(encoding="utf-8")

    assert "<b>" not in html
    assert "Jamaica &lt;b&gt;&amp;&lt;/b&gt;" in html  # the heat-map row, escaped by the template
    assert "Jamaica &lt;b&gt;&amp;&lt;/b&gt;" in figures(html)["foreign-born-share"]  # escaped inside the SVG


def test_cmc_report_writes_the_file_and_prints_its_path(built_warehouse, tmp_path, monkeypatch):
    from cmc_pipeline.cli import main

    warehouse, _ = built_warehouse
    monkeypatch.setenv("CMC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CMC_WAREHOUSE", warehouse.url)

    default = CliRunner().invoke(main, ["report"])
    chosen = CliRunner().invoke(main, ["report", "--output", str(tmp_path / "for-the-meeting.html")])

    assert default.exit_code == 0, default.output
    assert default.output.strip() == str(tmp_path / "reports" / "regional_report.html")
    assert Path(default.output.strip()).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert chosen.exit_code == 0 and (tmp_path / "for-the-meeting.html").exists()


def test_cmc_report_without_a_warehouse_says_to_build_first(data_dir):
    from cmc_pipeline.cli import main

    result = CliRunner().invoke(main, ["report"])

    assert result.exit_code == 1
    assert "is missing or empty: run `cmc build` first" in result.output
    assert not (data_dir / "reports").exists()


def test_cmc_build_writes_the_report_as_an_asset(built_warehouse):
    warehouse, _ = built_warehouse
    folder = Path(warehouse.url).parent.parent
    report = folder / "reports" / "regional_report.html"
    assert report.exists()
    with dg.DagsterInstance.from_config(str(folder / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["reports", "regional_report"]))
    metadata = event.asset_materialization.metadata
    assert metadata["path"].path == str(report)
    assert metadata["data_label"].value == DEMONSTRATION_LABEL
    assert metadata["figures"].value >= 9
