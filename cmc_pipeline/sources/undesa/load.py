"""Loading UN DESA International Migrant Stock workbooks.

Two staging tables, one per kind of workbook: ``staging.undesa_stock_by_destination``
(the by-destination tables of Rev.2019 and Rev.2020, every revision kept) and
``staging.undesa_migrant_stock`` (destination × origin pairs, Rev.2024). Which one a
workbook feeds is told from its header labels, so `cmc import undesa FILE` takes either.
"""

from __future__ import annotations

from pathlib import Path

from cmc_pipeline.lib.http import SourceFormatError
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.undesa import client as undesa
from cmc_pipeline.sources.undesa import parser, to_core
from cmc_pipeline.steps.fetching import FetchedResponse
from cmc_pipeline.steps.gate import now, validate_and_replace, validate_and_save
from cmc_pipeline.steps.landing import downloaded_file, land_response
from cmc_pipeline.steps.load_report import LoadReport
from cmc_pipeline.steps.review import REVIEW_COLUMNS, REVIEW_TABLE, Harmonised

UNDESA_STAGING = "staging.undesa_migrant_stock"
DESTINATION_STAGING = "staging.undesa_stock_by_destination"
CORRIDOR_TABLE = "core.migration_corridor"


class NoCmcRows(SourceFormatError):
    """A workbook that holds no row for any CMC country: nothing to load, said plainly."""


def _holds_real_rows(warehouse: Warehouse, table: str) -> bool:
    if not warehouse.table_exists(table):
        return False
    found = warehouse.query(f"SELECT count(*) AS n FROM {table} WHERE NOT demonstration_data")
    return bool(found["n"].iloc[0])


def _countries_in(*columns: pd.Series) -> list[str]:
    return sorted({c for column in columns for c in column.dropna()})


# --- the build's steps -------------------------------------------------------------------


def load_undesa(client: undesa.UndesaClient, warehouse: Warehouse, raw_root: Path) -> LoadReport:
    """Stage the destination-and-origin workbook (the snapshot, or the live file)."""
    return _stage(client.fetch(undesa.DESTINATION_ORIGIN_2024), warehouse, raw_root)


def load_stock_by_destination(
    client: undesa.UndesaClient, warehouse: Warehouse, raw_root: Path
) -> LoadReport:
    """Stage the by-destination workbooks, Rev.2019 then Rev.2020 (each its own slice)."""
    report = LoadReport(DESTINATION_STAGING)
    for workbook in (undesa.DESTINATION_2019, undesa.DESTINATION_2020):
        part = _stage(client.fetch(workbook), warehouse, raw_root)
        _merge(report, part)
    return report


def _merge(report: LoadReport, part: LoadReport) -> None:
    report.rows_written += part.rows_written
    report.raw_files += part.raw_files
    report.add_skipped(part.skipped)
    report.countries = sorted(set(report.countries) | set(part.countries))
    report.demonstration = report.demonstration or part.demonstration
    report.preview = part.preview if report.preview is None else report.preview
    report.validation = part.validation or report.validation
    report.blocked += part.blocked
    if part.unmapped is not None and len(part.unmapped):
        report.unmapped = (
            part.unmapped if report.unmapped is None else pd.concat([report.unmapped, part.unmapped])
        )


def import_undesa_file(path: Path, warehouse: Warehouse, raw_root: Path, *, uploader: str) -> LoadReport:
    """Stage an official workbook a user downloaded from the UN DESA site (either kind)."""
    return _stage(downloaded_file(path, "undesa"), warehouse, raw_root, uploader=uploader)


def _stage(
    response: FetchedResponse, warehouse: Warehouse, raw_root: Path, *, uploader: str | None = None
) -> LoadReport:
    """Land the workbook, tell its layout from its headers, stage it."""
    name = Path(response.url).name
    where = f"UN DESA workbook {name}"
    landed = land_response(response, raw_root, uploader=uploader)  # kept even if it is unreadable
    sheets = parser.open_workbook(response.body, where)
    if any(parser.is_destination_origin(rows) for rows in sheets.values()):
        report = LoadReport(UNDESA_STAGING)
        report.note_landing(response, landed)
        return _stage_destination_origin(sheets, response, landed.sha256, where, warehouse, report)
    report = LoadReport(DESTINATION_STAGING)
    report.note_landing(response, landed)
    return _stage_by_destination(sheets, response, landed.sha256, where, name, warehouse, report)


def _stage_destination_origin(sheets, response, sha256, where, warehouse, report) -> LoadReport:
    rows, skipped = parser.parse_destination_origin(sheets, origin=where)
    frame = rows.assign(raw_sha256=sha256, demonstration_data=response.demonstration, loaded_at=now())
    report.skipped = skipped
    report.countries = _countries_in(frame["destination_iso3"], frame["origin_iso3"])
    report.preview = frame.head(10)
    if frame.empty:
        raise NoCmcRows(f"{where}: no row for a CMC country (skipped: {_skips(skipped)}); nothing was loaded")
    # A user's import of the official workbook must survive the next `cmc build`, which
    # would otherwise stage the bundled demonstration workbook over it.
    if response.demonstration and _holds_real_rows(warehouse, UNDESA_STAGING):
        report.skipped["demonstration rows not loaded over an imported official workbook"] = len(frame)
        report.demonstration = False
        return report
    validate_and_replace(warehouse, UNDESA_STAGING, frame, report)
    return report


