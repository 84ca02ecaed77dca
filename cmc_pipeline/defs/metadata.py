"""Asset metadata built from a step's report and the table's contract: row count, column
schema, provenance, a preview, and the demonstration-data label where it applies."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.lib.contracts import TableContract, contract_for
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL
from cmc_pipeline.steps.load_report import LoadReport

DAGSTER_TYPES = {
    "string": "string",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "date": "date",
    "timestamp": "timestamp",
}


def table_schema(contract: TableContract) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=DAGSTER_TYPES[c.logical_type],
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=not c.required, unique=c.unique),
            )
            for c in contract.columns
        ]
    )


def definition_metadata(table: str) -> dict:
    """Static metadata shown on the asset before it is ever materialised."""
    contract = contract_for(table)
    return {
        "dagster/column_schema": table_schema(contract),
        "dagster/table_name": table,
        "contract": dg.MetadataValue.path(str(contract.path)),
        "contract_version": contract.version,
    }


def with_contract_attributes(spec: dg.AssetSpec) -> dg.AssetSpec:
    """An asset that is a warehouse table takes its owners, tags and code version from its
    contract, so the UI can filter by them: owners (``team:`` + the contract's owners),
    ``layer`` (staging, uploads, core, marts, quality), ``dissemination_level``, a
    ``source/<name>`` tag per source, and the contract version as the code version (a
    contract change marks the table's last materialisation as from older code)."""
    from cmc_pipeline.lib.contracts import all_contracts
    from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS
    from cmc_pipeline.sources import SOURCE_NAMES

    contract = all_contracts().get(".".join(spec.key.path))
    if contract is None:
        return spec  # not a table (the regional report)
    owners = [
        f"team:{member['username']}"
        for member in contract.document.get("team") or ()
        if member.get("role") == "owner"
    ]
    name = contract.table.split(".", 1)[1]
    sources = contract.custom_properties.get("sources") or (
        ["uploads"] if name in UPLOAD_DATASETS else [s for s in SOURCE_NAMES if name.startswith(s)]
    )
    tags = {
        "layer": contract.schema_name,
        "dissemination_level": contract.custom_properties.get("dissemination_level", "restricted"),
        **{f"source/{source}": "" for source in sources},
    }
    return spec.replace_attributes(
        owners=list(dict.fromkeys([*spec.owners, *owners])),
        tags={**spec.tags, **tags},
        code_version=spec.code_version or contract.version,
    )


def materialize_result(report: LoadReport, asset_key: dg.AssetKey | None = None) -> dg.MaterializeResult:
    contract = contract_for(report.table)
    # The column schema is the definition's (``definition_metadata``), which the UI shows
    # for every materialisation; the contract version here says which schema a row had.
    # Repeated on each country's materialisation it was four fifths of the time Dagster
    # spent serialising them.
    metadata: dict = {
        "dagster/row_count": report.rows_written,
        "dagster/table_name": report.table,
        "contract_version": contract.version,
        "countries": ", ".join(report.countries),
        "years": report.years,
    }
    if report.raw_files:
        metadata["raw_files"] = dg.MetadataValue.json(report.raw_files)
    if report.skipped:
        metadata["rows_skipped"] = dg.MetadataValue.json(report.skipped)
    if report.blocked:
        # The materialisation covers the run's whole partition range; these countries'
        # rows were not replaced because they failed an error rule (see their checks).
        metadata["countries_blocked"] = ", ".join(report.blocked)
    if report.validation is not None:
        failed = sorted({r.rule.id for r in report.validation.failures()})
        metadata["quality_rules_failed"] = ", ".join(failed) if failed else "none"
    if report.countries_without_rows:
        metadata["countries_without_rows"] = ", ".join(report.countries_without_rows)
    if report.demonstration:
        metadata["data_label"] = DEMONSTRATION_LABEL
    level = contract.custom_properties.get("dissemination_level", "public")
    if level != "public":
        # Said on every materialisation, so nobody exports such a table unawares.
        metadata["dissemination_level"] = level
    if report.preview is not None and len(report.preview):
        metadata["preview"] = dg.MetadataValue.md(report.preview.to_markdown(index=False))
    return dg.MaterializeResult(asset_key=asset_key, metadata=metadata)
