"""The bundled UN DESA and governance-needs files are exactly what generate_migration_demo
writes, and the manifest labels them as demonstration data; the Missing Migrants files are
real answers, labelled as such, and no DTM file is bundled."""

from __future__ import annotations

from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.snapshots import generate_migration_demo as generator


def test_bundled_files_are_reproduced_byte_for_byte():
    store = SnapshotStore()
    undesa = store.folder("undesa") / generator.UNDESA_FILE.split("/", 1)[1]
    governance = store.folder("governance_needs") / generator.GOVERNANCE_FILE.split("/", 1)[1]
    assert undesa.read_bytes() == generator.undesa_workbook_bytes()
    assert governance.read_bytes() == generator.governance_workbook_bytes()


def test_generated_snapshots_are_labelled_demonstration_real_ones_are_not_and_there_is_no_dtm_file():
    entries = SnapshotStore().entries()
    generated = [e for e in entries if e.source in generator.SOURCES]
    assert {e.source for e in generated} == set(generator.SOURCES)
    assert all(e.demonstration and "not" in e.note for e in generated)
    missing_migrants = [e for e in entries if e.source == "missing_migrants"]
    assert len(missing_migrants) == 10 and not any(e.demonstration for e in missing_migrants)
    assert not [e for e in entries if e.source == "dtm"]
    assert not list(SnapshotStore().folder("dtm").parent.glob("*/snapshots/**/*dtm*"))
