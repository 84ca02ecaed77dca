"""The report a national data officer receives for each file: ``report.md`` in words and
``errors.csv`` with one line per problem (line, column, value, what is expected), which
opens in Excel beside the file to fix."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from cmc_pipeline.lib.reference import countries
from cmc_pipeline.lib.sharing import FORMULA_STARTS
from cmc_pipeline.lib.uploads.checking import FileCheck, Problem, periods_in_words

ERRORS_CSV_COLUMNS = ["line", "column", "value", "expected", "rule", "severity"]


@dataclass(frozen=True)
class UploadFacts:
    """What is known about one received file, whatever became of it."""

    upload_id: str
    original_name: str
    dataset: str | None
    country: str | None
    sha256: str
    raw_path: str
    received_at: str
    uploader: str


def _country_name(iso3: str | None) -> str:
    names = {c.iso3: c.name_en for c in countries()}
    return f"{iso3} ({names[iso3]})" if iso3 in names else (iso3 or "unknown")


def _cell(value) -> str:
    """Text safe inside a markdown table row: no column breaks, no line breaks, no HTML."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("`", "'")


def _header(title: str, facts: UploadFacts, verdict: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"- File: `{_cell(facts.original_name)}`",
        f"- Dataset: {facts.dataset or 'unknown'}",
        f"- Country: {_country_name(facts.country)}",
        f"- Upload id: `{facts.upload_id}`",
        f"- Received: {facts.received_at} (from {_cell(facts.uploader)})",
        f"- sha256: `{facts.sha256}` (the file is kept unchanged in the raw store)",
        f"- Result: {verdict}",
        "",
    ]


def problems_table(problems: list[Problem]) -> list[str]:
    lines = ["| Line | Column | Value | What is expected | Rule |", "|---|---|---|---|---|"]
    for p in problems:
        line = "" if p.row is None else p.row
        lines.append(f"| {line} | {_cell(p.column)} | {_cell(p.value)} | {_cell(p.expected)} | {p.rule} |")
    return lines


def check_section(check: FileCheck) -> list[str]:
    """Every failing rule with its row count, then its listed rows."""
    lines = []
    for severity, title in (("error", "To fix before the file can be loaded"), ("warning", "To look at")):
        listed = [p for p in check.problems if p.severity == severity]
        if not listed:
            continue
        lines += [f"## {title}", ""]
        for rule, count in check.failing_rows.items():
            rule_problems = [p for p in listed if p.rule == rule]
            if not rule_problems:
                continue
            more = f"; the first {len(rule_problems)} are listed" if count > len(rule_problems) else ""
            lines += [f"**{rule}**: {count:,} rows or groups{more}.", "", *problems_table(rule_problems), ""]
    return lines


def rejection_report(facts: UploadFacts, check: FileCheck | None, reason: str = "") -> str:
    lines = _header(
        "Upload refused",
        facts,
        "**refused** — nothing from this file was loaded; the warehouse is unchanged.",
    )
    if reason:
        lines += ["## Why", "", _cell(reason), ""]
    if check is not None:
        lines += check_section(check)
    lines += [
        "## What next",
        "",
        "Correct the file and send it again (any name; the inbox folder says the country and dataset).",
        "Check it first, without sending it:",
        "",
        "```",
        f"cmc validate FILE --dataset {facts.dataset or 'DATASET'} --country {facts.country or 'ISO3'}",
        "```",
        "",
        f"A fresh template: `cmc template {facts.dataset or 'DATASET'}` (xlsx, with the allowed codes as "
        "drop-down lists).",
        "",
    ]
    return "\n".join(lines)


def acceptance_report(
    facts: UploadFacts, check: FileCheck, *, rows_loaded: int, replaced: dict[str, int]
) -> str:
    periods = periods_in_words(check.periods)
    lines = _header(
        "Upload accepted",
        facts,
        f"**accepted** — {rows_loaded:,} rows loaded for periods {periods}.",
    )
    if replaced:
        earlier = ", ".join(f"`{upload}` ({rows:,} rows)" for upload, rows in sorted(replaced.items()))
        lines += [
            f"These rows replace the country's earlier figures for the same periods, from {earlier}; "
            "the earlier rows stay in the history table with their upload id.",
            "",
        ]
    if check.table is not None and check.table.ignored_rows:
        skipped = ", ".join(f"line {r['row']}" for r in check.table.ignored_rows)
        lines += [f"Notes below the table were skipped: {skipped}.", ""]
    lines += check_section(check)
    return "\n".join(lines)


def duplicate_report(facts: UploadFacts, earlier_upload: str) -> str:
    lines = _header(
        "Upload already received",
        facts,
        "**not loaded again** — the same file (byte for byte) was already loaded as upload "
        f"`{earlier_upload}`; nothing changed.",
    )
    return "\n".join(lines)


def errors_csv(problems: list[Problem]) -> bytes:
    """One line per problem; UTF-8 with a byte-order mark so Excel shows accents, and no
    cell that Excel would run as a formula (the value may be the formula that was refused)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=ERRORS_CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for problem in problems:
        record = problem.as_record()
        writer.writerow({k: _no_formula(record[k]) for k in ERRORS_CSV_COLUMNS})
    return text.getvalue().encode("utf-8-sig")


def _no_formula(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value
