"""The bundled UN DESA, Missing Migrants and governance-needs files are exactly what
generate_migration_demo writes, and the manifest labels them as demonstration data."""

from __future__ import annotations

import json

from cmc_pipeline.lib.snapshots import SnapshotStore
from cmc_pipeline.snapshots import generate_migration_demo as generator
from cmc_pipeline.snapshots.generate_demo import snapshot_path
from cmc_pipeline.sources import SOURCES_DIR


def test_bundled_files_are_reproduced_byte_for_byte():
    path = snapshot_path
    assert path(generator.UNDESA_FILE).read_bytes() == generator.undesa_workbook_bytes()
    assert path(generator.GOVERNANCE_FILE).read_bytes() == generator.governance_workbook_bytes()
    for year in generator.MMP_YEARS:
        bundled = json.loads(path(f"missing_migrants/{year}.json").read_text(encoding="utf-8"))
        assert bundled == generator.missing_migrants_records(year)


def test_every_new_snapshot_is_labelled_demonstration_and_there_is_no_dtm_file():
    entries = SnapshotStore().entries()
    new = [e for e in entries if e.source in generator.SOURCES]
    assert {e.source for e in new} == set(generator.SOURCES)
    assert all(e.demonstration and "not" in e.note for e in new)
    assert not [e for e in entries if e.source == "dtm"]
    assert not list(SOURCES_DIR.glob("*/snapshots/**/*dtm*"))
