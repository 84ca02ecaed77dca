"""Failure notices: a log file always, e-mail through a real (local) SMTP server, Slack and
Teams webhooks; and no secret in any notice, error or log line, whatever goes wrong."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
import requests
import responses

from cmc_pipeline.lib.notify import (
    LogChannel,
    Notification,
    NotificationError,
    Notifier,
    SmtpChannel,
    WebhookChannel,
)

SMTP_PASSWORD = "correct-horse-battery-staple-42"
SLACK_URL = "https://hooks.slack.com/services/T0CMC/B0CMC/Zx9SecretWebhookToken"
TEAMS_URL = (
    "https://cmc.example.webhook.office.com/workflows/abc/triggers/manual/paths/invoke?sig=TeamsSecretSig"
)
NOTICE = Notification(
    subject="[cmc-pipeline] refresh_open_data failed",
    body="Run 1234 of job refresh_open_data failed.\nStep core__fact_observation: unmapped sex code SEX_X",
    link="http://127.0.0.1:3000/runs/1234",
)


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback that accepts one user and keeps what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        def __init__(self):
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"cmc-alerts" and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def smtp_channel(controller, password: str = SMTP_PASSWORD) -> SmtpChannel:
    return SmtpChannel(
        host="127.0.0.1",
        port=controller.port,
        sender="cmc-pipeline@cmc.example",
        recipients=["data-team@cmc.example", "oncall@cmc.example"],
        username="cmc-alerts",
        password=password,
        starttls=False,
        timeout=5,
    )


def test_the_log_channel_keeps_every_notice_as_one_json_line(tmp_path):
    log = tmp_path / "logs" / "notifications.log"
    notifier = Notifier(LogChannel(log))
    assert notifier.send(NOTICE) == ["log"]
    assert notifier.send(NOTICE) == ["log"]
    records = read_log(log)
    assert len(records) == 2
    assert records[0]["subject"] == NOTICE.subject
    assert "unmapped sex code SEX_X" in records[0]["body"]
    assert records[0]["link"] == NOTICE.link


def test_an_email_reaches_every_recipient_with_the_error_and_the_link(tmp_path, smtp_server):
    controller, inbox = smtp_server
    delivered = Notifier(LogChannel(tmp_path / "n.log"), [smtp_channel(controller)]).send(NOTICE)
    assert delivered == ["log", "email"]
    (envelope,) = inbox.messages
    assert sorted(envelope.rcpt_tos) == ["data-team@cmc.example", "oncall@cmc.example"]
    text = envelope.content.decode()
    assert "Subject: [cmc-pipeline] refresh_open_data failed" in text
    assert "unmapped sex code SEX_X" in text
    assert "http://127.0.0.1:3000/runs/1234" in text


def test_a_refused_smtp_login_is_reported_without_the_password(tmp_path, smtp_server, caplog):
    controller, inbox = smtp_server
    wrong = "wrong-" + SMTP_PASSWORD
    log = tmp_path / "n.log"
    with caplog.at_level(logging.DEBUG), pytest.raises(NotificationError) as raised:
        Notifier(LogChannel(log), [smtp_channel(controller, password=wrong)]).send(NOTICE)
    message = str(raised.value)
    assert "email" in message and "SMTPAuthenticationError" in message
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert wrong not in message and wrong not in caplog.text and wrong not in log.read_text()
    assert not inbox.messages
    # The log channel still recorded the failure notice itself.
    assert read_log(log)[0]["subject"] == NOTICE.subject


@responses.activate
def test_slack_gets_the_subject_body_and_a_link():
    responses.post(SLACK_URL, body="ok")
    WebhookChannel(SLACK_URL, kind="slack").send(NOTICE)
    payload = json.loads(responses.calls[0].request.body)
    assert payload["text"].startswith("*[cmc-pipeline] refresh_open_data failed*")
    assert "unmapped sex code SEX_X" in payload["text"]
    assert "<http://127.0.0.1:3000/runs/1234|Open in Dagster>" in payload["text"]


@responses.activate
def test_teams_gets_an_adaptive_card_with_a_button_to_the_run():
    responses.post(TEAMS_URL, status=202)
    WebhookChannel(TEAMS_URL, kind="teams").send(NOTICE)
    payload = json.loads(responses.calls[0].request.body)
    (attachment,) = payload["attachments"]
    card = attachment["content"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["body"][0]["text"] == NOTICE.subject
    assert card["actions"][0]["url"] == NOTICE.link


@pytest.mark.parametrize("failure", ["unreachable", "http_error"])
@responses.activate
def test_a_failing_webhook_never_reveals_its_url(tmp_path, caplog, failure):
    if failure == "unreachable":
        # requests names the full URL in a connection error; the notifier must not pass it on.
        responses.post(
            SLACK_URL, body=requests.ConnectionError(f"Max retries exceeded with url: {SLACK_URL}")
        )
    else:
        responses.post(SLACK_URL, status=404, body=f"no_service for {SLACK_URL}")
    log = tmp_path / "n.log"
    with caplog.at_level(logging.DEBUG), pytest.raises(NotificationError) as raised:
        Notifier(LogChannel(log), [WebhookChannel(SLACK_URL)]).send(NOTICE)
    token = "Zx9SecretWebhookToken"
    assert "slack webhook" in str(raised.value)
    assert token not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert token not in caplog.text and token not in log.read_text()


def test_secrets_and_url_passwords_in_a_failure_message_are_masked(tmp_path):
    log = tmp_path / "n.log"
    leaky = Notification(
        subject="warehouse write failed",
        body=(
            "could not connect to postgresql://cmc_writer:pg-Pa55word@db.cmc.example:5432/cmc; "
            f"webhook {SLACK_URL} and password {SMTP_PASSWORD} were in the environment"
        ),
    )
    channel = SmtpChannel(
        host="127.0.0.1", port=1, sender="a@b", recipients=["c@d"], password=SMTP_PASSWORD, timeout=1
    )
    with pytest.raises(NotificationError):  # nothing listens on port 1: the e-mail fails
        Notifier(LogChannel(log), [channel, WebhookChannel(SLACK_URL)]).send(leaky)
    written = log.read_text()
    assert "pg-Pa55word" not in written and "postgresql://cmc_writer:***@db.cmc.example" in written
    assert SMTP_PASSWORD not in written and "Zx9SecretWebhookToken" not in written


def test_an_unknown_webhook_kind_is_refused_by_name():
    with pytest.raises(ValueError, match=r"slack.*teams.*'discord'"):
        WebhookChannel(SLACK_URL, kind="discord")
