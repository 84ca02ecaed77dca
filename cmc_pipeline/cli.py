"""The ``cmc`` command: build the warehouse, write the report, run the UI, import downloads,
record snapshots.

Heavy libraries (Dagster, pandas, DuckDB) are imported inside the commands so that
``cmc --help`` and ``cmc validate`` stay quick.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from cmc_pipeline import settings
from cmc_pipeline.lib.templates import TEMPLATE_DATASETS, TEMPLATE_FORMATS
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS

DAGSTER_YAML = """\
# Local Dagster instance for `make build` and `make dev` (SQLite storage under this
# folder). A shared deployment uses deploy/dagster.yaml with PostgreSQL instead.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writer: every warehouse-writing step takes the `warehouse` pool.
    default_limit: 1
# Dagster's SQLite event log with its databases kept open and WAL commits synced
# normally: the same files, written for a fraction of the cost (cmc_pipeline/instance_storage.py).
event_log_storage:
  module: cmc_pipeline.instance_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
"""


def prepare_dagster_home() -> Path:
    """Make sure DAGSTER_HOME exists with telemetry off, the warehouse pool limited and the
    event log storage of this project; a dagster.yaml this function wrote before is
    brought up to date, one written by a person is left alone."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = DAGSTER_YAML.format(runs_dir=json.dumps(str(home.resolve() / "history" / "runs")))
    header = DAGSTER_YAML.splitlines()[0]
    present = config.read_text(encoding="utf-8") if config.exists() else None
    if present is None or (present.startswith(header) and present != wanted):
        config.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    return home


# Commands that serve until stopped; every other command is a batch that ends.
SERVERS = {"dev", "portal"}
# A batch keeps most of what it allocates (definitions, a run's events, frames) to its
# end, and Python's cyclic garbage collector, run by default every 700 allocations, walks
# it again at each pass: 0.9 s of a 15 s warm build, 1,260 passes. Every 50,000
# allocations it takes 0.15 s, a dozen passes, and the build's peak memory is the same
# (about 510 MB; docs/benchmarks.md). A server keeps Python's default.
BATCH_GARBAGE_COLLECTION = (50_000, 20, 20)


def collect_garbage_as_a_batch() -> None:
    """Python's collector settings for a command that runs and ends (see above). At exit,
    after the ``atexit`` handlers registered while the command worked (handlers run last
    registered first), what is left is frozen: the interpreter's last full collection then
    skips it instead of walking half a gigabyte of objects about to go with the process
    (0.8-1 s after a build's summary). Everything the command writes is committed or
    closed before that (the warehouse, the run history, files), and objects are still
    freed as the modules holding them are."""
    gc.set_threshold(*BATCH_GARBAGE_COLLECTION)
    atexit.register(gc.freeze)


@click.group(help="cmc-pipeline: the CMC regional labour-migration data warehouse.")
@click.pass_context
def main(context: click.Context) -> None:
    if context.invoked_subcommand not in SERVERS:
        collect_garbage_as_a_batch()


@main.command(help="Materialise every asset for every country from the configured sources, then summarise.")
@click.option("--countries", default="", help="Comma-separated ISO3 codes (default: every CMC country).")
@click.option(
    "--sources",
    default="",
    help=(
        "Comma-separated sources to refresh, with everything downstream of them: ilostat, worldbank, "
        "undesa, missing_migrants, dtm, governance_needs, uploads (default: all)."
    ),
)
def build(countries: str, sources: str) -> None:
    prepare_dagster_home()
    from cmc_pipeline.orchestration import BUILD_SOURCES, build_warehouse, summarise_warehouse

    selected = [c.strip().upper() for c in countries.split(",") if c.strip()] or None
    chosen = [s.strip().lower() for s in sources.split(",") if s.strip()] or None
    unknown = [s for s in chosen or [] if s not in BUILD_SOURCES]
    if unknown:
        raise click.UsageError(
            f"unknown sources: {', '.join(unknown)}; choose among {', '.join(BUILD_SOURCES)}"
        )
    outcome = build_warehouse(selected, chosen)
    click.echo(summarise_warehouse(outcome))
    if not outcome.success:
        sys.exit(1)


