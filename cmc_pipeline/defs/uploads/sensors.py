"""The inbox sensor: one run per new file, never two for the same bytes, never a crash.

Each tick lists the files waiting in ``CMC_INBOX`` (see ``lib/uploads/intake.py``) and
starts the loading job of each new one, partitioned by the sending country, with
``run_key`` = the file's sha256 so the same bytes never start two runs. Two files of one
country arriving together become two runs; the ``warehouse`` pool runs them one after
the other.

The cursor is the set of files already seen (path, modification time and size), pruned
to those still waiting: a file copied in with an old modification time is still new,
and a file replaced in place is seen again. A file that cannot be an upload (its place
names no country or dataset, a type other than CSV or XLSX, a link) is kept in the raw
store and moved to ``rejected/`` with a report; an identical copy of a file already sent
goes to ``duplicates/`` with a report. Anything unexpected on one file is logged and the
tick goes on with the others.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.defs.uploads.assets import job_name, upload_jobs, upload_run_config
from cmc_pipeline.lib.uploads import intake, loading, reports

SHA_TAG = "cmc/upload_sha256"
SENSOR_UPLOADER = "inbox sensor"


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(found: intake.InboxFile) -> str:
    status = found.path.lstat()
    return f"{status.st_mtime_ns}:{status.st_size}"


def _earlier_run(instance: dg.DagsterInstance, sha: str) -> str | None:
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={SHA_TAG: sha}), limit=1)
    return runs[0].dagster_run.run_id if runs else None


def _set_aside_duplicate(found: intake.InboxFile, sha: str, earlier: str) -> None:
    """The same bytes again: keep them raw, move the copy to duplicates/ with a report."""
    from cmc_pipeline.lib.raw_store import land_bytes, utc_now_iso

    landed = land_bytes(
        settings.raw_dir(),
        loading.RAW_SOURCE,
        found.path.read_bytes(),
        suffix=found.path.suffix.lower() if found.path.suffix.lower() in intake.UPLOAD_SUFFIXES else ".bin",
        provenance={"uploader": f"{SENSOR_UPLOADER}: {found.relative}", "original_name": found.original_name},
    )
    received = utc_now_iso()
    upload_id = intake.new_upload_id(found.country, found.dataset, sha, loading._now())
    facts = reports.UploadFacts(
        upload_id,
        found.original_name,
        found.dataset,
        found.country,
        landed.sha256,
        str(landed.path),
        received,
        f"{SENSOR_UPLOADER}: {found.relative}",
    )
    body = reports.duplicate_report(facts, f"the file of Dagster run {earlier}")
    intake.file_away(
        found.path, settings.inbox_dir(), intake.DUPLICATES, upload_id, {"report.md": body.encode()}
    )


@dg.sensor(
    name="upload_inbox",
    jobs=upload_jobs,
    minimum_interval_seconds=30,
    description="Starts one loading run per new file in the national-upload inbox (CMC_INBOX).",
)
def upload_inbox(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    inbox = settings.inbox_dir()
    seen_before: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, str] = {}
    requests: list[dg.RunRequest] = []
    requested_this_tick: dict[str, str] = {}
    for found in intake.waiting_files(inbox):
        try:
            stamp = _stamp(found)
            seen[found.relative] = stamp
            if seen_before.get(found.relative) == stamp:
                continue  # already requested; its run moves it out of the inbox
            if found.problem:
                outcome = loading.refuse_unidentified(
                    found, inbox=inbox, raw_root=settings.raw_dir(), uploader=SENSOR_UPLOADER
                )
                seen.pop(found.relative, None)
                context.log.warning(f"{found.relative}: {found.problem}; report in {outcome.report_path}")
                continue
            sha = _sha256(found.path)
            earlier = requested_this_tick.get(sha) or _earlier_run(context.instance, sha)
            if earlier:
                _set_aside_duplicate(found, sha, earlier)
                seen.pop(found.relative, None)
                context.log.info(f"{found.relative}: the same file as {earlier}; moved to duplicates/")
                continue
            requested_this_tick[sha] = f"{found.relative} (requested in the same tick)"
            requests.append(
                dg.RunRequest(
                    run_key=sha,
                    job_name=job_name(found.dataset),
                    partition_key=found.country,
                    run_config=upload_run_config(found.dataset, found.relative),
                    tags={
                        SHA_TAG: sha,
                        "cmc/upload_file": found.relative[:200],
                        "cmc/dataset": found.dataset,
                        "cmc/country": found.country,
                    },
                )
            )
        except Exception as exc:  # one odd file must never stop the others being seen
            context.log.exception(f"{found.relative}: skipped this tick ({exc.__class__.__name__}: {exc})")
    cursor = json.dumps(seen, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new file in {inbox}"), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
