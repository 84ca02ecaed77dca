"""National uploads as assets: per dataset, the history of accepted uploads
(``uploads/<dataset>``) and the current figures (``core/<dataset>``), partitioned by the
sending country, written together by one step in one transaction.

A run started by the inbox sensor processes the one file named in its configuration; a
run without a file (``cmc build``) loads the bundled demonstration uploads of its
countries, through the same code. A refused file fails the run, with the report's path
and the first problems in the failure's metadata and each contract rule's result as an
asset check.
"""

import dataclasses
from collections.abc import Iterator

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.defs.automation.freshness import FRESHNESS_CHECKS
from cmc_pipeline.defs.metadata import definition_metadata, materialize_result
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL, batched_backfill, country_partitions
from cmc_pipeline.defs.quality import check_specs_for, code_labels, evaluation, on_latest_materialization
from cmc_pipeline.defs.resources import RawStoreResource, WarehouseResource
from cmc_pipeline.lib.quality import offences_table
from cmc_pipeline.lib.uploads import loading
from cmc_pipeline.lib.uploads.datasets import UPLOAD_DATASETS, upload_dataset
from cmc_pipeline.steps.load_report import LoadReport


class UploadFileConfig(dg.Config):
    """Which file of the inbox to load; empty loads the bundled demonstration uploads."""

    file: str = ""  # relative to the inbox (CMC_INBOX)


def history_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["uploads", dataset])


def current_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["core", dataset])


def step_name(dataset: str) -> str:
    return f"load_{dataset}_upload"


def upload_run_config(dataset: str, relative_path: str) -> dict:
    return {"ops": {step_name(dataset): {"config": {"file": relative_path}}}}


def _failure(outcome: loading.UploadOutcome) -> dg.Failure:
    metadata: dict = {
        "upload_id": outcome.upload_id,
        "file": outcome.original_name,
        "sha256": outcome.landed.sha256 if outcome.landed else "",
        "problems": len(outcome.check.errors) if outcome.check else 1,
        "first_problems": dg.MetadataValue.md(
            "\n".join(f"- {line}" for line in outcome.first_problems()) or "(see the report)"
        ),
    }
    if outcome.report_path is not None:
        metadata["report"] = dg.MetadataValue.path(str(outcome.report_path))
        metadata["errors_csv"] = dg.MetadataValue.path(str(outcome.errors_path))
        metadata["moved_to"] = dg.MetadataValue.path(str(outcome.folder))
    if outcome.check is not None and outcome.check.errors:
        first = outcome.check.errors[:10]
        labels = code_labels(upload_dataset(outcome.dataset).history_table)
        metadata["offending_rows"] = dg.MetadataValue.md(offences_table(_as_offences(first), labels=labels))
    return dg.Failure(description=outcome.message(), metadata=metadata)


def _as_offences(problems):
    from cmc_pipeline.lib.quality import Offence

    return [Offence(None, p.row, p.column, p.value, f"{p.expected} [{p.rule}]") for p in problems]


def _check_evaluations(
    history: dg.AssetKey, current: dg.AssetKey, outcome: loading.UploadOutcome
) -> Iterator:
    """Each contract rule's result on the file (the history's checks), and on the rows as
    stored (the current table's), recorded against the sending country."""
    for asset_key, run in (
        (history, outcome.check.validation if outcome.check else None),
        (current, outcome.stored),
    ):
        if run is None:
            continue
        report = LoadReport(asset_key.to_user_string(), validation=run)
        for result in run.results:
            yield evaluation(asset_key, dataclasses.replace(result, partition=outcome.country), report)