@main.command(help="Print what the warehouse holds: tables, rows, countries, sources, checks.")
def summary() -> None:
    prepare_dagster_home()
    from cmc_pipeline.orchestration import summarise_warehouse

    click.echo(summarise_warehouse(None))


@main.command(help="Write the regional report, one HTML file that opens offline, and print its path.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: $CMC_DATA_DIR/reports/regional_report.html).",
)
def report(output: Path | None) -> None:
    from cmc_pipeline.lib.report import default_output_path, write_report
    from cmc_pipeline.lib.warehouse import Warehouse, WarehouseError

    try:
        summary = write_report(Warehouse(settings.warehouse_url()), output or default_output_path())
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.path)


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
    """Load a download and say exactly what this file changed: rows loaded, slices held
    back for values with no mapping, countries a contract refused, rows skipped. Exits
    non-zero when nothing was loaded."""
    prepare_dagster_home()
    from cmc_pipeline.lib.http import SourceError
    from cmc_pipeline.orchestration import import_file
    from cmc_pipeline.sources.governance_needs.workbook import GovernanceWorkbookError
    from cmc_pipeline.steps.facts import HarmonisationError

    try:
        outcome = import_file(kind, path)
    except (SourceError, HarmonisationError, GovernanceWorkbookError) as exc:
        raise click.ClickException(f"{path} was not loaded; the warehouse is unchanged.\n{exc}") from exc
    report = outcome.report
    if outcome.loaded:
        where = (
            f" for {len(report.countries)} countries ({', '.join(report.countries)})"
            if report.countries
            else ""
        )
        click.echo(f"Loaded {report.rows_written:,} rows from {path.name} into {report.table}{where}.")
        if report.table != "core.governance_need":
            click.echo(
                f"  {outcome.facts_from_file:,} rows of core.fact_observation now come from this file."
            )
    for reason, count in report.skipped.items():
        click.echo(f"  skipped {count:,} rows: {reason}" if count else f"  note: {reason}")
    if outcome.held_back is not None and len(outcome.held_back):
        slices = outcome.held_back[["country_iso3", "slice"]].drop_duplicates()
        click.echo(
            f"  held back {len(slices)} country × indicator slice(s) for values with no mapping "
            "(their previous rows are kept; listed in quality.unmapped_values):"
        )
        for row in outcome.held_back.head(20).itertuples():
            click.echo(
                f"    {row.country_iso3} × {row.slice}: column {row.column_name!r} has {row.value!r} "
                f"in {row.row_count} row(s), first at line {row.first_line}"
                + (f" of {row.file}" if row.file else "")
            )
        if len(outcome.held_back) > 20:
            click.echo(f"    … and {len(outcome.held_back) - 20} more (all in quality.unmapped_values)")
    _echo_blocked(report)
    _echo_refresh(outcome)
    if not outcome.loaded:
        raise click.ClickException(
            f"{path.name}: no rows were loaded"
            + ("" if report.skipped or report.blocked else " (the file holds no CMC rows)")
            + "; the warehouse is unchanged."
        )


def _echo_refresh(outcome) -> None:
    """An import rebuilds what depends on it; say so if that failed (exit status 1)."""
    if outcome.refresh is not None and not outcome.refresh.success:
        click.echo("  Rebuilding what depends on it failed: " + "; ".join(outcome.refresh.failures))
        sys.exit(1)


def _echo_blocked(*reports) -> None:
    """Say which countries the contracts held back, and why, so nothing fails silently."""
    for report in reports:
        if report.blocked:
            click.echo(
                f"  {report.table}: not updated for {', '.join(report.blocked)} "
                "(their previous rows are kept):"
            )
            for line in report.validation.report_lines(limit_per_rule=3):
                click.echo(f"    {line}")


