"""The portal's four languages: every sentence of the code and templates has its
translation in the catalogues kept in the repository, and a file's problems read in the
officer's language, not in the English of ``cmc validate``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cmc_pipeline.portal import i18n
from cmc_pipeline_tests.portal_fixtures import JAM_PERMITS

PORTAL = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _messages_in_code() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    return {
        message for _file, _line, message, _comments, _context in extract_from_dir(str(PORTAL), method_map)
    }


@pytest.mark.parametrize("language", ["es", "fr", "nl"])
def test_every_sentence_has_its_translation(language):
    path = PORTAL / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    translated = {m.id: m.string for m in catalogue if m.id}
    in_code = _messages_in_code()
    assert sorted(in_code - set(translated)) == [], f"{path}: add these (pybabel extract, see babel.cfg)"
    assert sorted(set(translated) - in_code) == [], f"{path}: no longer in the code"
    for msgid, text in translated.items():
        assert (text and text != msgid) or msgid in ("E-mail", "Dataset", "upload", "Note"), msgid
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), msgid
    assert not [m.id for m in catalogue if m.id and m.fuzzy]


def test_the_catalogues_compile_on_start(tmp_path):
    compiled = i18n.compile_catalogues(tmp_path)
    assert sorted(p.parent.parent.name for p in compiled.glob("*/LC_MESSAGES/messages.mo")) == sorted(
        i18n.LANGUAGES
    )


def _problems_in(language: str, body: bytes, tmp_path: Path, name: str = "permits.csv") -> list[dict]:
    from flask import Flask
    from flask_babel import Babel, force_locale

    from cmc_pipeline.lib.uploads.checking import check_file

    path = tmp_path / name
    path.write_bytes(body)
    check = check_file(path, "work_permits", sender="JAM")
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.compile_catalogues(tmp_path / "mo"))
    Babel(app)
    with app.test_request_context(), force_locale(language):
        return [i18n.explain(p.as_record(), "work_permits") for p in check.problems]


def test_a_files_problems_read_in_spanish(tmp_path):
    lines = JAM_PERMITS.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("SEX_T", "Total").replace(",149,", ",-149,")
    lines[2] = lines[2].replace("2022", "22")
    lines[3] = lines[3].replace("JAM,", "BRB,", 1)
    problems = {p["rule"]: p for p in _problems_in("es", "\n".join(lines).encode(), tmp_path)}
    assert problems["sex_code_known"]["expected"] == "uno de estos: SEX_T, SEX_M, SEX_F, SEX_O"
    assert problems["sex_code_known"]["fix"] == "Elija el código en la lista desplegable de la plantilla."
    assert problems["period_format"]["expected"].startswith("un período escrito 2024 (un año)")
    assert (
        problems["permits_granted_not_negative"]["fix"]
        == "Un recuento no puede ser negativo: corrija la cifra."
    )
    assert (
        problems["country_is_sender"]["expected"] == "JAM (Jamaica), el país por el que se envía este archivo"
    )
    assert all(p["expected"] != p["expected_en"] for p in problems.values())


def test_a_file_that_cannot_be_read_is_explained_in_dutch(tmp_path):
    workbook_as_csv = (JAM_PERMITS.parent / "TTO__work_permits__demonstration.xlsx").read_bytes()[:200]
    (problem,) = _problems_in("nl", workbook_as_csv, tmp_path, "permits.xlsx")
    assert (
        problem["expected"] == "De werkmap kan niet worden geopend: hij is beschadigd of geen Excel-bestand."
    )
    (empty,) = _problems_in("nl", b"", tmp_path)
    assert (empty["expected"], empty["fix"]) == (
        "Het bestand is leeg.",
        "Vul het sjabloon in en verstuur het bestand opnieuw.",
    )
