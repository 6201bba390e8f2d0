"""Inbound replies into the ledger, opt-out first, then the decision (issue 6).

The Twilio webhook and the IMAP poller hand each message to `receive_inbound`; a sweep (or
the caller right after) runs `process_inbound` / `process_pending`.

- `receive_inbound(engine, InboundMessage) -> InboundReceipt`: ONE transaction. Idempotent on
  the provider's message id (Twilio MessageSid, the email's Message-ID; the ledger row's
  unique idempotency key is `in:<provider>:<id>`, so two deliveries racing each other still
  store one row). The sender is matched by the keyed lookup hash of the normalised number or
  address: for email first the outbound message named in In-Reply-To / References, then our
  most recent outbound message to that hash, then a contact with that hash. Unknown senders
  are stored with no owner, never dropped. The deterministic opt-out detector
  (`opt_out.detect_opt_out`, Twilio's OptOutType STOP honoured) runs in the same
  transaction: an opt-out is recorded (`actions.record_opt_out`: the person on every channel
  and the number or address under every owner), every drip of the person stopped, their
  pending touches cancelled and the lead moved to `opted_out` before the transaction
  commits. No model is involved and nothing switches it off; a crash after the commit cannot
  lose the opt-out, a crash before it loses the whole row (the provider retries delivery).
- `process_inbound(engine, message_id, classifier=..., channels=..., now=...) -> str`:
  classifies (`ReplyClassifier`), decides (`decisions.decide`), applies the decision and
  sends at most one reply (`respond`), then stores classification, decision and
  `processed_at`. Safe to run again: a processed row is left alone, replies carry
  idempotency keys.
- `process_pending(...)`: every received row not processed yet (oldest first), e.g. after a
  crash between receive and process; then retries replies deferred by quiet hours.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Enrollment, Message, MessageEvent, Suppression
from outreach.ledger.pii import current_keyring
from outreach.replies import actions
from outreach.replies.opt_out import OptOutResult, detect_opt_out

if TYPE_CHECKING:
    from outreach.replies.classify import ReplyClassifier
    from outreach.sending import Channels

log = logging.getLogger(__name__)

CHANNELS = ("sms", "email")
# Outbound rows that are not a conversation with the seller (a notice to our closer).
NOT_SELLER_PURPOSES = ("handoff_notice",)


@dataclass(frozen=True)
class InboundMessage:
    """One message a person sent us, as the webhook or the mail poller read it."""

    channel: str  # "sms" | "email"
    provider: str  # "twilio" | "imap"
    provider_message_id: str  # Twilio MessageSid, or the email's Message-ID header
    from_address: str  # E.164 phone or email address (normalised here)
    to_address: str | None
    body: str  # reply text (for email: the new text, quotes stripped by the caller)
    received_at: datetime  # aware UTC
    subject: str | None = None
    opt_out_type: str | None = None  # Twilio OptOutType: "STOP" | "START" | "HELP"
    in_reply_to: tuple[str, ...] = ()  # email In-Reply-To + References (our outbound ids)
    # email: the thread it continues, oldest first (References, else In-Reply-To); stored in
    # `messages.email_references` so our answer carries In-Reply-To and References
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundReceipt:
    message_id: int
    is_duplicate: bool
    owner_id: int | None
    opted_out: bool


class InboundError(ValueError):
    """The message cannot be stored as given (unknown channel, naive time, no id)."""


# ------------------------------------------------------------------------------------------
# Normalising and matching the sender


def normalise_sender(channel: str, address: str) -> tuple[str, tuple[str, ...]]:
    """(the normalised address, its lookup hashes, preferred first). Phones: E.164 (a number
    that is not a valid +1 number is kept as sent, digits only). Emails: the address as the
    contacts side normalises it (domain lower-cased, local part kept), plus the all
    lower-case form (most mailboxes ignore case, and imports differ)."""
    keyring = current_keyring()
    if channel == "sms":
        from outreach.compliance.window import InvalidPhoneError, normalise_phone

        text = address.strip()
        try:
            e164, _ = normalise_phone(text)
        except InvalidPhoneError:
            digits = "".join(char for char in text if char.isdigit())
            e164 = f"+{digits}" if digits else text
        return e164, (keyring.lookup_hash("phone", e164),)
    _, parsed = parseaddr(address)
    text = (parsed or address).strip()
    from contacts.emails import check_email

    checked = check_email(text)
    normalised = checked.normalized or text.lower()
    forms = dict.fromkeys((normalised, normalised.lower()))
    return normalised, tuple(keyring.lookup_hash("email", form) for form in forms)


def _message_ids(values: Sequence[str]) -> list[str]:
    """Message-IDs as sent and with/without angle brackets (headers differ in that)."""
    found: dict[str, None] = {}
    for value in values:
        for token in value.split():
            token = token.strip().strip(",")
            if not token:
                continue
            bare = token.strip("<>")
            for form in (token, bare, f"<{bare}>"):
                found[form] = None
    return list(found)


def _thread(session: Session, message: InboundMessage,
            hashes: tuple[str, ...]) -> Message | None:
    """The outbound message this reply answers: for email, the one named in In-Reply-To /
    References (newest first); else our newest outbound message to the sender."""
    seller = or_(Message.purpose.is_(None), Message.purpose.not_in(NOT_SELLER_PURPOSES))
    if message.in_reply_to:
        ids = _message_ids(message.in_reply_to)
        found = session.scalar(select(Message).where(
            Message.direction == "outbound", Message.provider_message_id.in_(ids), seller)
            .order_by(Message.message_id.desc()).limit(1))
        if found is not None:
            return found
    return session.scalar(select(Message).where(
        Message.direction == "outbound", Message.counterpart_hash.in_(hashes),
        Message.owner_id.is_not(None), seller)
        .order_by(Message.created_at.desc(), Message.message_id.desc()).limit(1))


def _match_contact(session: Session, channel: str, hashes: tuple[str, ...],
                   owner_id: int | None) -> Contact | None:
    """A contact with the sender's hash: of `owner_id` when given; else, of any owner, the
    one with an active drip first, then the most confident, then the newest."""
    kind = "phone" if channel == "sms" else "email"
    query = select(Contact).where(Contact.channel == kind, Contact.value_hash.in_(hashes))
    if owner_id is not None:
        return session.scalar(query.where(Contact.owner_id == owner_id)
                              .order_by(Contact.confidence.desc(), Contact.contact_id).limit(1))
    active = (select(Enrollment.enrollment_id)
              .where(Enrollment.owner_id == Contact.owner_id,
                     Enrollment.status.in_(actions.STOPPABLE_STATUSES))
              .exists())
    return session.scalar(query.order_by(active.desc(), Contact.confidence.desc(),
                                         Contact.contact_id.desc()).limit(1))


def _idempotency_key(provider: str, provider_message_id: str) -> str:
    key = f"in:{provider}:{provider_message_id}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(provider_message_id.encode()).hexdigest()
    return f"in:{provider}:sha256:{digest}"


def _validate(message: InboundMessage) -> None:
    if message.channel not in CHANNELS:
        raise InboundError(f"channel must be sms or email, not {message.channel!r}")
    if not message.provider_message_id.strip():
        raise InboundError("an inbound message needs the provider's message id")
    if message.received_at.tzinfo is None or message.received_at.utcoffset() is None:
        raise InboundError("received_at must be an aware datetime")
    if not message.from_address.strip():
        raise InboundError("an inbound message needs the sender's address")


def detect(message: InboundMessage) -> OptOutResult:
    """The deterministic opt-out path on the reply (for email, the subject too: an
    "unsubscribe" subject over an empty body is an opt-out)."""
    result = detect_opt_out(message.body or "", message.opt_out_type)
    if result.kind == "none" and message.channel == "email" and message.subject:
        subject = message.subject.strip()
        for prefix in ("re:", "aw:", "fwd:", "fw:"):
            if subject.lower().startswith(prefix):
                subject = subject[len(prefix):].strip()
        from_subject = detect_opt_out(subject)
        if from_subject.is_opt_out:
            return from_subject
    return result


# ------------------------------------------------------------------------------------------
# Receive


def _existing(session: Session, key: str) -> Message | None:
    return session.scalar(select(Message).where(Message.idempotency_key == key))


def _receipt_of(session: Session, row: Message, duplicate: bool) -> InboundReceipt:
    opted = session.scalar(select(Suppression.suppression_id).where(
        Suppression.message_id == row.message_id, Suppression.reason == "opt_out").limit(1))
    return InboundReceipt(row.message_id, duplicate, row.owner_id, opted is not None)


def receive_inbound(engine: Engine, message: InboundMessage) -> InboundReceipt:
    """Store one inbound message and honour an opt-out in it, in one transaction (module
    docstring). A duplicate delivery returns the stored row and changes nothing."""
    _validate(message)
    key = _idempotency_key(message.provider, message.provider_message_id)
    try:
        with ledger_session(engine) as session:
            existing = _existing(session, key)
            if existing is not None:
                return _receipt_of(session, existing, True)
            return _store(session, message, key)
    except IntegrityError:
        # Another delivery of the same message committed first.
        with ledger_session(engine) as session:
            existing = _existing(session, key)
            if existing is None:
                raise
            return _receipt_of(session, existing, True)


def _store(session: Session, message: InboundMessage, key: str) -> InboundReceipt:
    at = message.received_at.astimezone(UTC)
    normalised, hashes = normalise_sender(message.channel, message.from_address)
    thread = _thread(session, message, hashes)
    owner_id = thread.owner_id if thread is not None else None
    contact = None
    if thread is not None and thread.contact_id is not None \
            and thread.counterpart_hash in hashes:
        contact = session.get(Contact, thread.contact_id)
    if contact is None:
        contact = _match_contact(session, message.channel, hashes, owner_id)
    if owner_id is None and contact is not None:
        owner_id = contact.owner_id
    row = Message(direction="inbound", channel=message.channel, idempotency_key=key,
                  owner_id=owner_id, contact_id=contact.contact_id if contact else None,
                  counterpart=normalised,
                  counterpart_hash=contact.value_hash if contact else hashes[0],
                  subject=message.subject, body=message.body, provider=message.provider,
                  provider_message_id=message.provider_message_id, status="received",
                  in_reply_to_id=thread.message_id if thread is not None else None,
                  email_references=" ".join(message.references) or None,
                  created_at=at)
    session.add(row)
    session.flush()
    matched = ("unknown sender" if owner_id is None else
               f"owner {owner_id}" + (f", contact {contact.contact_id}" if contact else "")
               + (f", answers message {thread.message_id}" if thread is not None else ""))
    session.add(MessageEvent(message_id=row.message_id, status="received",
                             source=message.provider[:30],
                             detail=f"received from {message.provider}: {matched}", at=at))
    result = detect(message)
    opted_out = False
    if result.is_opt_out:
        opted_out = apply_opt_out(session, row, result, at)
    # What the receive step knew; `process_inbound` replaces it with the full classification.
    row.classification = {"stage": "received", "opt_out_type": message.opt_out_type,
                          "opt_out_detail": result.as_dict(), "opt_out_recorded": opted_out}
    return InboundReceipt(row.message_id, False, owner_id, opted_out)


def apply_opt_out(session: Session, row: Message, result: OptOutResult, at: datetime, *,
                  scope: actions.OptOutScope = actions.REPLY_OPT_OUT) -> bool:
    """Record the opt-out carried by `row` and stop what `scope` says. A reply's opt-out
    (default; `row` the inbound reply) stops everything for the person: the suppression,
    every drip (reason opt_out), every pending outbound message, the lead status and the
    conversation state. A feedback-loop complaint (`actions.EMAIL_COMPLAINT`; `row` the
    outbound email complained about) suppresses that address for email and, as the email's
    unsubscribe link does, stops every drip, cancels the pending messages and marks the lead
    `opted_out`. Returns True when a new suppression was recorded (False: one
    was already in force)."""
    what = (f"{row.channel} reply" if scope.whole_person
            else f"{scope.reason} about message {row.message_id}")
    detail = f"{what}: rule {result.rule} matched {result.matched!r}"
    suppression = actions.record_opt_out(session, row, detail, at, channel=scope.channel,
                                         reason=scope.reason)
    if row.owner_id is not None and scope.whole_person:
        actions.stop_drips(session, row.owner_id, "opt_out")
        actions.cancel_pending(session, row.owner_id, at,
                               f"opt-out in message {row.message_id}",
                               keep_purposes=("opt_out_confirmation", "handoff_notice"))
        actions.lead_status(session, row.owner_id, "opted_out",
                            f"message {row.message_id}: {result.rule}", at)
        actions.set_conversation(session, row.owner_id, "opted_out", at)
    elif row.owner_id is not None and scope.stops_drips:  # an email complaint
        actions.stop_drips(session, row.owner_id, "opt_out")
        actions.cancel_pending(session, row.owner_id, at, detail,
                               keep_purposes=("handoff_notice",))
        actions.lead_status(session, row.owner_id, "opted_out", detail, at)
    elif row.owner_id is not None:
        actions.cancel_pending(session, row.owner_id, at, detail,
                               keep_purposes=("handoff_notice",), channel=scope.channel)
    session.add(MessageEvent(message_id=row.message_id, status=scope.event_status,
                             source=scope.event_source,
                             detail=(detail if suppression is not None else
                                     f"{detail} (the same {scope.reason} was already in force)"),
                             at=at))
    return suppression is not None


# ------------------------------------------------------------------------------------------
# Process


def process_inbound(engine: Engine, message_id: int, *,
                    classifier: ReplyClassifier | None = None,
                    channels: Channels | None = None, now: datetime | None = None) -> str:
    """Classify, decide, act and reply for one stored inbound message; returns the
    decision. A row processed already returns its stored decision and does nothing."""
    from outreach.replies.process import process_one

    return process_one(engine, message_id, classifier=classifier, channels=channels,
                       now=now or datetime.now(UTC))


def process_pending(engine: Engine, *, classifier: ReplyClassifier | None = None,
                    channels: Channels | None = None, now: datetime | None = None,
                    limit: int = 500) -> list[tuple[int, str]]:
    """Process every received, unprocessed inbound row (oldest first, at most `limit`), then
    retry the replies deferred by quiet hours. Returns (message id, decision) pairs."""
    from outreach.replies.process import process_many

    return process_many(engine, classifier=classifier, channels=channels,
                        now=now or datetime.now(UTC), limit=limit)