@import_group.command(
    name="ilostat", help="An ILOSTAT CSV (code or label form) downloaded from ilostat.ilo.org."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_ilostat(file: Path) -> None:
    prepare_dagster_home()
    from cmc_pipeline import settings
    from cmc_pipeline.lib.http import SourceError
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.orchestration import import_file
    from cmc_pipeline.sources.ilostat.load import import_summary
    from cmc_pipeline.steps.facts import HarmonisationError

    try:
        outcome = import_file("ilostat", file)
    except (SourceError, HarmonisationError) as exc:
        raise click.ClickException(f"{file} was not loaded; the warehouse is unchanged.\n{exc}") from exc
    # The counts are this file's: its staged rows and the facts it gives, never every
    # fact of its countries (which would count rows loaded before as if they were new).
    loaded, lines = import_summary(outcome.report, outcome.facts, Warehouse(settings.warehouse_url()))
    for line in lines:
        click.echo(line)
    _echo_blocked(outcome.report)
    _echo_refresh(outcome)
    if not loaded:
        raise SystemExit(1)


@import_group.command(
    name="worldbank",
    help="A World Bank WDI download: the bulk CSV (API_<indicator>_DS2_en_csv_v2_<n>.csv, or "
    "the ZIP it comes in) or the Excel file (.xls). Exits 0 only when figures were loaded.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_worldbank(file: Path) -> None:
    prepare_dagster_home()
    from cmc_pipeline.lib.http import SourceError
    from cmc_pipeline.lib.warehouse import Warehouse
    from cmc_pipeline.orchestration import import_file
    from cmc_pipeline.sources.worldbank.load import describe_import

    try:
        outcome = import_file("worldbank", file)
    except SourceError as exc:
        raise click.ClickException(f"{file} was not loaded; the warehouse is unchanged.\n{exc}") from exc
    described = describe_import(file.name, outcome.report, outcome.facts, Warehouse(settings.warehouse_url()))
    for line in described.lines:
        click.echo(line)
    _echo_refresh(outcome)
    if not described.loaded:
        raise click.exceptions.Exit(1)


@main.command(name="export", help="Write every published mart for an audience, with a manifest.")
@click.option("--audience", type=click.Choice(["public", "members"]), default="public", show_default=True)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["parquet", "csv", "xlsx", "sdmx-csv"]),
    multiple=True,
    default=("parquet",),
    show_default=True,
    help="Repeat for several formats.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder (default: <data dir>/exports/<audience>).",
)
def export(audience: str, formats: tuple[str, ...], output: Path | None) -> None:
    from cmc_pipeline.lib.exports import export_marts
    from cmc_pipeline.lib.warehouse import Warehouse

    folder = output or settings.data_dir() / "exports" / audience
    result = export_marts(Warehouse(settings.warehouse_url()), folder, audience=audience, formats=formats)
    for item in result.files:
        notes = []
        if item["rows_withheld_for_audience"]:
            notes.append(f"{item['rows_withheld_for_audience']} rows withheld for this audience")
        if item["cells_suppressed"]:
            notes.append(f"{item['cells_suppressed']} small counts suppressed")
        click.echo(
            f"  {item['file']:<55} {item['rows']:>8,} rows" + (f"  ({'; '.join(notes)})" if notes else "")
        )
    for item in result.skipped:
        click.echo(f"  skipped {item['table']} {item.get('format', '')}: {item['reason']}")
    if result.structure:
        click.echo(f"  {result.structure.name}: the SDMX structure (DSDs, code lists) of the SDMX-CSV files")
    click.echo(f"Wrote {len(result.files)} files, manifest.json and datapackage.json to {folder}")


