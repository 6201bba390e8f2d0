"""The IMAP poller: email replies, bounces and complaints from the replies mailbox into the

`poll_mailbox(engine, settings, limit=...)` logs in (IMAP over TLS, STARTTLS, or plain on a
loopback host for tests), SELECTs the folder, compares its UIDVALIDITY with the
`mailbox_cursors` row of (account, folder) -- a changed UIDVALIDITY means the server rebuilt
the folder, so the cursor restarts at 0 and the Message-ID catches the messages already
stored -- then `UID SEARCH UID <last+1>:*` (the answer may contain the last UID again when
nothing is newer: UIDs at or below the cursor are ignored), `UID FETCH (BODY.PEEK[]
INTERNALDATE)` in batches, and for each message, in UID order:

1. **Bounce** (`outreach.replies.bounces.read_bounce`, before anything else: bounces carry
   `Auto-Submitted` too). The original Message-ID (or, failing that, the failed recipient)
   finds our outbound email. Permanent (5.x.x): the message goes to status `bounced` with a
   `MessageEvent` (source `imap`), the address gets an email suppression with reason
   `bounce`, and the message's enrollment stops (reason `bounce`), as a 5xx at send time
   does. Transient (4.x.x, `Action: delayed`): an event only. Delivery notices
   (`delivered`, `relayed`) and bounces of mail we cannot find are written to `audit_log`.
   The bounce report itself is not stored as an inbound message.
   A **complaint** (a feedback-loop report, RFC 5965 ARF, `bounces.read_complaint`) is read
   first: its original Message-ID (or the reported recipient) finds our outbound email as
   for a bounce, and the complaint goes through the opt-out path
   (`inbound.apply_opt_out` with `actions.EMAIL_COMPLAINT`): that address is suppressed for
   email with reason `complaint`, the person's pending emails are cancelled, and the email
   gets a `complained` event (source `imap`, naming the report). Reports that are no
   complaint (`not-spam`, `auth-failure`) and complaints about mail we cannot find go to
   `audit_log`; reports are never stored as inbound messages.
2. **Unreadable**: no sender address can be read: written to `audit_log` with the UID and
   skipped.
3. **Reply or auto-reply**: the new text (`email_parsing.new_text`) is handed to
   `outreach.replies.inbound.receive_inbound` (threaded by In-Reply-To, then References;
   unknown senders are stored with no owner; opt-outs are honoured in that transaction).
   A new reply is then processed (`process_inbound`: classify, decide, answer). An automatic
   reply (`email_parsing.auto_reply_reason`: vacation notices, autoresponders, bulk) is
   stored the same way but is NOT a seller's answer: it is marked processed with decision
   `ignored_auto_reply` (classification `{"auto_reply": reason}`), so it makes no decision,
   stops no drip and moves no lead. A processing error leaves the stored row for the
   `process_pending` sweep.

The cursor moves past a message only once it is stored: a crash re-reads it and the
Message-ID (idempotency key `in:imap:<Message-ID>`; a message without one gets a synthetic id
from the hash of its bytes) makes the second read a duplicate. A failure on one message is
logged with its UID, written to `audit_log` and skipped; only when even that write fails
(the ledger is down) does the poll stop, leaving the cursor before that message. Mail is
never deleted; `WHOLESALER_IMAP_MARK_SEEN=true` flags processed messages `\\Seen`.

Settings (`imap_settings()`; none when `WHOLESALER_IMAP_HOST` is unset):
`WHOLESALER_IMAP_HOST`, `_PORT` (default 993 for `ssl`, else 143), `_USER`, `_PASSWORD`,
`_FOLDER` (default INBOX), `_SSL` (`ssl` | `starttls` | `plain`; plain only on a loopback
host), `_MARK_SEEN` (default false), `_TIMEOUT_SECONDS` (default 30), `_BATCH_SIZE`
(default 50), `_POLL_LIMIT` (messages per poll, default 200).
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import os
import re
import ssl
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from sqlalchemy import Engine, select

from outreach.ledger.db import ledger_session
from outreach.ledger.models import (
    AuditEntry,
    Contact,
    Enrollment,
    MailboxCursor,
    Message,
    MessageEvent,
    Suppression,
)
from outreach.replies.bounces import Bounce, Complaint, read_bounce, read_complaint
from outreach.replies.email_parsing import (
    auto_reply_reason,
    header_text,
    internaldate_of,
    message_id_of,
    new_text,
    parse_email,
    received_at_of,
    recipient_address,
    references_chain,
    sender_address,
    thread_references,
)

if TYPE_CHECKING:
    from outreach.replies.classify import ReplyClassifier
    from outreach.sending import Channels

log = logging.getLogger(__name__)

ACTOR = "outreach.replies.mailbox"
EVENT_SOURCE = "imap"
AUTO_REPLY_DECISION = "ignored_auto_reply"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
_UID = re.compile(rb"UID (\d+)")


class ImapSettingsError(ValueError):
    """An IMAP variable holds a value that cannot be used; names the variable."""


class ImapError(RuntimeError):
    """The mailbox cannot be read (connection, login, SELECT, SEARCH or FETCH refused)."""


class ImapSettings(BaseModel):
    """Field names are the environment variables, lower-cased (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_imap_host: str = Field(min_length=1)
    wholesaler_imap_port: int | None = Field(default=None, ge=1, le=65535)
    wholesaler_imap_user: str = Field(min_length=1)
    wholesaler_imap_password: SecretStr
    wholesaler_imap_folder: str = Field(default="INBOX", min_length=1)
    wholesaler_imap_ssl: Literal["ssl", "starttls", "plain"] = "ssl"
    wholesaler_imap_mark_seen: bool = False
    wholesaler_imap_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    wholesaler_imap_batch_size: int = Field(default=50, ge=1, le=1000)
    wholesaler_imap_poll_limit: int = Field(default=200, ge=1, le=100_000)

    @model_validator(mode="after")
    def _plain_only_on_loopback(self) -> ImapSettings:
        if self.wholesaler_imap_ssl == "plain" and not _is_loopback(self.wholesaler_imap_host):
            raise ValueError("plain IMAP (no TLS) is only allowed on a loopback host; use ssl "
                             "or starttls")
        return self

    @property
    def port(self) -> int:
        if self.wholesaler_imap_port is not None:
            return self.wholesaler_imap_port
        return 993 if self.wholesaler_imap_ssl == "ssl" else 143

    @property
    def account(self) -> str:
        """The mailbox_cursors account key (no password)."""
        return f"imap://{self.wholesaler_imap_user}@{self.wholesaler_imap_host}:{self.port}"


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def imap_settings(environ: Mapping[str, str] | None = None) -> ImapSettings | None:
    """IMAP settings from `environ` (default: the process environment), or None when
    `WHOLESALER_IMAP_HOST` is unset or empty (no mailbox to poll). Raises
    `ImapSettingsError` naming each bad variable."""
    source = os.environ if environ is None else environ
    values = {name.lower(): value.strip() for name, value in source.items()
              if name.lower() in ImapSettings.model_fields and value.strip()}
    if "wholesaler_imap_host" not in values:
        return None
    try:
        return ImapSettings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{str(problem['loc'][0]).upper() if problem['loc'] else 'WHOLESALER_IMAP_SSL'}: "
            f"{problem['msg']}" for problem in error.errors())
        raise ImapSettingsError(f"IMAP settings (environment): {problems}") from None


