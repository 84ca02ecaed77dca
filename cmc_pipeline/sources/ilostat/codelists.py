"""The ILO's code lists: every ILO code, its names in English, French and Spanish, and how
ILOSTAT's label-form downloads write it.

The authority is the ILO's SDMX structure message bundled in ``snapshots/``
(``sdmx_ilo_codelists_CL_ECO_parentsandsiblings.xml``: 44 code lists and the concept
schemes that name each classification). ``ilo_codelists.csv`` beside this file is derived
from it — run ``python -m cmc_pipeline.sources.ilostat.codelists`` after replacing the XML;
a test fails while the CSV is stale — so the pipeline reads a small CSV at run time and the
data contracts can name a code list by path
(``cmc_pipeline/sources/ilostat/ilo_codelists.csv?dimension=sex#code``).

``dimension`` is the ILO's own name of the list without ``CL_``, lower case: ``sex``,
``age``, ``ins``, ``ocu``, ``cbr`` (place of birth), ``obs_status``, ``measure``, ``area`` …

Label form. ILOSTAT's label downloads write a classification item as
``<classification>: <item>`` — ``Sex: Total``, ``Institutional sector: Public``,
``Age (Youth, adults): 15+`` — and an item alone where the column says which list it is
(``Total`` in a sex column, ``Break in series`` as a status). The item is the code's name
in the XML; the classification part is ILOSTAT's name of the classification (its concept,
``Sector`` for CL_INS) and, for lists with several versions (age bands, ISCO-08 and
ISCO-88 …), words of that version's name (the parent code's name, ``Youth and adults``).
:meth:`IloCodeLists.code_for` matches exactly that: the item by name, then the
classification part by those words, and refuses a label that fits no code or more than one.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE_LIST_FILE = HERE / "ilo_codelists.csv"
CODE_LIST_XML = HERE / "snapshots" / "sdmx_ilo_codelists_CL_ECO_parentsandsiblings.xml"
LANGUAGES = ("en", "fr", "es")
CSV_COLUMNS = [
    "dimension",
    "code_list",
    "code",
    "parent",
    "label",
    "label_fr",
    "label_es",
    "classification",
    "classification_fr",
    "classification_es",
    "authority",
]
# Country-based breakdowns (country of birth, citizenship, destination, previous residence,
# residence): the ILO lists most countries, not all (Sint Maarten, Bonaire … are missing).
# ISO 3166-1 completes them, so that UN DESA's origins and a partner country anywhere map;
# such rows say `authority: ISO 3166-1`.
COUNTRY_FAMILIES = ("CBR_BRT_", "CCT_CTZ_", "CDS_DES_", "CPR_PRV_", "CRS_RES_", "COU_DES_")


@dataclass(frozen=True)
class IloCode:
    dimension: str
    code_list: str
    code: str
    parent: str
    names: tuple[str, str, str]  # en, fr, es
    classification: tuple[str, str, str]  # the concept's names, en, fr, es

    @property
    def label(self) -> str:
        return self.names[0]


# --- deriving the CSV from the ILO's SDMX structure message --------------------------------


def derive_rows(xml_path: Path = CODE_LIST_XML) -> list[dict[str, str]]:
    """One row per code of every code list in the structure message, in the ILO's order."""
    import sdmx  # sdmx1: reads SDMX-ML structure messages; only needed to derive the CSV

    message = sdmx.read_sdmx(xml_path)
    concepts = {}
    for scheme in message.concept_scheme.values():
        for concept in scheme:
            concepts.setdefault(concept.id, concept)
    rows = []
    for list_id, code_list in message.codelist.items():
        dimension = list_id.removeprefix("CL_").lower()
        concept = concepts.get(list_id.removeprefix("CL_"))
        classification = _names(concept.name) if concept is not None else ("", "", "")
        for code in code_list:
            names = _names(code.name)
            rows.append(
                dict(
                    zip(
                        CSV_COLUMNS,
                        [
                            dimension,
                            list_id,
                            code.id,
                            code.parent.id if isinstance(code.parent, type(code)) else "",
                            *names,
                            *classification,
                            "ILO",
                        ],
                        strict=True,
                    )
                )
            )
    return rows + _iso_completions(rows)


def _iso_completions(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The ISO 3166-1 countries a country-based ILO list lacks, named in three languages."""
    import gettext

    import pycountry

    translations = {
        language: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True)
        for language in ("fr", "es")
    }
    known = {r["code"] for r in rows}
    added = []
    for family in COUNTRY_FAMILIES:
        template = next(
            (r for r in rows if r["code"].startswith(family) and r["code"] != family + "TOTAL"), None
        )
        if template is None:
            continue
        for country in pycountry.countries:
            code = family + country.alpha_3
            if code in known:
                continue
            english = country.name
            names = (english, translations["fr"].gettext(english), translations["es"].gettext(english))
            added.append(
                {
                    **template,
                    "code": code,
                    "label": names[0],
                    "label_fr": names[1],
                    "label_es": names[2],
                    "authority": "ISO 3166-1",
                }
            )
    return added


def _names(name) -> tuple[str, str, str]:
    """English, French and Spanish names; a missing translation falls back to English."""
    localized = dict(name.localizations)
    english = localized.get("en", "")
    return tuple(localized.get(language) or english for language in LANGUAGES)  # type: ignore[return-value]


def derived_csv_text(xml_path: Path = CODE_LIST_XML) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(derive_rows(xml_path))
    return out.getvalue()


def write_code_list_file() -> Path:
    CODE_LIST_FILE.write_text(derived_csv_text(), encoding="utf-8")
    return CODE_LIST_FILE


# --- reading and matching -------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents or surrounding space: labels compare on their words."""
    text = str(text)
    if text.isascii():  # most names: nothing to decompose
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.split(r"[^0-9a-z]+", _fold(text)) if w)


