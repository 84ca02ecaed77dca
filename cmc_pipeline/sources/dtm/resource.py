"""The Dagster resource for DTM: the same class serves snapshot and live modes."""

from __future__ import annotations

import os

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.sources import origin
from cmc_pipeline.sources.dtm import client as dtm


class DtmResource(dg.ConfigurableResource):
    """IOM Displacement Tracking Matrix API v3.

    Every field may be left unset, and is then read from the environment when the
    resource is used: the mode from ``CMC_SOURCE_MODE``, the base URL from ``CMC_DTM_URL``
    (DTM's own when unset) and the personal key from ``DTM_API_KEY``. So run config that
    sets only ``base_url`` (a mirror, a proxy, a test server) keeps the mode and the key;
    and the key, when it comes from the environment, is in no run config and no page of
    the Dagster UI. DTM data are never bundled (the licence forbids redistribution), so
    there is nothing to serve in snapshot mode.
    """

    mode: str | None = None
    api_key: str | None = None
    base_url: str | None = None

    @property
    def effective_mode(self) -> str:
        return self.mode or settings.source_mode()

    @property
    def effective_base_url(self) -> str:
        variable = origin("dtm").base_url_settings["api"]
        return self.base_url or os.environ.get(variable) or dtm.BASE_URL

    def _api_key(self) -> str | None:
        key = self.api_key
        if isinstance(key, dg.EnvVar):  # not resolved by Dagster: used outside a run
            key = key.get_value()
        return key or os.environ.get(dtm.KEY_ENVIRONMENT_VARIABLE) or None

    def skip_reason(self) -> str | None:
        """Why DTM figures cannot be fetched in this configuration, or None if they can."""
        if self.effective_mode != "live":
            return (
                "snapshot mode: DTM figures are never bundled because the DTM licence forbids "
                "redistribution; set CMC_SOURCE_MODE=live and DTM_API_KEY to load them"
            )
        if not self._api_key():
            return (
                f"{dtm.KEY_ENVIRONMENT_VARIABLE} is not set: DTM API v3 needs a personal subscription key "
                "(register on the DTM API portal, then set the variable and reload the code location)"
            )
        return None

    def client(self) -> dtm.DtmClient:
        return dtm.DtmClient(self._api_key() or "", base_url=self.effective_base_url)