def _stage_by_destination(sheets, response, sha256, where, name, warehouse, report) -> LoadReport:
    parsed = parser.parse_by_destination(sheets, origin=where)
    frame = parsed.rows.assign(
        file_name=name, raw_sha256=sha256, demonstration_data=response.demonstration, loaded_at=now()
    )
    report.skipped = dict(parsed.skipped)
    report.countries = sorted(set(frame["country_iso3"].dropna()))
    report.preview = frame.head(10)
    report.unmapped = _review(parsed, where, sha256)
    for sheet, absent in parsed.countries_missing.items():
        report.skipped[f"CMC countries with no row in {sheet}: {', '.join(absent)}"] = 0
    if frame.empty:
        raise NoCmcRows(
            f"{where}: no row for a CMC country in {', '.join(parsed.tables) or 'any sheet'} "
            f"(skipped: {_skips(parsed.skipped)}); nothing was loaded"
        )
    revision = parsed.revision
    validate_and_save(
        warehouse,
        DESTINATION_STAGING,
        [frame],
        report,
        batch=None,
        slice_for=lambda _: {"revision": [revision]},
    )
    if not report.validation.passed:
        lines = "\n  ".join(report.validation.report_lines(limit_per_rule=3))
        raise SourceFormatError(
            f"{where}: refused by the contract of {DESTINATION_STAGING}; nothing was loaded:\n  {lines}"
        )
    _save_review(warehouse, report, revision)
    return report


def _skips(skipped: dict[str, int]) -> str:
    return "; ".join(f"{count} {reason}" for reason, count in skipped.items()) or "nothing"


def _review(parsed: parser.ParsedWorkbook, where: str, sha256: str) -> pd.DataFrame:
    """The values held back, in the shape of the review list (quality.unmapped_values)."""
    held = parsed.held_back
    if held.empty:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    grouped = (
        held.assign(slice=f"Rev.{parsed.revision} " + held["sheet"] + " " + held["measure"])
        .groupby(["country_iso3", "slice", "column_name", "value"], sort=True)
        .agg(row_count=("value", "size"), first_line=("row", "min"), sheet=("sheet", "first"))
        .reset_index()
    )
    grouped["file"] = where + ", sheet " + grouped.pop("sheet")
    grouped["first_line"] = grouped["first_line"].astype("Int64")
    grouped["row_count"] = grouped["row_count"].astype("Int64")
    grouped["source"] = to_core.SOURCE_UNDESA
    grouped["table_name"] = DESTINATION_STAGING
    grouped["raw_sha256"] = sha256
    grouped["found_at"] = pd.Timestamp.now(tz="UTC")
    return grouped[REVIEW_COLUMNS]


def _save_review(warehouse: Warehouse, report: LoadReport, revision: str) -> None:
    """Replace this revision's review list with what this load held back (an empty list
    clears values that have since been mapped)."""
    from cmc_pipeline.lib.contracts import contract_for

    warehouse.ensure_tables([contract_for(REVIEW_TABLE)])
    existing = warehouse.read_slice(
        REVIEW_TABLE, {"source": [to_core.SOURCE_UNDESA], "table_name": [DESTINATION_STAGING]}
    )
    others = existing[~existing["slice"].astype("string").str.startswith(f"Rev.{revision} ")]
    rows = pd.concat([others, report.unmapped], ignore_index=True) if len(report.unmapped) else others
    warehouse.replace_slice(
        REVIEW_TABLE, rows, {"source": [to_core.SOURCE_UNDESA], "table_name": [DESTINATION_STAGING]}
    )


# --- core --------------------------------------------------------------------------------


def build_migration_corridors(warehouse: Warehouse) -> LoadReport:
    staging = warehouse.read_slice(UNDESA_STAGING, {})
    corridors = to_core.undesa_to_corridors(staging)
    report = LoadReport(CORRIDOR_TABLE, preview=corridors.head(10))
    report.demonstration = bool(corridors["demonstration_data"].any()) if len(corridors) else False
    report.countries = _countries_in(corridors["origin_iso3"], corridors["destination_iso3"])
    # Whole: a corridor belongs to two countries.
    validate_and_replace(warehouse, CORRIDOR_TABLE, corridors, report)
    return report


def core_facts(warehouse: Warehouse, batch: list[str]) -> Harmonised:
    """Fact rows for the batch's countries: the by-destination tables (newest revision
    wins) and the staged pairs with one of the batch's countries at an end."""
    contract_columns = ["destination_code", "origin_code", "year", "sex"]
    parts = []
    if warehouse.table_exists(UNDESA_STAGING):
        pairs = pd.concat(
            [
                warehouse.read_slice(UNDESA_STAGING, {"destination_iso3": batch}),
                warehouse.read_slice(UNDESA_STAGING, {"origin_iso3": batch}),
            ],
            ignore_index=True,
        ).drop_duplicates(contract_columns)
        parts.append(to_core.undesa_to_facts(pairs, batch))
    if warehouse.table_exists(DESTINATION_STAGING):
        by_destination = warehouse.read_slice(DESTINATION_STAGING, {"country_iso3": batch})
        if len(by_destination):
            parts.append(to_core.destination_facts(by_destination))
    parts = [p for p in parts if len(p)]
    if not parts:
        return Harmonised.of(pd.DataFrame(columns=to_core.FACT_COLUMNS))
    return Harmonised.of(to_core.keep_informative_rows(pd.concat(parts, ignore_index=True)))
