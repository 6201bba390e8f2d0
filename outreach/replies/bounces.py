"""Recognising a bounce or a complaint in the replies mailbox, and which of our messages it is
about.

`read_bounce(message)` returns a `Bounce` or None:

- A standard delivery status notification (RFC 3464): `multipart/report;
  report-type=delivery-status` with a `message/delivery-status` part whose per-recipient
  blocks carry `Final-Recipient`, `Action` and `Status`. `Action: failed` with a 5.x.x status
  (or no status) is permanent; a 4.x.x status or `Action: delayed` is transient;
  `delivered` / `relayed` / `expanded` are notices, not failures.
- A non-standard bounce (qmail's "failure notice", Exchange's "Undeliverable:", old
  Sendmail): From MAILER-DAEMON or postmaster, or a subject such as "Undelivered Mail Returned
  to Sender", "Delivery Status Notification (Failure)", "Mail delivery failed". Its
  kind comes from an enhanced status code in the text (5.x.x / 4.x.x), then the SMTP reply
  code, then the subject ("Delay", "delayed", "warning" -> transient; otherwise permanent).

The original Message-ID comes from the attached `message/rfc822` or `text/rfc822-headers`
part, else from a "Message-ID:" line quoted in the text (qmail). The caller finds our
outbound message by that id (`messages.provider_message_id`).

`read_complaint(message)` returns a `Complaint` or None: a feedback report (RFC 5965, ARF:
`multipart/report; report-type=feedback-report`), which mailbox providers' feedback loops
send when a recipient marks our email as spam. The `message/feedback-report` part gives
`Feedback-Type` (abuse, fraud, virus, other; `not-spam` and `auth-failure` are reports but
no complaint; a report without the field is taken as abuse), `Original-Rcpt-To` (often
redacted) and `Reporting-MTA`; the original's Message-ID comes from the attached original or
its headers, as for a bounce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from typing import Literal

from outreach.replies.email_parsing import header_text, part_text, sender_address

BounceKind = Literal["permanent", "transient", "notice"]
# Feedback types that are a recipient's complaint (RFC 5965 section 7.3 and the older
# opt-out types); others (not-spam, auth-failure, dkim …) are reports to note, not to act on.
COMPLAINT_FEEDBACK_TYPES = frozenset({"abuse", "fraud", "virus", "other", "opt-out",
                                      "opt-out-list"})

_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers",
                   "message/rfc822-headers")
_BOUNCE_SUBJECT = re.compile(
    r"\s*(undeliver(ed|able)|returned mail|delivery status notification|mail delivery "
    r"(failed|failure|subsystem)|delivery (has )?failed|failure notice|"
    r"non[- ]?delivery|could not be delivered|delivery failure|warning: could not send)",
    re.IGNORECASE)
_TRANSIENT_SUBJECT = re.compile(r"(delay|delayed|warning|temporar)", re.IGNORECASE)
_ENHANCED_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY = re.compile(r"(?<!\d)([45])\d\d(?=[ -])")
_QUOTED_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_RECIPIENT_IN_TEXT = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")


@dataclass(frozen=True)
class Bounce:
    kind: BounceKind
    is_standard: bool  # an RFC 3464 report
    recipient: str | None
    status: str | None  # the enhanced status code, e.g. 5.1.1
    action: str | None
    diagnostic: str
    original_message_id: str | None

    @property
    def is_permanent(self) -> bool:
        return self.kind == "permanent"

    def describe(self) -> str:
        parts = [self.kind, self.status or "no status"]
        if self.recipient:
            parts.append(self.recipient)
        if self.diagnostic:
            parts.append(self.diagnostic)
        return "; ".join(parts)[:1000]


def _address_of(field: str | None) -> str | None:
    """`rfc822; user@example.com` -> user@example.com."""
    if not field:
        return None
    value = field.split(";", 1)[1] if ";" in field else field
    value = value.strip().strip("<>").strip().lower()
    return value or None


def _original_message_id(message: EmailMessage) -> str | None:
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                found = re.findall(r"<[^<>\s]+>", str(inner.get("Message-ID", "")))
                if found:
                    return found[0]
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            text = (part_text(part) if isinstance(part, EmailMessage)
                    else str(part.get_payload()))
            headers = HeaderParser().parsestr(text)
            found = re.findall(r"<[^<>\s]+>", str(headers.get("Message-ID", "")))
            if found:
                return found[0]
    for part in message.walk():
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            quoted = _QUOTED_ID.search(part_text(part))
            if quoted:
                return quoted.group(1)
    return None


def _status_blocks(message: EmailMessage) -> list[Message]:
    """The per-recipient header blocks of the message/delivery-status part(s)."""
    blocks: list[Message] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks.extend(block for block in payload if isinstance(block, Message))
        elif isinstance(payload, str):  # some producers: a single text block
            for chunk in re.split(r"\r?\n\r?\n", payload):
                if chunk.strip():
                    blocks.append(HeaderParser().parsestr(chunk))
    return [block for block in blocks
            if block.get("Final-Recipient") or block.get("Action") or block.get("Status")]


def _kind_from(action: str | None, status: str | None) -> BounceKind:
    action = (action or "").lower()
    if action in ("delivered", "relayed", "expanded"):
        return "notice"
    if action == "delayed" or (status or "").startswith("4."):
        return "transient"
    return "permanent"


def _standard(message: EmailMessage) -> Bounce | None:
    blocks = _status_blocks(message)
    if not blocks:
        return None
    ranked = {"permanent": 0, "transient": 1, "notice": 2}
    best: Bounce | None = None
    for block in blocks:
        status_match = _ENHANCED_STATUS.search(str(block.get("Status", "")))
        status = status_match.group(0) if status_match else None
        action = str(block.get("Action", "")).strip().lower() or None
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        recipient = _address_of(str(block.get("Final-Recipient", "") or "")
                                or str(block.get("Original-Recipient", "") or ""))
        kind = _kind_from(action, status)
        found = Bounce(kind=kind, is_standard=True, recipient=recipient, status=status,
                       action=action, diagnostic=diagnostic[:500], original_message_id=None)
        if best is None or ranked[kind] < ranked[best.kind]:
            best = found
    if best is None:
        return None
    return Bounce(best.kind, True, best.recipient, best.status, best.action, best.diagnostic,
                  _original_message_id(message))


def _looks_like_bounce(message: EmailMessage) -> bool:
    """From a mailer daemon; or a bounce subject (at the start: a person's "Re: undelivered
    package?" is no bounce) with evidence: the null Return-Path, an attached original, or an
    enhanced status code in the text."""
    sender = sender_address(message) or ""
    local = sender.partition("@")[0]
    if local in _BOUNCE_SENDERS:
        return True
    if not _BOUNCE_SUBJECT.match(header_text(message, "Subject") or ""):
        return False
    if (header_text(message, "Return-Path") or "").replace(" ", "") == "<>":
        return True
    if any(part.get_content_type() in _ORIGINAL_TYPES for part in message.walk()):
        return True
    return bool(_ENHANCED_STATUS.search(_first_text(message)))


def _first_text(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and isinstance(part, EmailMessage):
            return part_text(part)
    for part in message.walk():
        if part.get_content_type() == "text/html" and isinstance(part, EmailMessage):
            from outreach.replies.email_parsing import html_to_text

            return html_to_text(part_text(part))
    return ""


def _non_standard(message: EmailMessage) -> Bounce | None:
    if not _looks_like_bounce(message):
        return None
    text = _first_text(message)
    # Only the bounce's own explanation, not the returned message below it.
    explanation = re.split(r"^\s*-{2,}.*(original message|below this line|returned message)",
                           text, maxsplit=1, flags=re.IGNORECASE | re.MULTILINE)[0]
    status_match = _ENHANCED_STATUS.search(explanation)
    status = status_match.group(0) if status_match else None
    subject = header_text(message, "Subject") or ""
    if status:
        kind: BounceKind = "transient" if status.startswith("4.") else "permanent"
    else:
        reply = _SMTP_REPLY.search(explanation)
        if reply:
            kind = "transient" if reply.group(1) == "4" else "permanent"
        else:
            kind = "transient" if _TRANSIENT_SUBJECT.search(subject) else "permanent"
    recipient_match = _RECIPIENT_IN_TEXT.search(explanation)
    diagnostic_lines = [line.strip() for line in explanation.splitlines()
                        if _ENHANCED_STATUS.search(line) or _SMTP_REPLY.search(line)]
    diagnostic = " ".join(diagnostic_lines)[:500] or subject[:200]
    return Bounce(kind=kind, is_standard=False,
                  recipient=recipient_match.group(1).lower() if recipient_match else None,
                  status=status, action=None, diagnostic=diagnostic,
                  original_message_id=_original_message_id(message))


def read_bounce(message: EmailMessage) -> Bounce | None:
    """The bounce this message reports, or None when it is not a bounce."""
    content_type = message.get_content_type()
    if content_type == "multipart/report":
        report_type = str(message.get_param("report-type", "", header="content-type")).lower()
        if report_type == "delivery-status":
            standard = _standard(message)
            if standard is not None:
                return standard
    return _non_standard(message)


@dataclass(frozen=True)
class Complaint:
    """A feedback report (ARF) about one of our emails."""

    feedback_type: str  # lower-case; "abuse" when the report names none
    recipient: str | None  # Original-Rcpt-To (providers often redact it)
    reporter: str | None  # Reporting-MTA, else the report's sender
    user_agent: str | None
    original_message_id: str | None

    @property
    def is_complaint(self) -> bool:
        return self.feedback_type in COMPLAINT_FEEDBACK_TYPES

    def describe(self) -> str:
        parts = [f"feedback-type {self.feedback_type}"]
        if self.recipient:
            parts.append(f"recipient {self.recipient}")
        if self.reporter:
            parts.append(f"reported by {self.reporter}")
        if self.user_agent:
            parts.append(self.user_agent)
        return "; ".join(parts)[:1000]


def _feedback_fields(message: EmailMessage) -> Message | None:
    """The header block of the message/feedback-report part."""
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        if isinstance(payload, str):
            return HeaderParser().parsestr(payload)
    return None


def read_complaint(message: EmailMessage) -> Complaint | None:
    """The complaint (or other feedback report) this message carries, or None when it is no
    feedback report."""
    if message.get_content_type() != "multipart/report":
        return None
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if report_type != "feedback-report":
        return None
    fields = _feedback_fields(message)

    def field(name: str) -> str | None:
        value = fields.get(name) if fields is not None else None
        text = " ".join(str(value).split()) if value is not None else ""
        return text or None

    reporter = field("Reporting-MTA")
    if reporter and ";" in reporter:
        reporter = reporter.split(";", 1)[1].strip() or None
    return Complaint(feedback_type=(field("Feedback-Type") or "abuse").lower(),
                     recipient=_address_of(field("Original-Rcpt-To")
                                           or field("Removal-Recipient")),
                     reporter=reporter or sender_address(message),
                     user_agent=field("User-Agent"),
                     original_message_id=_original_message_id(message))
