"""Checking an upload against its contract: what ``cmc validate`` runs on a data officer's
desk and what the pipeline runs before loading, the same code, with no warehouse.

Three steps: read the file as text (``reading.py``: refuses what is not a data table),
tidy what people type differently (country names to ISO3 codes, thousands separators in
counts), then run every rule of the dataset's contract on the rows (``lib/quality``) and
check that every row is the sending country's. Each problem says its line, column, value
and what is expected.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cmc_pipeline.lib import quality
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.lazy import pyarrow as pa
from cmc_pipeline.lib.lazy import pyarrow_compute as pc
from cmc_pipeline.lib.reference import countries, resolve_country
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, UploadDataset, upload_dataset
from cmc_pipeline.lib.uploads.reading import UploadReadError, UploadTable, read_upload

READABLE_FILE = "readable_file"
COUNTRY_IS_SENDER = "country_is_sender"
# Offending rows listed per rule in a report; the count of all of them is always given.
EXAMPLES_PER_RULE = 50
# Code lists short enough to spell out in a message; longer ones are in the template.
SPELL_OUT_CODES = 15
_THOUSANDS = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
# Spaces people put inside numbers, the no-break ones Excel and French locales write included
# (Arrow's regular expressions know \s as ASCII space only).
_SPACES = "[\\s\u00a0\u202f]"
_SEPARATORS = "[\\s,\u00a0\u202f]"


@dataclass(frozen=True)
class Problem:
    """One thing in the file to fix (or, for a warning, to look at)."""

    rule: str
    severity: str  # error | warning
    row: int | None
    column: str | None
    value: object
    expected: str

    def describe(self) -> str:
        where = f"line {self.row}" if self.row is not None else "the file"
        column = f", column {self.column!r}" if self.column else ""
        value = "" if self.value in (None, "") else f": {self.value!r}"
        return f"{where}{column}{value} — {self.expected}"

    def as_record(self) -> dict:
        return {
            "line": self.row,
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
            "rule": self.rule,
            "severity": self.severity,
        }


@dataclass
class FileCheck:
    """What checking one file found, and its rows (as text) if it could be read."""

    dataset: UploadDataset
    file_name: str
    sender: str | None
    table: UploadTable | None = None
    rows: pa.Table | None = None  # the cells as text, tidied, with source_row_number
    validation: quality.ValidationRun | None = None
    problems: list[Problem] = field(default_factory=list)
    failing_rows: dict[str, int] = field(default_factory=dict)  # rule id → rows failing it
    seconds: dict[str, float] = field(default_factory=dict)  # read, tidy, rules: where the time went

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def accepted(self) -> bool:
        return self.rows is not None and not self.errors

    @property
    def periods(self) -> list[str]:
        if self.rows is None or "period" not in self.rows.column_names:
            return []
        return sorted(p for p in pc.unique(self.rows.column("period")).to_pylist() if p)

    def typed_rows(self) -> pa.Table:
        """The file's rows in the contract's types (only for an accepted file), converted
        as the contract's rules read them: "12" and "12.0" are 12, a blank cell is empty."""
        if not self.accepted:
            raise ValueError("only an accepted file's rows are typed and loaded")
        if self.validation.typed_rows is None:
            raise ValueError("the typed rows are kept only by check_file(..., for_loading=True)")
        return self.validation.typed_rows

    def summary(self) -> str:
        sender = f" for {self.sender}" if self.sender else ""
        if self.accepted:
            rows = len(self.rows)
            note = f", with {len(self.warnings)} warnings" if self.warnings else ""
            return (
                f"{self.file_name}: would be accepted as {self.dataset.name}{sender} "
                f"({rows:,} rows, periods {periods_in_words(self.periods)}){note}"
            )
        return (
            f"{self.file_name}: would be refused as {self.dataset.name}{sender} — "
            f"{len(self.errors)} problems to fix (listed with their line, column, value and what is expected)"
        )

    def report_lines(self) -> list[str]:
        lines = []
        for rule, count in self.failing_rows.items():
            listed = [p for p in self.problems if p.rule == rule]
            if not listed:
                continue
            severity = listed[0].severity.upper()
            more = f" (first {len(listed)} listed)" if count > len(listed) else ""
            lines.append(f"{severity} {rule}: {count:,} rows{more}")
            lines.extend(f"    {p.describe()}" for p in listed)
        return lines


def periods_in_words(periods: list[str], listed: int = 6) -> str:
    """The periods a file covers, in full when few, as a range with a count when many."""
    if len(periods) <= listed:
        return ", ".join(periods)
    return f"{periods[0]} to {periods[-1]} ({len(periods)} periods)"


