"""Tell the data engineers when any run fails, through the channels the notifier resource
has (a log file always; e-mail and Slack or Teams when configured)."""

import dagster as dg

from cmc_pipeline.defs.resources import NotifierResource
from cmc_pipeline.lib.notify import Notification, NotificationError
from cmc_pipeline.orchestration import PARTITION_RANGE_END, PARTITION_RANGE_START

MAX_ERROR_CHARS = 600


def root_cause(error) -> str:
    """The user's error under Dagster's "Error occurred while executing op" wrapper."""
    if error is None:
        return "no error message"
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.message.strip()


def failure_notice(context: dg.RunFailureSensorContext, link: str | None) -> Notification:
    """What failed, for which countries, and the first words of each error."""
    run = context.dagster_run
    lines = [f"Run {run.run_id} of job {run.job_name} failed."]
    if PARTITION_RANGE_START in run.tags:
        lines.append(f"Countries {run.tags[PARTITION_RANGE_START]} to {run.tags[PARTITION_RANGE_END]}.")
    elif "dagster/partition" in run.tags:
        lines.append(f"Partition {run.tags['dagster/partition']}.")
    if backfill := run.tags.get("dagster/backfill"):
        lines.append(f"Part of backfill {backfill}.")
    step_failures = context.get_step_failure_events()
    for event in step_failures:
        message = root_cause(event.step_failure_data.error)
        lines.append(f"Step {event.step_key}: {message[:MAX_ERROR_CHARS]}")
    if not step_failures and context.failure_event.message:
        lines.append(context.failure_event.message[:MAX_ERROR_CHARS])
    return Notification(subject=f"[cmc-pipeline] {run.job_name} failed", body="\n".join(lines), link=link)


@dg.run_failure_sensor(
    name="notify_on_run_failure",
    description="Sends a notice for every failed run: log file, and e-mail or webhook when configured.",
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def notify_on_run_failure(context: dg.RunFailureSensorContext, notifier: NotifierResource) -> None:
    notice = failure_notice(context, notifier.run_link(context.dagster_run.run_id))
    try:
        delivered = notifier.notifier().send(notice)
    except NotificationError as exc:
        # Not re-raised: the sensor would then retry this failure on every tick and repeat
        # the notices that did go out. The message is already free of secrets.
        context.log.error(str(exc))
        return
    context.log.info(f"notified {', '.join(delivered)} of the failure of run {context.dagster_run.run_id}")
