"""Telling people that something went wrong: a log file always, e-mail and a Slack or
Teams webhook when configured.

Secrets stay secret: an SMTP password and a webhook URL (whose path *is* the credential)
are scrubbed from every message and error this module produces, and errors are raised
without the underlying exception chained (``requests`` puts the full URL in its messages).
Credentials embedded in any URL of a message (``postgresql://user:password@host``) are
masked too, since failure messages quote whatever the failing code said.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from cmc_pipeline.lib.raw_store import utc_now_iso

logger = logging.getLogger(__name__)

MASK = "***"
# user:password@ in any URL, whatever the scheme.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@\s]+@")
WEBHOOK_KINDS = ("slack", "teams")


class NotificationError(RuntimeError):
    """A channel could not deliver. The message never contains a secret."""


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str
    link: str | None = None  # where to look, e.g. the run in the Dagster UI


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret and every URL password replaced by ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


class LogChannel:
    """Appends each notification as one JSON line to a file (the default channel)."""

    name = "log"

    def __init__(self, path: Path):
        self.path = Path(path)

    def send(self, notification: Notification) -> None:
        record = {
            "at": utc_now_iso(),
            "subject": notification.subject,
            "body": notification.body,
            "link": notification.link,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class SmtpChannel:
    host: str
    port: int
    sender: str
    recipients: Sequence[str]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 30.0
    name: str = "email"

    @property
    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        text = notification.body + (f"\n\n{notification.link}" if notification.link else "")
        message.set_content(text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
            if self.starttls:
                server.starttls()
            if self.username:
                server.login(self.username, self.password or "")
            server.send_message(message)


@dataclass
class WebhookChannel:
    """A Slack incoming webhook, or a Teams channel workflow (Adaptive Card payload)."""

    url: str = field(repr=False)
    kind: str = "slack"
    timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.kind not in WEBHOOK_KINDS:
            raise ValueError(f"webhook kind must be one of {WEBHOOK_KINDS}, not {self.kind!r}")

    @property
    def name(self) -> str:
        return f"{self.kind} webhook"

    @property
    def secrets(self) -> list[str]:
        # The whole URL is the credential; its path alone appears in some error messages.
        path = self.url.split("://", 1)[-1].partition("/")[2]
        return [self.url, path] if path else [self.url]

    def payload(self, notification: Notification) -> dict:
        if self.kind == "slack":
            link = f"\n<{notification.link}|Open in Dagster>" if notification.link else ""
            return {"text": f"*{notification.subject}*\n{notification.body}{link}"}
        card: dict = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": notification.subject, "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": notification.body, "wrap": True},
            ],
        }
        if notification.link:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open in Dagster", "url": notification.link}
            ]
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }

    def send(self, notification: Notification) -> None:
        import requests  # only when a notice is sent

        response = requests.post(self.url, json=self.payload(notification), timeout=self.timeout)
        if not 200 <= response.status_code < 300:
            raise NotificationError(f"HTTP {response.status_code}: {response.text[:200]}")


class Notifier:
    """Sends a notification through every configured channel; the log channel always."""

    def __init__(self, log: LogChannel, others: Sequence[SmtpChannel | WebhookChannel] = ()):
        self.channels: list = [log, *others]
        self._secrets = [s for channel in others for s in channel.secrets]

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def send(self, notification: Notification) -> list[str]:
        """Try every channel; returns what was delivered where, raises if any failed.

        One channel failing does not stop the others, so an e-mail outage still leaves the
        webhook and the log.
        """
        notification = Notification(
            subject=self.scrub(notification.subject),
            body=self.scrub(notification.body),
            link=notification.link,
        )
        delivered, failures = [], []
        for channel in self.channels:
            try:
                channel.send(notification)
                delivered.append(channel.name)
            except Exception as exc:
                # Only the scrubbed text travels on: no exception chaining, whose message
                # (a requests error quoting the webhook URL) would carry the secret.
                failures.append(f"{channel.name}: {type(exc).__name__}: {self.scrub(str(exc))}")
        if failures:
            message = f"notification {notification.subject!r} not delivered by " + "; ".join(failures)
            logger.error(message)
            raise NotificationError(message)
        return delivered
