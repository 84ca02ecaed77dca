"""The portal in English, Spanish, French and Dutch.

Every sentence a person reads goes through gettext with its translation in the message
catalogues kept in the repository (``portal/translations/<lang>/LC_MESSAGES/messages.po``);
nothing is translated at run time. The catalogues are compiled to ``.mo`` when the
application starts (a few milliseconds), so a fresh clone needs no build step and a
compiled file can never be older than its catalogue.

The checks in ``lib/uploads`` describe each problem in English, for the CLI and the
pipeline's reports. The portal says the same things in the reader's language from what
the problem is (its rule, the rule's kind in the contract, the codes it allows), never by
translating the English sentence: :func:`explain` returns what is expected and how to fix
it, both from the catalogues.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import gettext as _

from cmc_pipeline.lib.quality.rules import rules_for
from cmc_pipeline.lib.reference import countries
from cmc_pipeline.lib.uploads.checking import COUNTRY_IS_SENDER, READABLE_FILE, SPELL_OUT_CODES
from cmc_pipeline.lib.uploads.datasets import upload_dataset
from cmc_pipeline.lib.uploads.templates import allowed_values

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES = {"en": "English", "es": "Español", "fr": "Français", "nl": "Nederlands"}


def compile_catalogues(target: Path) -> Path:
    """Compile every ``messages.po`` into ``target/<lang>/LC_MESSAGES/messages.mo``."""
    for po_path in sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po")):
        language = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale=language)
        mo_path = target / language / "LC_MESSAGES" / "messages.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        partial = mo_path.with_suffix(".mo.part")
        with partial.open("wb") as handle:
            write_mo(handle, catalogue)
        partial.replace(mo_path)
    return target


# --- problems in the reader's language --------------------------------------------------

# The reader's refusals (lib/uploads/reading.py), recognised by their wording: what is
# wrong, and how to fix it.
READ_PROBLEMS = (
    (r"the file is empty", "empty"),
    (r"binary file", "binary"),
    (r"UTF-16", "utf16"),
    (r"neither UTF-8 nor Windows-1252", "encoding"),
    (r"not an Excel workbook|workbook is damaged|workbook cannot be opened", "workbook"),
    (r"would unpack to", "bomb"),
    (r"no header row", "header"),
    (r"the header names", "repeated_column"),
    (r"have no name", "unnamed_column"),
    (r"merged cells", "merged"),
    (r"spreadsheet formula", "formula"),
    (r"a note below the table", "note"),
    (r"the row has \d+ cells", "ragged"),
    (r"header but no data rows", "no_rows"),
    (r"CSV is malformed", "malformed"),
)


def _read_problem(kind: str) -> tuple[str, str]:
    texts = {
        "empty": (_("The file is empty."), _("Fill in the template and send the file again.")),
        "binary": (
            _("This is not a CSV text file (was a workbook renamed to .csv?)."),
            _("Send the .xlsx workbook itself, or save it from Excel as “CSV UTF-8”."),
        ),
        "utf16": (
            _("The text is saved as “Unicode Text” (UTF-16)."),
            _("Save it from Excel as “CSV UTF-8 (Comma delimited)”."),
        ),
        "encoding": (_("The text encoding is not recognised."), _("Save it from Excel as “CSV UTF-8”.")),
        "workbook": (
            _("The workbook cannot be opened: it is damaged or not an Excel file."),
            _("Save it again from Excel as .xlsx, or send a CSV file."),
        ),
        "bomb": (
            _("The workbook is far larger unpacked than a table of figures can be; it was not opened."),
            _("Send large tables as CSV."),
        ),
        "header": (
            _("No row naming the dataset's columns was found at the top of the file."),
            _("Keep the template's row of column names, and check that you chose the right dataset."),
        ),
        "repeated_column": (
            _("The same column name appears twice in the header."),
            _("Keep one column of each name, as in the template."),
        ),
        "unnamed_column": (
            _("Some columns of the header have no name."),
            _("Name them as in the template or delete them."),
        ),
        "merged": (
            _("Merged cells inside the table."),
            _("Unmerge the cells and repeat the value in each row."),
        ),
        "formula": (
            _("A spreadsheet formula is not data."),
            _("Type the value itself instead of the formula."),
        ),
        "note": (_("A note below the table."), _("Remove the note from the file.")),
        "ragged": (
            _("This row has more cells than the header has columns."),
            _("Remove the extra cells, or check for a separator inside a value."),
        ),
        "no_rows": (_("The file has the column names but no figures."), _("Fill in one row per line.")),
        "malformed": (
            _("The CSV file is malformed (a quotation mark left open?)."),
            _("Save it again from Excel as “CSV UTF-8”."),
        ),
    }
    return texts[kind]


@cache
def _rules(dataset: str) -> dict:
    return {rule.id: rule for rule in rules_for(upload_dataset(dataset).file_contract)}


def _codes(dataset: str, rule) -> str:
    listed = [c for c in allowed_values(upload_dataset(dataset), rule.column) if c] if rule.column else []
    codes = listed or sorted(c for c in rule.valid_values or () if c)
    return ", ".join(codes)


def explain(problem: dict, dataset: str) -> dict:
    """``problem`` (a ``Problem.as_record()``) with ``expected`` and ``fix`` in the
    current language; the English ``expected`` stays in ``expected_en``."""
    rule_id = problem.get("rule") or ""
    english = problem.get("expected") or ""
    expected, fix = english, _("Correct the value and send the file again.")
    if rule_id == READABLE_FILE:
        for pattern, kind in READ_PROBLEMS:
            if re.search(pattern, english):
                expected, fix = _read_problem(kind)
                break
    elif rule_id == COUNTRY_IS_SENDER:
        names = {c.iso3: c.name_en for c in countries()}
        sender = english.split(" ", 1)[0]
        expected = _(
            "%(country)s, the country this file is sent for",
            country=f"{sender} ({names.get(sender, sender)})",
        )
        fix = _("Every row must be your country's: remove the rows of other countries.")
    else:
        rule = _rules(dataset).get(rule_id)
        kind = rule.kind if rule else ""
        if kind in ("required", "not_null"):
            expected = _("a value: this column is required")
            fix = _("Fill in the cell.")
        elif kind == "types":
            expected = _("a whole number") if "whole number" in english else _("a number")
            fix = _("Type the number alone, without letters, units or symbols.")
        elif kind == "valid_values":
            codes = _codes(dataset, rule)
            if "iso3166-1" in (rule.reference or ""):
                expected = _(
                    "an ISO 3166-1 alpha-3 country code or a country name (e.g. JAM or Jamaica), "
                    "or _T for all"
                )
            elif codes and len(codes.split(", ")) <= SPELL_OUT_CODES:
                expected = _("one of %(codes)s", codes=codes)
            else:
                expected = _("a code from the template's drop-down list")
            fix = _("Choose the code from the template's drop-down list.")
        elif kind == "pattern" and rule_id == "period_format":
            expected = _("a period written 2024 (a year), 2024-Q1 (a quarter) or 2024-M01 (a month)")
            fix = _("Write the period as in these examples.")
        elif kind == "between":
            expected = _("a number of at least %(minimum)s", minimum=f"{rule.minimum:g}")
            fix = _("Counts cannot be negative: correct the figure.")
        elif kind in ("unique", "compound_unique"):
            expected = _("no other row with the same %(columns)s", columns=", ".join(rule.columns))
            fix = _("Keep one row per combination: add the repeated rows together, or delete the copy.")
        elif rule_id == "period_not_in_future":
            expected = _("a period that has already begun")
            fix = _("Correct the year, quarter or month (a typing slip such as 2052 for 2025?).")
        elif rule_id == "sex_total_equals_male_plus_female":
            expected = _("a total (SEX_T) equal to male + female (+ SEX_O)")
            fix = _("Correct the total or its parts; persons of unrecorded sex go in SEX_O rows.")
    return {**problem, "expected_en": english, "expected": expected, "fix": fix}


def state_name(state: str) -> str:
    return {
        "not_received": _("not received"),
        "received": _("received"),
        "rejected": _("rejected"),
        "accepted": _("accepted"),
        "loaded": _("loaded"),
        "published": _("published"),
        "held": _("waiting for your reason"),
    }.get(state, state)