def check_file(
    path: Path,
    dataset: str,
    *,
    sender: str | None = None,
    display_name: str | None = None,
    examples: int = EXAMPLES_PER_RULE,
    for_loading: bool = False,
) -> FileCheck:
    """Read ``path`` as an upload of ``dataset`` sent by ``sender`` (ISO3, if known) and
    check it against the contract; nothing is written anywhere. ``for_loading`` keeps the
    rows in the contract's types for the load (``FileCheck.typed_rows``); a check that
    only reports (``cmc validate``, the portal) skips that copy of every row."""
    spec = upload_dataset(dataset)
    name = display_name or Path(path).name
    check = FileCheck(spec, name, sender)
    started = time.perf_counter()
    try:
        check.table = read_upload(
            path,
            expected_columns=spec.file_columns,
            allow_footnotes=spec.footnotes_allowed,
            display_name=name,
        )
    except UploadReadError as exc:
        problems = list(exc.problems)
        if any("no header row" in p["message"] for p in problems):
            hint = _other_dataset_hint(path, spec.name)
            if hint:
                problems = [{**problems[0], "message": problems[0]["message"] + f"; {hint}"}, *problems[1:]]
        for p in problems:
            check.problems.append(
                Problem(READABLE_FILE, "error", p.get("row"), p.get("column"), p.get("value"), p["message"])
            )
        check.failing_rows[READABLE_FILE] = len(problems)
        return check

    read = time.perf_counter()
    rows = tidy(check.table.rows, spec)
    check.rows = rows
    tidied = time.perf_counter()
    # Both readers strip the spaces around every cell.
    run = quality.validate(
        rows,
        spec.file_contract,
        engine="duckdb",
        examples=examples,
        keep_typed_rows=for_loading,
        text_trimmed=True,
    )
    check.validation = run
    check.problems, check.failing_rows = problems_from(run)
    if sender and "country_iso3" in rows.column_names:
        _check_sender(check, rows, sender, examples)
    check.seconds = {"read": read - started, "tidy": tidied - read, "rules": time.perf_counter() - tidied}
    return check


def tidy(rows: pa.Table, spec: UploadDataset) -> pa.Table:
    """The cells as the contract writes them: ISO3 codes for country names and codes in
    other forms, counts without thousands separators. Anything not understood is left
    as typed, for the rules to report."""
    for column in spec.code_columns:
        if column not in rows.column_names:
            continue
        values = rows.column(column)
        typed = [v for v in pc.unique(values).to_pylist() if v is not None]
        codes = [_iso3(v) or v for v in typed]
        if codes != typed:
            # Each distinct spelling is looked up once; the million cells are then mapped
            # by position in that short list.
            positions = pc.index_in(values, value_set=pa.array(typed, pa.string()))
            rows = _replace_column(rows, column, pc.take(pa.array(codes, pa.string()), positions))
    for column in spec.count_columns:
        if column not in rows.column_names:
            continue
        values = rows.column(column)
        if pc.all(pc.utf8_is_decimal(values)).as_py():
            continue  # digits only (most files): no separator to look for, eight times quicker
        if pc.any(pc.match_substring_regex(values, _SEPARATORS)).as_py():
            values = pc.replace_substring_regex(values, _SPACES, "")
            grouped = pc.fill_null(pc.match_substring_regex(values, _THOUSANDS), False)
            values = pc.if_else(grouped, pc.replace_substring(values, ",", ""), values)
            rows = _replace_column(rows, column, values)
    return rows


def _replace_column(rows: pa.Table, column: str, values) -> pa.Table:
    return rows.set_column(rows.column_names.index(column), column, values)


def _iso3(text: str) -> str | None:
    """ISO3 for a code or name: CMC countries by every variant the reference knows, other
    countries by ISO 3166-1 code or name; ``_T`` (all) stays as it is."""
    text = str(text).strip()
    if not text or text.upper() == "_T":
        return text.upper() or None
    return resolve_country(text) or _world_country(text)


@cache
def _world_country(text: str) -> str | None:
    import pycountry

    try:
        return pycountry.countries.lookup(text).alpha_3
    except LookupError:
        return None


