"""The ``cmc`` command: build the warehouse, run the UI, import downloads, record snapshots.

Heavy libraries (Dagster, pandas, DuckDB) are imported inside the commands so that
``cmc --help`` and ``cmc validate`` stay quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from cmc_pipeline import settings

DAGSTER_YAML = """\
# Local Dagster instance for `make build` and `make dev` (SQLite storage under this
# folder). A shared deployment uses deploy/dagster.yaml with PostgreSQL instead.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writer: every warehouse-writing step takes the `warehouse` pool.
    default_limit: 1
"""


def prepare_dagster_home() -> Path:
    """Make sure DAGSTER_HOME exists with telemetry off and the warehouse pool limited."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    return home


@click.group(help="cmc-pipeline: the CMC regional labour-migration data warehouse.")
def main() -> None:
    pass


@main.command(help="Materialise every asset for every country from the configured sources, then summarise.")
@click.option("--countries", default="", help="Comma-separated ISO3 codes (default: every CMC country).")
def build(countries: str) -> None:
    prepare_dagster_home()
    from cmc_pipeline.orchestration import build_warehouse, summarise_warehouse

    selected = [c.strip().upper() for c in countries.split(",") if c.strip()] or None
    outcome = build_warehouse(selected)
    click.echo(summarise_warehouse(outcome))
    if not outcome.success:
        sys.exit(1)


@main.command(help="Print what the warehouse holds: tables, rows, countries, sources, checks.")
def summary() -> None:
    prepare_dagster_home()
    from cmc_pipeline.orchestration import summarise_warehouse

    click.echo(summarise_warehouse(None))


@main.command(help="Start the Dagster UI on 127.0.0.1, with the run history of `cmc build`.")
@click.option("--port", default=3000, show_default=True)
def dev(port: int) -> None:
    prepare_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "dev",
        "-w",
        str(settings.PROJECT_DIR / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    sys.exit(subprocess.call(command, cwd=settings.PROJECT_DIR))


@main.command(
    help=(
        "Backfill countries through a running deployment's daemon, as the UI's Launch backfill "
        "does: the selected countries run together in one run."
    )
)
@click.option("--countries", required=True, help="Comma-separated ISO3 codes, or 'all'.")
@click.option("--years", default="", help="A year or a range such as 2015-2024 (default: every year).")
@click.option("--url", default="http://127.0.0.1:3000", show_default=True, help="The Dagster webserver.")
@click.option("--job", default="build_warehouse", show_default=True, help="The partitioned job to backfill.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the backfill until it ends.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds to follow it before giving up.")
def backfill(countries: str, years: str, url: str, job: str, wait: bool, timeout: int) -> None:
    from cmc_pipeline.defs.partitions import YEARS_TAG
    from cmc_pipeline.lib.backfills import BackfillError, launch_backfill, wait_for_backfill
    from cmc_pipeline.lib.reference import cmc_iso3_codes
    from cmc_pipeline.lib.warehouse import Years

    known = cmc_iso3_codes()
    selected = (
        known if countries.strip().lower() == "all" else [c.strip().upper() for c in countries.split(",")]
    )
    unknown = [c for c in selected if c not in known]
    if unknown:
        raise click.UsageError(f"not CMC countries: {', '.join(unknown)}; expected ISO3 codes among {known}")
    try:
        tags = {YEARS_TAG: str(Years.parse(years))} if years else {}
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    what = f"{len(selected)} countries, {tags.get(YEARS_TAG, 'every year')}"
    try:
        backfill_id = launch_backfill(url, selected, job=job, title=f"cmc backfill: {what}", tags=tags)
        click.echo(f"Backfill {backfill_id} of {job} for {what}: {url}/runs/b/{backfill_id}")
        if not wait:
            return
        state = wait_for_backfill(url, backfill_id, timeout=timeout)
    except BackfillError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backfill {backfill_id}: {state.status}, {len(state.runs)} run(s)")
    for run in state.runs:
        click.echo(f"  run {run['runId']} {run['status']}")
    if not state.succeeded:
        sys.exit(1)


@main.group(name="import", help="Land and load a file downloaded from a source's web site.")
def import_group() -> None:
    pass


def _import_file(kind: str, path: Path) -> None:
    prepare_dagster_home()
    from cmc_pipeline.lib.harmonise import HarmonisationError
    from cmc_pipeline.lib.http import SourceError
    from cmc_pipeline.orchestration import import_download

    try:
        report, fact_report = import_download(kind, path)
    except (SourceError, HarmonisationError) as exc:
        raise click.ClickException(f"{path} was not loaded; the warehouse is unchanged.\n{exc}") from exc
    click.echo(
        f"Loaded {report.rows_written} rows from {path.name} into {report.table} for "
        f"{len(report.countries)} countries ({', '.join(report.countries)}); "
        f"{fact_report.rows_written} harmonised rows now in core.fact_observation for them."
    )
    for reason, count in report.skipped.items():
        click.echo(f"  skipped {count} rows: {reason}")


@import_group.command(
    name="ilostat", help="An ILOSTAT CSV (code or label form) downloaded from ilostat.ilo.org."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_ilostat(file: Path) -> None:
    _import_file("ilostat", file)


@import_group.command(
    name="worldbank", help="A World Bank WDI bulk CSV (API_<indicator>_DS2_en_csv_v2_<n>.csv)."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_worldbank(file: Path) -> None:
    _import_file("worldbank", file)


@main.group(help="Recorded upstream responses used in snapshot mode.")
def snapshot() -> None:
    pass


@snapshot.command(
    help="Fetch every catalogue dataset live and store it as the new snapshot (needs internet)."
)
def record() -> None:
    from cmc_pipeline.lib.http import SourceError
    from cmc_pipeline.lib.snapshot_recording import record_all

    try:
        for line in record_all():
            click.echo(line)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