# ------------------------------------------------------------------------------------------
# The report


@dataclass
class PollReport:
    account: str
    folder: str
    uid_validity: int = 0
    uid_validity_changed: bool = False
    last_uid: int = 0
    fetched: int = 0
    replies: int = 0
    duplicates: int = 0
    unknown_senders: int = 0
    auto_replies: int = 0
    bounces_permanent: int = 0
    bounces_transient: int = 0
    bounce_notices: int = 0
    bounces_unmatched: int = 0
    complaints: int = 0
    complaints_unmatched: int = 0
    feedback_notices: int = 0
    unreadable: int = 0
    failed: int = 0
    processed: int = 0
    process_errors: int = 0
    more_waiting: bool = False
    stopped_early: str | None = None
    decisions: Counter[str] = field(default_factory=Counter)
    failed_uids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decisions"] = dict(self.decisions)
        return data


# ------------------------------------------------------------------------------------------
# The connection


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, Any], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise ImapError(f"IMAP {what} refused: {status} {data!r}")
    return list(data or [])


@contextmanager
def imap_connection(settings: ImapSettings) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection; logs out at the end."""
    host, port = settings.wholesaler_imap_host, settings.port
    timeout = settings.wholesaler_imap_timeout_seconds
    try:
        connection: imaplib.IMAP4
        if settings.wholesaler_imap_ssl == "ssl":
            connection = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                           timeout=timeout)
        else:
            connection = imaplib.IMAP4(host, port, timeout=timeout)
            if settings.wholesaler_imap_ssl == "starttls":
                connection.starttls(ssl_context=ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as error:
        raise ImapError(f"cannot connect to IMAP {host}:{port} "
                        f"({settings.wholesaler_imap_ssl}): {error}") from error
    try:
        try:
            connection.login(settings.wholesaler_imap_user,
                             settings.wholesaler_imap_password.get_secret_value())
        except imaplib.IMAP4.error as error:
            raise ImapError(f"IMAP login as {settings.wholesaler_imap_user} on {host} "
                            f"refused: {error}") from error
        yield connection
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            connection.logout()


def _uid_validity(connection: imaplib.IMAP4, folder: str) -> int:
    _status, data = connection.response("UIDVALIDITY")
    values = [item for item in data or [] if item]
    if not values:
        answer = _check(connection.status(_quote(folder), "(UIDVALIDITY)"), "STATUS")
        found = re.search(rb"UIDVALIDITY (\d+)", answer[0] if answer else b"")
        if found is None:
            raise ImapError(f"the server gave no UIDVALIDITY for {folder!r}")
        return int(found.group(1))
    value = values[0]
    return int(value.decode() if isinstance(value, bytes) else value)


def _fetch(connection: imaplib.IMAP4, uids: list[int]) -> dict[int, tuple[bytes, bytes]]:
    """uid -> (the FETCH response line, the message bytes)."""
    answer = _check(connection.uid("FETCH", ",".join(str(uid) for uid in uids),
                                   "(UID INTERNALDATE BODY.PEEK[])"), "UID FETCH")
    found: dict[int, tuple[bytes, bytes]] = {}
    for item in answer:
        if not isinstance(item, tuple) or len(item) < 2:
            continue
        line, body = item[0], item[1]
        uid = _UID.search(line)
        if uid is not None and isinstance(body, bytes):
            found[int(uid.group(1))] = (line, body)
    return found


# ------------------------------------------------------------------------------------------
# The cursor (UIDs and UIDVALIDITY are unsigned 32-bit, kept in BIGINT columns)


def _load_cursor(engine: Engine, account: str, folder: str,
                 uid_validity: int) -> tuple[int, bool]:
    """(last UID processed, whether UIDVALIDITY changed); creates or resets the row."""
    with ledger_session(engine) as session:
        row = session.scalar(select(MailboxCursor).where(MailboxCursor.account == account,
                                                         MailboxCursor.folder == folder))
        if row is None:
            session.add(MailboxCursor(account=account, folder=folder,
                                      uid_validity=uid_validity, last_uid=0))
            return 0, False
        if row.uid_validity != uid_validity:
            session.add(AuditEntry(actor=ACTOR, action="imap_uidvalidity_changed",
                                   entity_type="mailbox_cursor",
                                   entity_id=str(row.mailbox_cursor_id),
                                   detail={"folder": folder,
                                           "old": row.uid_validity,
                                           "new": uid_validity,
                                           "old_last_uid": row.last_uid}))
            row.uid_validity = uid_validity
            row.last_uid = 0
            return 0, True
        return row.last_uid, False


def _advance_cursor(engine: Engine, account: str, folder: str, uid_validity: int,
                    uid: int) -> None:
    with ledger_session(engine) as session:
        row = session.scalar(select(MailboxCursor).where(MailboxCursor.account == account,
                                                         MailboxCursor.folder == folder))
        if row is None or row.uid_validity != uid_validity:
            return  # another poller reset it meanwhile: leave its state alone
        if row.last_uid < uid:
            row.last_uid = uid


# ------------------------------------------------------------------------------------------
# One message


@dataclass
class _Context:
    engine: Engine
    settings: ImapSettings
    folder: str
    uid_validity: int
    now: datetime
    given_classifier: ReplyClassifier | None
    channels: Channels | None
    process: bool

    def classifier(self) -> ReplyClassifier:
        """The caller's classifier, else one built from the reply settings on first use (once
        per poll: it may load a sentiment model)."""
        if self.given_classifier is None:
            from outreach.replies.classify import ReplyClassifier

            self.given_classifier = ReplyClassifier.from_settings()
        return self.given_classifier


def _audit(engine: Engine, action: str, ctx: _Context, uid: int,
           detail: dict[str, Any]) -> None:
    with ledger_session(engine) as session:
        session.add(AuditEntry(actor=ACTOR, action=action, entity_type="imap_message",
                               entity_id=f"{ctx.folder}:{ctx.uid_validity}:{uid}"[:100],
                               detail={"account": ctx.settings.account, **detail}))


def _find_outbound(engine: Engine, original_message_id: str | None,
                   recipient: str | None) -> int | None:
    """Our outbound email a bounce or complaint is about: by the original Message-ID, else
    the newest outbound email to the recipient it names."""
    from outreach.ledger.pii import current_keyring

    with ledger_session(engine) as session:
        if original_message_id:
            bare = original_message_id.strip("<>")
            found = session.scalar(select(Message.message_id).where(
                Message.direction == "outbound", Message.channel == "email",
                Message.provider_message_id.in_([f"<{bare}>", bare]))
                .order_by(Message.message_id.desc()).limit(1))
            if found is not None:
                return found
        if recipient:
            hashes = {current_keyring().lookup_hash("email", form)
                      for form in (recipient, recipient.lower())}
            return session.scalar(select(Message.message_id).where(
                Message.direction == "outbound", Message.channel == "email",
                Message.counterpart_hash.in_(hashes), Message.sent_at.is_not(None))
                .order_by(Message.sent_at.desc(), Message.message_id.desc()).limit(1))
    return None


def _apply_bounce(ctx: _Context, uid: int, bounce_id: str, bounce: Bounce,
                  report: PollReport) -> None:
    if bounce.kind == "notice":
        report.bounce_notices += 1
        _audit(ctx.engine, "imap_delivery_notice", ctx, uid,
               {"message_id": bounce_id, "bounce": bounce.describe()})
        return
    outbound_id = _find_outbound(ctx.engine, bounce.original_message_id, bounce.recipient)
    if outbound_id is None:
        report.bounces_unmatched += 1
        _audit(ctx.engine, "imap_bounce_unmatched", ctx, uid,
               {"message_id": bounce_id, "original_message_id": bounce.original_message_id,
                "bounce": bounce.describe()})
        return
    marker = f"bounce {bounce_id}"
    with ledger_session(ctx.engine) as session:
        message = session.get(Message, outbound_id)
        if message is None:  # found above; ledger rows are never deleted
            return
        seen = session.scalar(select(MessageEvent.message_event_id).where(
            MessageEvent.message_id == outbound_id, MessageEvent.source == EVENT_SOURCE,
            MessageEvent.detail.startswith(marker)).limit(1))
        if seen is not None:  # a re-read of the same report
            report.duplicates += 1
            return
        code = f"dsn_{bounce.status}" if bounce.status else "dsn"
        detail = f"{marker}: {bounce.describe()}"[:2000]
        if not bounce.is_permanent:
            report.bounces_transient += 1
            session.add(MessageEvent(message_id=outbound_id, status="deferred",
                                     source=EVENT_SOURCE, error_code=code, detail=detail,
                                     at=ctx.now))
            return
        report.bounces_permanent += 1
        message.status = "bounced"
        message.error_code = code
        message.error_message = bounce.describe()
        session.add(MessageEvent(message_id=outbound_id, status="bounced", source=EVENT_SOURCE,
                                 error_code=code, detail=detail, at=ctx.now))
        if message.contact_id is not None:
            contact = session.get(Contact, message.contact_id)
            active = contact is not None and session.scalar(
                select(Suppression.suppression_id).where(
                    Suppression.value_hash == contact.value_hash,
                    Suppression.reason == "bounce", Suppression.channel.in_(("email", "all")),
                    Suppression.lifted_at.is_(None)).limit(1))
            if not active:
                from outreach.compliance.store import record_suppression

                record_suppression(session, "email", "bounce", contact_id=message.contact_id,
                                   detail=f"bounce report {bounce_id}: {bounce.describe()}",
                                   message_id=outbound_id, created_at=ctx.now)
        if message.enrollment_id is not None:
            from outreach.sending import stop_enrollment

            stop_enrollment(session.get(Enrollment, message.enrollment_id), "bounce")


def _apply_complaint(ctx: _Context, uid: int, report_id: str, complaint: Complaint,
                     report: PollReport) -> None:
    """A feedback report: a complaint about our email is an opt-out of that address, recorded
    by the opt-out path (`inbound.apply_opt_out`, scope `actions.EMAIL_COMPLAINT`); anything
    else is noted in `audit_log`."""
    from outreach.replies.actions import EMAIL_COMPLAINT
    from outreach.replies.inbound import apply_opt_out
    from outreach.replies.opt_out import OptOutResult

    if not complaint.is_complaint:
        report.feedback_notices += 1
        _audit(ctx.engine, "imap_feedback_report", ctx, uid,
               {"message_id": report_id, "original_message_id": complaint.original_message_id,
                "report": complaint.describe()})
        return
    outbound_id = _find_outbound(ctx.engine, complaint.original_message_id,
                                 complaint.recipient)
    if outbound_id is None:
        report.complaints_unmatched += 1
        _audit(ctx.engine, "imap_complaint_unmatched", ctx, uid,
               {"message_id": report_id, "original_message_id": complaint.original_message_id,
                "report": complaint.describe()})
        return
    rule = f"feedback report {report_id}"  # in the event's detail: a re-read is recognised
    with ledger_session(ctx.engine) as session:
        message = session.get(Message, outbound_id)
        if message is None or message.counterpart_hash is None:  # no person's address
            return
        seen = session.scalar(select(MessageEvent.message_event_id).where(
            MessageEvent.message_id == outbound_id,
            MessageEvent.status == EMAIL_COMPLAINT.event_status,
            MessageEvent.detail.contains(f"rule {rule} matched", autoescape=True)).limit(1))
        if seen is not None:  # a re-read of the same report
            report.duplicates += 1
            return
        report.complaints += 1
        apply_opt_out(session, message, OptOutResult("opt_out", complaint.describe(), rule),
                      ctx.now, scope=EMAIL_COMPLAINT)


def _mark_auto_reply(engine: Engine, message_id: int, reason: str, at: datetime) -> None:
    with ledger_session(engine) as session:
        row = session.get(Message, message_id)
        if row is None or row.processed_at is not None:
            return
        row.classification = {"auto_reply": reason}
        row.decision = AUTO_REPLY_DECISION
        row.processed_at = at
        session.add(MessageEvent(message_id=message_id, status=AUTO_REPLY_DECISION,
                                 source=EVENT_SOURCE,
                                 detail=f"automatic reply ({reason}): not a seller's answer",
                                 at=at))


def _handle(ctx: _Context, uid: int, line: bytes, raw: bytes, report: PollReport) -> None:
    from outreach.replies.inbound import InboundMessage, process_inbound, receive_inbound

    message: EmailMessage = parse_email(raw)
    provider_id = message_id_of(message, raw)
    complaint = read_complaint(message)
    if complaint is not None:
        _apply_complaint(ctx, uid, provider_id, complaint, report)
        return
    bounce = read_bounce(message)
    if bounce is not None:
        _apply_bounce(ctx, uid, provider_id, bounce, report)
        return
    sender = sender_address(message)
    if sender is None:
        report.unreadable += 1
        _audit(ctx.engine, "imap_message_unreadable", ctx, uid,
               {"message_id": provider_id, "reason": "no sender address",
                "defects": [type(defect).__name__ for defect in message.defects][:20]})
        log.warning("IMAP %s UID %s: no sender address; recorded and skipped", ctx.folder, uid)
        return
    auto = auto_reply_reason(message)
    received_at = received_at_of(message, internaldate_of(line), ctx.now)
    receipt = receive_inbound(ctx.engine, InboundMessage(
        channel="email", provider="imap", provider_message_id=provider_id,
        from_address=sender, to_address=recipient_address(message), body=new_text(message),
        received_at=received_at, subject=header_text(message, "Subject"),
        in_reply_to=thread_references(message), references=references_chain(message)))
    if auto is not None:  # marked processed again on a re-read: a crash may have come between
        _mark_auto_reply(ctx.engine, receipt.message_id, auto, ctx.now)
    if receipt.is_duplicate:
        report.duplicates += 1
        return
    if receipt.owner_id is None:
        report.unknown_senders += 1
    if auto is not None:
        report.auto_replies += 1
        return
    report.replies += 1
    if not ctx.process:
        return
    try:
        decision = process_inbound(ctx.engine, receipt.message_id, classifier=ctx.classifier(),
                                   channels=ctx.channels, now=ctx.now)
    except Exception as error:  # stored: the process_pending sweep takes it up again
        report.process_errors += 1
        log.exception("IMAP %s UID %s: stored as message %s, processing failed (%s); left "
                      "for the sweep", ctx.folder, uid, receipt.message_id, error)
        return
    report.processed += 1
    report.decisions[decision] += 1


# ------------------------------------------------------------------------------------------
# The poll


def poll_mailbox(engine: Engine, settings: ImapSettings, *, limit: int | None = None,
                 classifier: ReplyClassifier | None = None, channels: Channels | None = None,
                 now: datetime | None = None, process: bool = True) -> PollReport:
    """Read the messages newer than the folder's cursor (at most `limit`, default
    `WHOLESALER_IMAP_POLL_LIMIT`) into the ledger (module docstring). Raises `ImapError` when
    the mailbox cannot be read; a single bad message never raises."""
    now = now or datetime.now(UTC)
    limit = limit if limit is not None else settings.wholesaler_imap_poll_limit
    folder = settings.wholesaler_imap_folder
    report = PollReport(account=settings.account, folder=folder)
    with imap_connection(settings) as connection:
        _check(connection.select(_quote(folder), readonly=not settings.wholesaler_imap_mark_seen),
               f"SELECT {folder}")
        uid_validity = _uid_validity(connection, folder)
        last_uid, changed = _load_cursor(engine, settings.account, folder, uid_validity)
        report.uid_validity, report.uid_validity_changed = uid_validity, changed
        report.last_uid = last_uid
        found = _check(connection.uid("SEARCH", "UID", f"{last_uid + 1}:*"), "UID SEARCH")
        uids = sorted({int(token) for chunk in found if chunk
                       for token in (chunk.split() if isinstance(chunk, bytes) else [])
                       if int(token) > last_uid})
        report.more_waiting = len(uids) > limit
        uids = uids[:limit]
        ctx = _Context(engine, settings, folder, uid_validity, now, classifier, channels,
                       process)
        size = settings.wholesaler_imap_batch_size
        for start in range(0, len(uids), size):
            batch = uids[start:start + size]
            fetched = _fetch(connection, batch)
            for uid in batch:
                if uid not in fetched:  # expunged meanwhile
                    _advance_cursor(engine, settings.account, folder, uid_validity, uid)
                    continue
                report.fetched += 1
                line, raw = fetched[uid]
                try:
                    _handle(ctx, uid, line, raw, report)
                except Exception as error:
                    log.exception("IMAP %s UID %s: failed (%s); recording and skipping",
                                  folder, uid, error)
                    try:
                        _audit(engine, "imap_message_failed", ctx, uid,
                               {"error": f"{type(error).__name__}: {error}"[:1000]})
                    except Exception as audit_error:
                        report.stopped_early = (f"UID {uid}: {error}; and the failure could "
                                                f"not be recorded: {audit_error}")
                        log.error("IMAP poll stopped at UID %s: %s", uid, report.stopped_early)
                        return report
                    report.failed += 1
                    report.failed_uids.append(uid)
                _advance_cursor(engine, settings.account, folder, uid_validity, uid)
                report.last_uid = uid
                if settings.wholesaler_imap_mark_seen:
                    try:
                        connection.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
                    except imaplib.IMAP4.error as error:
                        log.warning("IMAP %s UID %s: cannot flag \\Seen: %s", folder, uid,
                                    error)
    return report