@import_group.command(
    name="undesa",
    help="A UN DESA International Migrant Stock workbook: by destination (Rev.2019 "
    "UN_MigrantStockTotal_2019.xlsx, Rev.2020 undesa_pd_2020_ims_stock_by_sex_and_destination.xlsx) "
    "or destination and origin (undesa_pd_2024_ims_stock_by_sex_destination_and_origin.xlsx). "
    "Exit status 0 only if rows were loaded.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_undesa(file: Path) -> None:
    _import_file("undesa", file)


@import_group.command(
    name="governance_needs", help="A governance-needs workbook keyed from `cmc template governance_needs`."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_governance_needs(file: Path) -> None:
    _import_file("governance_needs", file)


@main.command(help="Write an empty template for a dataset that people key or upload.")
@click.argument("dataset", type=click.Choice(TEMPLATE_DATASETS))
@click.option(
    "--format", "file_format", type=click.Choice(TEMPLATE_FORMATS), default="xlsx", show_default=True
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: ./DATASET_template.FORMAT"
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def template(dataset: str, file_format: str, output: Path | None, force: bool) -> None:
    from cmc_pipeline.lib.templates import write_template

    try:
        click.echo(f"Wrote {write_template(dataset, file_format, output, overwrite=force)}")
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc


UPLOAD_DATASET_CHOICE = click.Choice(UPLOAD_DATASETS)


@main.command(
    name="validate",
    help="Check a national upload before sending it: every problem with its line, column, value and "
    "what is expected. Needs no warehouse. Exit status 0 only if the file would be accepted.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, type=UPLOAD_DATASET_CHOICE)
@click.option(
    "--country",
    default="",
    help="ISO3 code (or name) of the sending country; every row must be its. "
    "Default: from a file name like JAM__work_permits__2024.csv.",
)
@click.option(
    "--errors-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the problems to this CSV file (opens in Excel).",
)
def validate_upload(file: Path, dataset: str, country: str, errors_csv: Path | None) -> None:
    from cmc_pipeline.lib.reference import resolve_country
    from cmc_pipeline.lib.uploads.checking import check_file
    from cmc_pipeline.lib.uploads.intake import NAME_SEPARATOR

    sender = resolve_country(country) if country else resolve_country(file.name.split(NAME_SEPARATOR)[0])
    if country and sender is None:
        raise click.ClickException(f"{country!r} is not a CMC country (give its ISO3 code, e.g. JAM)")
    check = check_file(file, dataset, sender=sender)
    for line in check.report_lines():
        click.echo(line)
    if sender is None:
        click.echo("note: no --country given, so rows were not checked against the sending country")
    click.echo(check.summary())
    if errors_csv is not None and check.problems:
        from cmc_pipeline.lib.uploads.reports import errors_csv as render_errors

        errors_csv.write_bytes(render_errors(check.problems))
        click.echo(f"problems written to {errors_csv}")
    sys.exit(0 if check.accepted else 1)


@main.command(
    name="upload",
    help="Put a national upload into the inbox, where the pipeline picks it up "
    "(with --load: load it now, without waiting for the Dagster sensor).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, type=UPLOAD_DATASET_CHOICE)
@click.option("--country", required=True, help="ISO3 code (or name) of the sending country.")
@click.option("--load", is_flag=True, help="Process it at once, with the same checks as the pipeline.")
def upload(file: Path, dataset: str, country: str, load: bool) -> None:
    from cmc_pipeline.lib.reference import resolve_country
    from cmc_pipeline.lib.uploads.intake import place_in_inbox

    sender = resolve_country(country)
    if sender is None:
        raise click.ClickException(f"{country!r} is not a CMC country (give its ISO3 code, e.g. JAM)")
    # The same placing as the portal's: never over a file still waiting, never half a file.
    target = place_in_inbox(file.read_bytes(), settings.inbox_dir(), sender, dataset, file.name)
    click.echo(f"Put {file.name} in the inbox as {target}")
    if not load:
        return
    prepare_dagster_home()
    from cmc_pipeline.orchestration import load_upload_now

    outcome, refresh = load_upload_now(target, dataset, sender)
    click.echo(outcome.message())
    if outcome.report_path is not None:
        click.echo(f"Report: {outcome.report_path}")
    if outcome.status == "rejected":
        sys.exit(1)
    if refresh is not None:
        if not refresh.success:
            click.echo("  Rebuilding what depends on it failed: " + "; ".join(refresh.failures))
            sys.exit(1)
        click.echo(f"Rebuilt what reads {dataset} (its marts, the regional report): run {refresh.run_id}")


@main.group(
    name="portal",
    invoke_without_command=True,
    help="Serve the data officers' portal (waitress), or manage its accounts.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="Requests served at the same time.")
@click.pass_context
def portal(context: click.Context, host: str, port: int, threads: int) -> None:
    if context.invoked_subcommand is not None:
        return
    import waitress

    from cmc_pipeline.portal.app import create_app

    app = create_app()
    click.echo(f"CMC data portal on http://{host}:{port}/ (accounts in {app.config['PORTAL_DB']})")
    # The client's address and scheme come from the app's own check of the proxy
    # (CMC_PORTAL_TRUSTED_PROXY), so waitress is told to trust no proxy header itself.
    waitress.serve(app, host=host, port=port, threads=threads, ident="cmc-portal")


@portal.command(
    name="add-user", help="Create or update an account; the password is read from standard input."
)
@click.argument("email")
@click.option(
    "--country", "countries", multiple=True, help="ISO3 code of a country the account works for (repeat)."
)
@click.option("--role", type=click.Choice(["officer", "analyst", "admin"]), required=True)
@click.option(
    "--language", type=click.Choice(["en", "es", "fr", "nl"]), help="Default: the browser's language."
)
@click.option("--no-password", is_flag=True, help="Signs in only through the proxy's single sign-on.")
def portal_add_user(
    email: str, countries: tuple[str, ...], role: str, language: str | None, no_password: bool
) -> None:
    from cmc_pipeline.lib.reference import resolve_country
    from cmc_pipeline.portal.auth import hash_password
    from cmc_pipeline.portal.store import Store

    if "@" not in email:
        raise click.ClickException(f"{email!r} is not an e-mail address")
    codes = []
    for given in countries:
        code = resolve_country(given)
        if code is None:
            raise click.ClickException(f"{given!r} is not a CMC country (give its ISO3 code, e.g. JAM)")
        codes.append(code)
    if role == "officer" and not codes:
        raise click.ClickException("an officer needs at least one --country")
    password_hash = None
    if not no_password:
        # One line from standard input: never an argument, which other users of the machine
        # could read in the process list, nor an echo on the terminal.
        stdin = sys.stdin
        password = (
            click.prompt("Password", hide_input=True) if stdin.isatty() else stdin.readline().rstrip("\r\n")
        )
        try:
            password_hash = hash_password(password)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    user = Store(settings.portal_db()).add_user(email, password_hash, role, codes, language)
    click.echo(f"{user.email}: {user.role} for {', '.join(user.countries) or 'every country'}")


@main.group(help="The data contracts under data_contracts/ and what is generated from them.")
def contracts() -> None:
    pass


@contracts.command(name="docs", help="Regenerate docs/data-dictionary.md from the contracts.")
@click.option(
    "--check", is_flag=True, help="Only report whether the dictionary is up to date (exit 1 if not)."
)
def contracts_docs(check: bool) -> None:
    from cmc_pipeline.lib.quality.dictionary import DICTIONARY_PATH, render_data_dictionary

    text = render_data_dictionary()
    current = DICTIONARY_PATH.read_text(encoding="utf-8") if DICTIONARY_PATH.exists() else ""
    if check:
        if current != text:
            raise click.ClickException(f"{DICTIONARY_PATH} is stale: run `cmc contracts docs`")
        click.echo(f"{DICTIONARY_PATH} is up to date")
        return
    DICTIONARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    DICTIONARY_PATH.write_text(text, encoding="utf-8")
    click.echo(f"wrote {DICTIONARY_PATH}")


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
