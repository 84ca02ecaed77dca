"""The Dagster resource for the governance-needs workbook: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg


class GovernanceNeedsResource(dg.ConfigurableResource):
    """The governance-needs workbook to load: a path, or empty for the bundled
    demonstration workbook."""

    workbook: str = ""
