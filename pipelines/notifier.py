"""Telling the operator that something went wrong: `OperatorNotifier`, a Dagster resource.

Every notification is appended as one JSON line to the operator's notification log
(`<data>/notifications/operator.jsonl` by default; `WHOLESALER_OPERATOR_OUTBOX` moves it), with
phones, emails and name fields redacted (pipelines/logging_setup.py). When
`WHOLESALER_OPERATOR_EMAIL` is set and SMTP is configured (`SMTP_*`, outreach/service_settings
.py), it is also emailed to that address. These are internal alerts to the people who run the
system, never messages to a lead, so they do not pass the outreach compliance gate; a failed
email is recorded in the log line and never raises, so one broken mailbox cannot stop the
sensors that call it.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from pipelines import settings
from pipelines.logging_setup import redact_text, redact_value

log = logging.getLogger(__name__)

OPERATOR_OUTBOX_ENV = "WHOLESALER_OPERATOR_OUTBOX"
OPERATOR_EMAIL_ENV = "WHOLESALER_OPERATOR_EMAIL"
OPERATOR_EMAIL_FROM_ENV = "WHOLESALER_OPERATOR_EMAIL_FROM"
Severity = Literal["info", "warning", "error"]


def default_outbox_path() -> Path:
    configured = os.environ.get(OPERATOR_OUTBOX_ENV)
    return Path(configured) if configured else settings.data_dir() / "notifications" / \
        "operator.jsonl"


class OperatorNotifier(dg.ConfigurableResource):
    """Writes operator notifications to a JSON-lines file and, when configured, emails them."""

    outbox_path: str | None = None
    email_to: str | None = None
    email_from: str | None = None

    @classmethod
    def from_environment(cls) -> OperatorNotifier:
        return cls(outbox_path=os.environ.get(OPERATOR_OUTBOX_ENV) or None,
                   email_to=os.environ.get(OPERATOR_EMAIL_ENV) or None,
                   email_from=os.environ.get(OPERATOR_EMAIL_FROM_ENV) or None)

    def outbox(self) -> Path:
        return Path(self.outbox_path) if self.outbox_path else default_outbox_path()

    def notify(self, kind: str, subject: str, body: str, severity: Severity = "error",
               facts: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record (and maybe email) one notification; returns the line written."""
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "kind": kind,
            "severity": severity, "subject": redact_text(subject), "body": redact_text(body),
            "facts": redact_value(facts or {}),
        }
        if self.email_to:
            entry["emailed_to"] = self.email_to
            entry["email_error"] = self._email(entry)
        path = self.outbox()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
        log.warning("operator notified: %s", entry["subject"],
                    extra={"notification_kind": kind, "severity": severity})
        return entry

    def _email(self, entry: dict[str, Any]) -> str | None:
        """Email the notification; None when it was handed over, else the reason it was not."""
        from outreach.service_settings import ServiceSettingsError, smtp_server_settings

        try:
            smtp = smtp_server_settings()
        except ServiceSettingsError as error:
            return str(error)
        if not smtp.smtp_host:
            return "SMTP is not configured (SMTP_HOST)"
        message = EmailMessage()
        message["Subject"] = f"[wholesaler {entry['severity']}] {entry['subject']}"
        message["From"] = self.email_from or smtp.smtp_username or "wholesaler@localhost"
        message["To"] = self.email_to
        facts = "\n".join(f"{key}: {value}" for key, value in entry["facts"].items())
        message.set_content(f"{entry['body']}\n\n{facts}\n\nat {entry['time']}\n")
        try:
            with smtplib.SMTP(smtp.smtp_host, smtp.smtp_port, timeout=30) as client:
                client.ehlo()
                if smtp.smtp_starttls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if smtp.smtp_username:
                    password = smtp.smtp_password.get_secret_value() if smtp.smtp_password \
                        else ""
                    client.login(smtp.smtp_username, password)
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            log.error("operator email failed: %s", error)
            return f"{type(error).__name__}: {error}"
        return None