def build_upload_assets(dataset: str) -> dg.AssetsDefinition:
    spec = upload_dataset(dataset)
    history, current = history_key(dataset), current_key(dataset)

    @dg.multi_asset(
        name=step_name(dataset),
        specs=[
            dg.AssetSpec(
                history,
                group_name="uploads",
                kinds={"python", "duckdb"},
                partitions_def=country_partitions,
                metadata=definition_metadata(spec.history_table),
                description=(
                    f"Every accepted national upload of {dataset.replace('_', ' ')}, row by row, with its "
                    f"upload id and raw file sha256: the history behind core/{dataset}. "
                    f"{spec.contract.description}"
                ),
            ),
            dg.AssetSpec(
                current,
                group_name="core",
                kinds={"python", "duckdb"},
                partitions_def=country_partitions,
                deps=[history],
                metadata=definition_metadata(spec.current_table),
                description=(
                    f"The current figures of {dataset.replace('_', ' ')}: an accepted upload replaces its "
                    "country's rows for the periods it covers (the replaced rows stay in the history)."
                ),
            ),
        ],
        check_specs=[
            *check_specs_for(spec.history_table, history, country_partitions),
            *check_specs_for(spec.current_table, current, country_partitions),
        ],
        pool=WAREHOUSE_POOL,
        backfill_policy=batched_backfill,
    )
    def load_upload(
        context: dg.AssetExecutionContext,
        config: UploadFileConfig,
        warehouse: WarehouseResource,
        raw_store: RawStoreResource,
    ) -> Iterator:
        if config.file:
            inbox = settings.inbox_dir()
            outcomes = [
                loading.process_upload(
                    inbox / config.file,
                    dataset=dataset,
                    country=context.partition_key,
                    warehouse=warehouse.get(),
                    raw_root=raw_store.path,
                    uploader=f"inbox {config.file}",
                    inbox=inbox,
                )
            ]
        else:
            outcomes = loading.load_demonstration_uploads(
                dataset, context.partition_keys, warehouse.get(), raw_store.path
            )
        for key in context.selected_asset_check_keys:
            yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
        refused = [o for o in outcomes if o.status == "rejected"]
        if not refused:
            for outcome in outcomes:
                context.log.info(outcome.message())
            for key, table in ((history, spec.history_table), (current, spec.current_table)):
                yield _materialization(key, table, outcomes, context.partition_keys)
        # After the materializations, so each evaluation refers to the one it checked.
        evaluations = [e for outcome in outcomes for e in _check_evaluations(history, current, outcome)]
        yield from on_latest_materialization(context, evaluations)
        if refused:
            raise _failure(refused[0])

    return load_upload


def _materialization(key, table, outcomes, partitions) -> dg.MaterializeResult:
    loaded = [o for o in outcomes if o.status == "accepted"]
    report = LoadReport(table, countries=sorted({o.country for o in loaded}))
    for outcome in loaded:
        step = next(r for r in outcome.load_reports() if r.table == table)
        report.rows_written += step.rows_written
        report.raw_files += step.raw_files
        report.demonstration |= step.demonstration
        report.preview = step.preview
    result = materialize_result(report)
    metadata = dict(result.metadata or {})
    metadata["uploads"] = dg.MetadataValue.md(
        "\n".join(f"- {o.message()}" for o in outcomes) or "no new upload for these countries"
    )
    if loaded and loaded[-1].report_path is not None:
        metadata["report"] = dg.MetadataValue.path(str(loaded[-1].report_path))
    if loaded:
        # Where each upload's time went (land, read, tidy, rules, write): a slow load shows
        # which step to look at.
        metadata["seconds_by_step"] = dg.MetadataValue.json(
            {o.upload_id: {step: round(s, 3) for step, s in o.seconds.items()} for o in loaded}
        )
    return dg.MaterializeResult(asset_key=key, metadata=metadata)


upload_assets = [build_upload_assets(dataset) for dataset in UPLOAD_DATASETS]

upload_jobs = [
    dg.define_asset_job(
        f"upload_{dataset}",
        # The tables' freshness checks run on their daily schedule, not with each file.
        selection=dg.AssetSelection.assets(history_key(dataset), current_key(dataset)) - FRESHNESS_CHECKS,
        partitions_def=country_partitions,
        description=f"Load one {dataset} file from the inbox (started by the upload_inbox sensor).",
    )
    for dataset in UPLOAD_DATASETS
]


def job_name(dataset: str) -> str:
    return f"upload_{dataset}"
