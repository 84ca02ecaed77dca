"""One Dagster resource per external system, configured through environment variables.

The same resource classes serve snapshot and live modes (``CMC_SOURCE_MODE``), so tests
and ``make build`` exercise the real parsing path.
"""

import os
from pathlib import Path

import dagster as dg

from cmc_pipeline import settings
from cmc_pipeline.lib.notify import LogChannel, Notifier, SmtpChannel, WebhookChannel
from cmc_pipeline.lib.warehouse import Warehouse
from cmc_pipeline.sources.dtm import client as dtm
from cmc_pipeline.sources.dtm.resource import DtmResource
from cmc_pipeline.sources.governance_needs.resource import GovernanceNeedsResource
from cmc_pipeline.sources.ilostat.resource import IlostatResource
from cmc_pipeline.sources.missing_migrants.resource import MissingMigrantsResource
from cmc_pipeline.sources.undesa.resource import UndesaResource
from cmc_pipeline.sources.worldbank.resource import WorldBankResource


class WarehouseResource(dg.ConfigurableResource):
    """The regional warehouse: a DuckDB file path or a ``postgresql://`` URL."""

    url: str
    # How long a write waits for another process to release the DuckDB file before failing.
    lock_timeout: float = 120.0

    def get(self) -> Warehouse:
        return Warehouse(self.url, lock_timeout=self.lock_timeout)


class RawStoreResource(dg.ConfigurableResource):
    """Folder of the raw layer (content-addressed files with provenance sidecars)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class NotifierResource(dg.ConfigurableResource):
    """Where failure notices go: always a log file; e-mail and a Slack or Teams webhook
    when their settings are present. Secrets come from environment variables (the UI
    shows the variable's name, never its value) and never appear in a notice or error."""

    log_path: str
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: str | None = None
    email_from: str | None = None
    email_to: str | None = None  # comma-separated addresses
    webhook_url: str | None = None
    webhook_kind: str = "slack"  # or "teams"
    ui_url: str | None = None  # the Dagster UI as its users reach it, for links in notices

    def notifier(self) -> Notifier:
        others: list = []
        if self.smtp_host and self.email_to:
            others.append(
                SmtpChannel(
                    host=self.smtp_host,
                    port=self.smtp_port,
                    sender=self.email_from or f"cmc-pipeline@{self.smtp_host}",
                    recipients=[a.strip() for a in self.email_to.split(",") if a.strip()],
                    username=self.smtp_username,
                    password=self.smtp_password,
                    starttls=self.smtp_starttls,
                )
            )
        if self.webhook_url:
            others.append(WebhookChannel(url=self.webhook_url, kind=self.webhook_kind))
        return Notifier(LogChannel(Path(self.log_path)), others)

    def run_link(self, run_id: str) -> str | None:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}" if self.ui_url else None


# Notification settings: resource field → environment variable. Only variables that are
# set are passed (as dg.EnvVar, resolved when the resource is used), so an unconfigured
# channel is simply absent.
NOTIFIER_ENVIRONMENT = {
    "smtp_host": "CMC_SMTP_HOST",
    "smtp_port": "CMC_SMTP_PORT",
    "smtp_starttls": "CMC_SMTP_STARTTLS",
    "smtp_username": "CMC_SMTP_USERNAME",
    "smtp_password": "CMC_SMTP_PASSWORD",
    "email_from": "CMC_NOTIFY_EMAIL_FROM",
    "email_to": "CMC_NOTIFY_EMAIL_TO",
    "webhook_url": "CMC_NOTIFY_WEBHOOK_URL",
    "webhook_kind": "CMC_NOTIFY_WEBHOOK_KIND",
    "ui_url": "CMC_DAGSTER_URL",
}


def notifier_from_environment() -> NotifierResource:
    configured = {
        name: dg.EnvVar.int(variable) if name == "smtp_port" else dg.EnvVar(variable)
        for name, variable in NOTIFIER_ENVIRONMENT.items()
        if os.environ.get(variable)
    }
    if "smtp_starttls" in configured:
        # A boolean cannot come through dg.EnvVar; this one is not a secret.
        configured["smtp_starttls"] = os.environ["CMC_SMTP_STARTTLS"].strip().lower() not in (
            "0",
            "false",
            "no",
        )
    log_path = os.environ.get("CMC_NOTIFY_LOG", str(settings.data_dir() / "logs" / "notifications.log"))
    return NotifierResource(log_path=log_path, **configured)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment, with the project's defaults."""
    mode = settings.source_mode()
    return {
        # A PostgreSQL URL may carry credentials: through dg.EnvVar the UI, run config and
        # logs show the variable's name, and the value is read only where a step connects.
        "warehouse": WarehouseResource(
            url=dg.EnvVar("CMC_WAREHOUSE") if os.environ.get("CMC_WAREHOUSE") else settings.warehouse_url(),
            lock_timeout=settings.warehouse_lock_timeout(),
        ),
        "raw_store": RawStoreResource(root=str(settings.raw_dir())),
        "ilostat": IlostatResource.from_environment(mode),
        "worldbank": WorldBankResource.from_environment(mode),
        "undesa": UndesaResource(mode=mode, base_url=os.environ.get("CMC_UNDESA_URL", "")),
        "missing_migrants": MissingMigrantsResource.from_environment(mode),
        # EnvVar only when the variable exists: an unset EnvVar fails the step, and a
        # missing key must skip the DTM assets with a reason instead. The base URL
        # (CMC_DTM_URL) is read by the resource itself, like the key if run config omits it.
        "dtm": DtmResource(
            mode=mode,
            api_key=dg.EnvVar(dtm.KEY_ENVIRONMENT_VARIABLE)
            if os.environ.get(dtm.KEY_ENVIRONMENT_VARIABLE)
            else None,
        ),
        "governance_needs": GovernanceNeedsResource(workbook=settings.governance_needs_workbook()),
        "notifier": notifier_from_environment(),
    }