@cache
def ilo_code_rows() -> tuple[IloCode, ...]:
    """Every row of ``ilo_codelists.csv``."""
    with open(CODE_LIST_FILE, encoding="utf-8", newline="") as f:
        return tuple(
            IloCode(
                r["dimension"],
                r["code_list"],
                r["code"],
                r["parent"],
                (r["label"], r["label_fr"], r["label_es"]),
                (r["classification"], r["classification_fr"], r["classification_es"]),
            )
            for r in csv.DictReader(f)
        )


class IloCodeLists:
    """The ILO codes by dimension, and the way from a published code or label to a code."""

    def __init__(self, rows: tuple[IloCode, ...]):
        self._by_code: dict[str, list[IloCode]] = defaultdict(list)
        self._by_name: dict[str, list[IloCode]] = defaultdict(list)
        for row in rows:
            self._by_code[row.code].append(row)
            for name in set(row.names):
                self._by_name[_fold(name)].append(row)
        self._rows = {(row.code_list, row.code): row for row in rows}
        self._parent_words: dict[tuple[str, str], frozenset[str]] = {}
        # Every code of a list has its list's classification names: read them once a list.
        self._classification_words: dict[str, list[frozenset[str]]] = {}
        for row in rows:
            if row.code_list not in self._classification_words:
                self._classification_words[row.code_list] = [_words(n) for n in row.classification if n]

    def dimensions_of(self, code: str) -> set[str]:
        return {row.dimension for row in self._by_code.get(code, ())}

    def dimension_of(self, code: str) -> str | None:
        """The dimension of a classification code (``age`` for AGE_YTHADULT_YGE15)."""
        dimensions = self.dimensions_of(code)
        return min(dimensions) if dimensions else None

    def name(self, dimension: str, code: str, language: str = "en") -> str | None:
        for row in self._by_code.get(code, ()):
            if row.dimension == dimension:
                return row.names[LANGUAGES.index(language)]
        return None

    def codes(self, dimension: str) -> list[IloCode]:
        return [r for rows in self._by_code.values() for r in rows if r.dimension == dimension]

    @cache  # noqa: B019 - one instance per process (ilo_code_lists), values repeat a lot
    def code_for(self, value: str, dimensions: frozenset[str] | None = None) -> str | None:
        """The ILO code a published value stands for, or None when it fits no code or more
        than one. ``value`` is a code (``SEX_T``), a label-form item (``Sex: Total``,
        ``Age (Youth, adults): 15+``) or an item alone (``Total``) where ``dimensions``
        says which lists to look in."""
        value = str(value).strip()
        found = [r for r in self._by_code.get(value, ()) if dimensions is None or r.dimension in dimensions]
        if found:
            return value
        # The classification part ends at the first ": " (ILOSTAT's item names contain none
        # but the areas', which are not written this way).
        if ": " in value:
            prefix, item = value.split(": ", 1)
            candidates = self._match(item, prefix)
            if not candidates and dimensions is not None:
                candidates = self._match(value, None)  # an item whose own name has ": "
        else:
            candidates = self._match(value, None)
        if dimensions is not None:
            candidates = [r for r in candidates if r.dimension in dimensions]
        codes = {r.code for r in candidates}
        return codes.pop() if len(codes) == 1 else None

    def _match(self, item: str, prefix: str | None) -> list[IloCode]:
        rows = self._by_name.get(_fold(item), [])
        if prefix is None:
            return rows
        words = _words(prefix)
        matched = []
        for row in rows:
            concept = next((c for c in self._classification_words.get(row.code_list, []) if c <= words), None)
            if concept is None:
                continue
            qualifier = words - concept
            if qualifier and row.parent and not qualifier <= self._words_of_parent(row.code_list, row.parent):
                continue
            matched.append(row)
        return matched

    def _words_of_parent(self, code_list: str, parent: str) -> frozenset[str]:
        """The words of a parent code's names (a version of a list: ``Youth and adults``),
        worked out the first time a label's qualifier is matched against them."""
        key = (code_list, parent)
        if key not in self._parent_words:
            row = self._rows.get(key)
            self._parent_words[key] = (
                frozenset().union(*(_words(n) for n in row.names)) if row else frozenset()
            )
        return self._parent_words[key]


@cache
def ilo_code_lists() -> IloCodeLists:
    return IloCodeLists(ilo_code_rows())


if __name__ == "__main__":
    print(f"wrote {write_code_list_file()}")
