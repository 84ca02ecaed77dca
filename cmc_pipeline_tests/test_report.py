"""The regional report: what the working group sees when they open the HTML file."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import dagster as dg
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
    montserrat = next(row for row in seen.heatmap_rows if row["country"] == "Montserrat")
    # Montserrat is not a World Bank economy and has no labour-force survey: mostly gaps,
    # beyond UN DESA's series (two by origin, six by destination)
    assert sum(colour == no_value for colour in montserrat["colours"]) >= len(montserrat["colours"]) - 9
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
    # The migrant stock's share of the population is UN DESA's, from the real workbooks.
    assert DEMONSTRATION_LABEL not in shown["migrant-stock"] and "UN DESA IMS" in shown["migrant-stock"]
    assert "SDG 10.c target" in shown["remittance-cost"]


def test_coverage_heat_map_shows_every_country_and_the_gaps(report_html):
    coverage = sections(report_html)["coverage"]
    assert coverage.count('<th scope="row" class="country">') == 25
    assert "Curaçao" in coverage and "Saint Vincent and the Grenadines" in coverage
    montserrat = re.search(r'class="country">Montserrat</th>(.*?)</tr>', coverage, re.S).group(1)
    with_data, indicators = map(int, re.search(r"(\d+) / (\d+)</td>", montserrat).groups())
    # Montserrat has little beyond UN DESA's series (two by origin, six by destination).
    assert with_data <= 9 and montserrat.count('class="l0"') == indicators - with_data


def test_a_mart_that_was_not_built_is_announced_not_hidden(warehouse_copy, tmp_path):
    import duckdb

    with duckdb.connect(warehouse_copy.url) as connection:
        connection.execute("DROP TABLE marts.migration_corridors")
        connection.execute("DROP TABLE marts.governance_needs")
    found = sections(write_report(warehouse_copy, tmp_path / "r.html").path.read_text(encoding="utf-8"))
    assert "Not yet loaded: the warehouse has no marts.migration_corridors." in found["corridors"]
    assert "Not yet loaded: the warehouse has no marts.governance_needs." in found["governance"]
    assert "<svg" not in found["corridors"] and "<table" not in found["governance"]


def test_data_quality_covers_every_source(report_html, built_warehouse):
    quality = sections(report_html)["quality"]
    assert "<strong>ILOSTAT</strong>" in quality and "<strong>World Bank WDI</strong>" in quality
    staged = built_warehouse[0].query("SELECT count(*) AS n FROM staging.ilostat_observations")["n"].iloc[0]
    assert f"staging.ilostat_observations: {staged:,} rows" in quality
    assert "No data from ILOSTAT for Anguilla, Aruba" in quality


def test_no_section_is_empty_after_a_build(report_html):
    """Every section of the report built by `make build` shows its figures or tables."""
    assert '<p class="not-loaded">' not in report_html
    quality = sections(report_html)["quality"]
    assert "core.fact_observation" in quality and "year_on_year_jump: " in quality


def test_corridors_and_shared_needs_come_from_their_marts_and_text_is_escaped(warehouse_copy, tmp_path):
    import duckdb

    with duckdb.connect(warehouse_copy.url) as connection:
        connection.execute(
            "UPDATE marts.governance_needs SET needs = 'Share data <script>alert(1)</script>' "
            "WHERE regional_rank = 1"
        )
        latest = connection.execute("SELECT max(year) FROM marts.migration_corridors").fetchall()[0][0]
        largest = connection.execute(
            "SELECT origin_name, destination_name FROM marts.migration_corridors "
            "WHERE year = ? AND sex = 'SEX_T' AND origin_is_cmc ORDER BY stock DESC LIMIT 1",
            [latest],
        ).fetchall()[0]
        most_shared = connection.execute(
            "SELECT topic FROM marts.governance_needs WHERE regional_rank = 1 LIMIT 1"
        ).fetchall()[0][0]

    html = write_report(warehouse_copy, tmp_path / "report.html").path.read_text(encoding="utf-8")

    found, shown = sections(html), figures(html)
    emigration = shown["corridors-emigration"]
    assert f"Where nationals of CMC countries live: largest corridors, {latest}" in emigration
    assert f"{largest[0]} → {largest[1]}" in emigration
    assert "UN DESA IMS" in emigration and DEMONSTRATION_LABEL in emigration
    governance = found["governance"]
    assert governance.index(most_shared) < governance.index("</table>"), "the most shared need is listed"
    assert "Share data &lt;script&gt;alert(1)&lt;/script&gt;" in governance
    assert "<script>" not in html, "text from the data must be escaped"
    assert "Assessment MGNA-2018" in governance and DEMONSTRATION_LABEL in governance


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


def test_work_permits_hide_in_the_report_exactly_what_the_public_export_hides(warehouse_copy, tmp_path):
    """The report is a release like an export: the cells it shows of marts.work_permits
    are the public export's, with the same CONF_STATUS where a count is hidden."""
    import pandas as pd

    from cmc_pipeline.lib.exports import export_marts

    html = write_report(warehouse_copy, tmp_path / "report.html").path.read_text(encoding="utf-8")
    export_marts(warehouse_copy, tmp_path / "public", audience="public", formats=("csv",))
    exported = pd.read_csv(tmp_path / "public" / "marts_work_permits.csv", keep_default_na=False, dtype=str)
    latest = exported[(exported["frequency"] == "A") & (exported["sex"] == "SEX_T")]
    latest = latest[latest["period"] == latest["period"].max()]
    areas = [*sorted(set(latest["area_code"]) - {"CMC"}), "CMC"]
    expected = []
    for _, group in latest.groupby(["nationality_iso3", "occupation", "permit_type"], sort=True):
        by_area = group.set_index("area_code")
        for area in areas:
            status, value = by_area.loc[area, ["permits_granted_conf_status", "permits_granted"]]
            expected.append(status if status != "F" else value)
    table = sections(html)["permits"]
    cells = re.findall(r'<td class="num"(?: data-conf-status="([CD])")?>(.*?)</td>', table, re.S)
    shown = [code or re.sub(r"[^\d]", "", text) for code, text in cells]
    assert shown == expected
    assert {"C", "D"} <= set(shown)
    assert "SDMX CONF_STATUS" in table


def test_a_chart_is_drawn_again_only_when_what_it_shows_changes(data_dir, monkeypatch):
    """Drawing is most of the report's time: the same figures give the chart kept from the
    last report, other figures a chart of their own."""
    from cmc_pipeline import settings
    from cmc_pipeline.lib import charts

    monkeypatch.setenv("CMC_CACHE_DIR", str(data_dir / "cache"))  # this test's charts only

    def bars(values):
        return charts.ranked_bars(
            ["Jamaica", "Guyana"], values, figure_id="f", scale=charts.PERCENT, axis_label="% of GDP"
        )

    kept = settings.cache_dir() / "charts"
    first = bars([16.5, 0.7])
    assert bars([16.5, 0.7]) == first and len(list(kept.glob("*.svg"))) == 1
    other = bars([16.5, 0.8])
    assert other != first and ">0.8%<" in other and len(list(kept.glob("*.svg"))) == 2
    with pytest.raises(TypeError, match="cannot be digested"):
        charts.ranked_bars(["Jamaica"], [object()], figure_id="f", scale=charts.PERCENT, axis_label="")
