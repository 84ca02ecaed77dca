"""The bundled UN DESA and governance-needs files are exactly what generate_migration_demo
writes (cell for cell), and the manifest labels them as demonstration data; the Missing Migrants files are
real answers, labelled as such, and no DTM file is bundled."""

from __future__ import annotations

import io

import openpyxl

from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.snapshots import generate_migration_demo as generator


def _cells(workbook: bytes) -> dict[str, list[tuple]]:
    """Every sheet's cell values: what a reader sees. The bytes themselves depend on
    whether openpyxl writes its XML through lxml or the standard library."""
    book = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_bundled_files_are_what_the_generator_writes():
    store = SnapshotStore()
    undesa = store.folder("undesa") / generator.UNDESA_FILE.split("/", 1)[1]
    governance = store.folder("governance_needs") / generator.GOVERNANCE_FILE.split("/", 1)[1]
    assert _cells(undesa.read_bytes()) == _cells(generator.undesa_workbook_bytes())
    assert _cells(governance.read_bytes()) == _cells(generator.governance_workbook_bytes())


def test_generated_snapshots_are_labelled_demonstration_real_ones_are_not_and_there_is_no_dtm_file():
    entries = SnapshotStore().entries()
    generated_files = {generator.UNDESA_FILE, generator.GOVERNANCE_FILE}
    generated = [e for e in entries if f"{e.source}/{e.file}" in generated_files]
    assert {f"{e.source}/{e.file}" for e in generated} == generated_files
    assert all(e.demonstration and "not" in e.note for e in generated)
    # UN DESA's own workbooks sit beside the generated one, labelled as published.
    published = [e for e in entries if e.source == "undesa" and f"undesa/{e.file}" not in generated_files]
    assert published and not any(e.demonstration for e in published)
    missing_migrants = [e for e in entries if e.source == "missing_migrants"]
    assert len(missing_migrants) == 10 and not any(e.demonstration for e in missing_migrants)
    assert not [e for e in entries if e.source == "dtm"]
    assert not list(SnapshotStore().folder("dtm").parent.glob("*/snapshots/**/*dtm*"))
