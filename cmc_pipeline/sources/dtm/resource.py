"""The Dagster resource for DTM: the same class serves snapshot and live modes."""

from __future__ import annotations

import dagster as dg

from cmc_pipeline.sources.dtm import client as dtm


class DtmResource(dg.ConfigurableResource):
    """IOM Displacement Tracking Matrix API v3.

    The personal key comes from the ``DTM_API_KEY`` environment variable through
    ``dg.EnvVar``, so the Dagster UI shows the variable's name, never its value. DTM data
    are never bundled (the licence forbids redistribution), so there is nothing to serve
    in snapshot mode.
    """

    mode: str = "snapshot"
    api_key: str | None = None
    base_url: str = dtm.BASE_URL

    def skip_reason(self) -> str | None:
        """Why DTM figures cannot be fetched in this configuration, or None if they can."""
        if self.mode != "live":
            return (
                "snapshot mode: DTM figures are never bundled because the DTM licence forbids "
                "redistribution; set CMC_SOURCE_MODE=live and DTM_API_KEY to load them"
            )
        if not self.api_key:
            return (
                f"{dtm.KEY_ENVIRONMENT_VARIABLE} is not set: DTM API v3 needs a personal subscription key "
                "(register on the DTM API portal, then set the variable and reload the code location)"
            )
        return None

    def client(self) -> dtm.DtmClient:
        return dtm.DtmClient(self.api_key or "", base_url=self.base_url)
