"""Tables that refresh themselves: a mart or the report is rebuilt when a table it reads
changes, whoever changed it (a national upload through the inbox, `cmc import`, a refresh
or a backfill), without a list of what to rebuild after what.

Each derived asset carries the condition below: requested when a table it reads has been
updated since it was last built (or is about to be, in the same evaluation: the report
follows its mart), and never while one of them is still being written. It is Dagster's
``eager`` without its wait for every input to exist: a mart over countries reads a table
partitioned by country, and a country that has never uploaded must not hold back the
others' figures. The sensor below evaluates the
conditions in the daemon (``make dev``, the shared deployment) and launches the runs; the
UI's Automation page shows each evaluation and why an asset was or was not requested.
A refresh or a backfill that already rebuilds a mart leaves it newer than what it reads,
so the sensor does not build it a second time.
"""

from __future__ import annotations

import dagster as dg

# Marts and the report: what an upload, an import or a refresh of the tables they read
# must bring up to date.
REBUILT_WHEN_INPUTS_CHANGE = (
    dg.AutomationCondition.in_latest_time_window()
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuilt when a table it reads changes")

rebuild_when_inputs_change = dg.AutomationConditionSensorDefinition(
    "rebuild_when_inputs_change",
    target=dg.AssetSelection.groups("marts", "reports"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Rebuilds a mart or the regional report when a table it reads has changed (an upload, "
        "an import, a refresh), once nothing it reads is still being written."
    ),
)