def _check_sender(check: FileCheck, rows: pa.Table, sender: str, examples: int) -> None:
    """Every row must be the sending country's: an office reports for its own country."""
    country = rows.column("country_iso3")
    foreign = pc.fill_null(pc.and_(pc.not_equal(country, ""), pc.not_equal(country, sender)), False)
    failing = pc.sum(pc.cast(foreign, pa.int64())).as_py() or 0
    if not failing:
        return
    names = {c.iso3: c.name_en for c in countries()}
    expected = f"{sender} ({names.get(sender, sender)}), the country this file was sent for"
    check.failing_rows[COUNTRY_IS_SENDER] = failing
    offending = rows.select(["source_row_number", "country_iso3"]).filter(foreign).slice(0, examples)
    for row in offending.to_pylist():
        check.problems.append(
            Problem(
                COUNTRY_IS_SENDER,
                "error",
                row["source_row_number"],
                "country_iso3",
                row["country_iso3"],
                expected,
            )
        )


def problems_from(
    run: quality.ValidationRun, headers: dict[str, str] | None = None
) -> tuple[list[Problem], dict[str, int]]:
    """The rules a file's rows failed, as the problems a person fixes (each offending row
    the engine kept, in words), and how many rows failed each rule. ``headers`` names a
    table column as the file's header names it, where the two differ (a workbook's
    "country" column holds country_iso3)."""
    problems, failing = [], {}
    for result in run.failures():
        failing[result.rule.id] = result.failing_rows
        for offence in result.examples:
            column, value = _column_and_value(result.rule, offence)
            problems.append(
                Problem(
                    result.rule.id,
                    result.rule.severity,
                    offence.row,
                    (headers or {}).get(column, column),
                    value,
                    _expected_in_words(result.rule, offence.expected),
                )
            )
    return problems, failing


def _column_and_value(rule: quality.Rule, offence: quality.Offence) -> tuple[str | None, object]:
    """A SQL rule's offending row comes back whole: show the cell the rule is about when
    it names one column (a period in the future), else the group it is about, as text."""
    if not isinstance(offence.value, dict):
        return offence.column, _plain(offence.value)
    values = {k: _plain(v) for k, v in offence.value.items()}
    named = [k for k in values if re.search(rf"\b{re.escape(k)}\b", rule.offending_rows_sql or "")]
    if offence.row is not None and len(named) == 1:
        return named[0], values[named[0]]
    shown = {k: v for k, v in values.items() if v is not None and not k.endswith("_rows")}
    return None, "; ".join(f"{k} = {_number_text(v)}" for k, v in shown.items())


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _expected_in_words(rule: quality.Rule, expected: str) -> str:
    """The engine's "expected" with code lists spelled out where they are short, and a
    SQL rule's own description (written for the people who send the files)."""
    if rule.kind == "sql" and rule.description:
        return rule.description
    if rule.kind == "valid_values" and rule.valid_values:
        codes = [c for c in rule.valid_values if c]
        if len(codes) <= SPELL_OUT_CODES:
            ordered = _in_reference_order(rule, codes)
            return "one of " + ", ".join(ordered)
        if "iso3166-1" in (rule.reference or ""):
            return "an ISO 3166-1 alpha-3 country code or a country name (e.g. JAM or Jamaica), or _T for all"
        if "reference/countries.csv" in (rule.reference or ""):
            return "a CMC country: its ISO3 code or its name (e.g. JAM or Jamaica)"
        return f"{expected} (the template's drop-down list)"
    return expected


def _in_reference_order(rule: quality.Rule, codes: list[str]) -> list[str]:
    from cmc_pipeline.lib.quality.rules import ordered_reference_values

    ordered: list[str] = [str(v) for v in (rule.source.get("arguments") or {}).get("validValues") or ()]
    for reference in str(rule.reference or "").split("; "):
        if reference:
            ordered += list(ordered_reference_values(reference))
    return [c for c in dict.fromkeys(ordered) if c in codes] or sorted(codes)


def _other_dataset_hint(path: Path, dataset: str) -> str:
    """Name the dataset a file looks like when it is not the one it was sent as: the one
    whose columns it has (nearly) all of."""
    best, best_share = "", 0.0
    for other in UPLOAD_DATASETS:
        if other == dataset:
            continue
        spec = upload_dataset(other)
        try:
            table = read_upload(path, expected_columns=spec.file_columns, allow_footnotes=True)
        except UploadReadError:
            continue
        share = len(set(table.rows.column_names) & set(spec.file_columns)) / len(spec.file_columns)
        if share > best_share:
            best, best_share = other, share
    if best_share < 0.75:
        return ""
    return f"its columns are those of the {best} dataset: was it sent as the wrong dataset?"


def _plain(value):
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value
