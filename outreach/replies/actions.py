"""Ledger side effects of an inbound reply, shared by `inbound` (the opt-out path, inside the
receive transaction) and `process` (the decisions): stop a person's drips, cancel the touches
not yet handed to a provider, set the conversation state and the lead status, record and lift
opt-outs, mark a wrong number.

Every function works inside the caller's session (one transaction) and is idempotent: running
it twice (a retried sweep after a crash) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.compliance.store import record_suppression
from outreach.ledger.models import (
    Contact,
    ConversationState,
    Enrollment,
    Message,
    MessageEvent,
    Owner,
    Suppression,
)
from outreach.sending import set_lead_status, stop_enrollment

ACTOR = "outreach.replies"
# Enrollment statuses a reply stops (a paused drip is stopped too: it must not resume).
STOPPABLE_STATUSES = ("not_started", "in_progress", "paused")
# Outbound rows that are ours only (never handed to a provider): a reply cancels them. A row
# `queued` or later is at the provider already; `sending` is being attempted right now and is
# settled by the send path or the reconcile step.
CANCELLABLE_STATUSES = ("planning", "deferred")


@dataclass(frozen=True)
class OptOutScope:
    """What one opt-out stops (`inbound.apply_opt_out`). A reply's opt-out (STOP, "remove
    me") stops the person on every channel: suppression `all` / `opt_out`, every drip, every
    pending message, lead and conversation `opted_out`. A feedback-loop complaint (ARF) about
    our email suppresses that email address (`email` / `complaint`) and, like the email's
    unsubscribe link, stops every drip of the person and marks the lead `opted_out` (someone
    who reports our mail as spam is not texted the next touch either); their pending messages
    are cancelled. A later START by SMS does not lift an email complaint."""

    channel: str  # the suppression's channel: all | email
    reason: str  # the suppression's reason: opt_out | complaint
    event_status: str  # the MessageEvent on the message that carried it
    event_source: str
    stops_drips: bool = True  # every drip stopped, pending messages cancelled, lead opted_out

    @property
    def whole_person(self) -> bool:
        return self.channel == "all"


REPLY_OPT_OUT = OptOutScope("all", "opt_out", "opted_out", "reply")
EMAIL_COMPLAINT = OptOutScope("email", "complaint", "complained", "imap")


def stop_drips(session: Session, owner_id: int, reason: str) -> list[int]:
    """Stop every active (or paused) enrollment of the owner; returns their ids."""
    rows = list(session.scalars(select(Enrollment).where(
        Enrollment.owner_id == owner_id, Enrollment.status.in_(STOPPABLE_STATUSES))))
    for row in rows:
        stop_enrollment(row, reason)
    return [row.enrollment_id for row in rows]


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT around an insert a concurrent transaction may have made first: when the
    database refuses it (IntegrityError, raised to the caller), only the insert is undone and
    the caller's transaction goes on. On SQLite the transaction is made a writer first
    (`BEGIN IMMEDIATE` when the driver has not begun one yet): a SAVEPOINT outside a
    transaction would start one of its own and commit it on release."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver_connection = connection.connection.dbapi_connection
        if driver_connection is not None and not driver_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    with session.begin_nested():
        yield


def cancel_pending(session: Session, owner_id: int, at: datetime, why: str,
                   keep_purposes: tuple[str, ...] = (),
                   keep_replies_to: int | None = None,
                   channel: str | None = None) -> list[int]:
    """Mark the owner's outbound messages that never reached a provider (`planning`,
    `deferred`) `cancelled`, except those whose purpose is in `keep_purposes` and the
    replies to message `keep_replies_to`; only those of `channel` when given (sms, email);
    returns their ids. The send path skips a cancelled row (its idempotency key stays
    taken)."""
    query = select(Message).where(Message.owner_id == owner_id,
                                  Message.direction == "outbound",
                                  Message.status.in_(CANCELLABLE_STATUSES))
    if channel is not None:
        query = query.where(Message.channel == channel)
    if keep_purposes:
        query = query.where(or_(Message.purpose.is_(None),
                                Message.purpose.not_in(keep_purposes)))
    if keep_replies_to is not None:
        query = query.where(or_(Message.in_reply_to_id.is_(None),
                                Message.in_reply_to_id != keep_replies_to))
    rows = list(session.scalars(query))
    for row in rows:
        row.status = "cancelled"
        session.add(MessageEvent(message_id=row.message_id, status="cancelled",
                                 source="reply", detail=why[:2000], at=at))
    return [row.message_id for row in rows]


def set_conversation(session: Session, owner_id: int, state: str, at: datetime,
                     takeover: bool | None = None) -> ConversationState:
    """Upsert the owner's conversation state (`takeover` None leaves the flag as it is).
    Two replies of one owner processed at once may both find no row: the second insert is
    refused (primary key) and the row the first one wrote is updated instead."""
    row = session.get(ConversationState, owner_id)
    if row is None:
        new_row = ConversationState(owner_id=owner_id, state=state,
                                    is_human_takeover=bool(takeover), updated_at=at)
        try:
            with savepoint(session):
                session.add(new_row)
            return new_row
        except IntegrityError:
            row = session.get(ConversationState, owner_id, populate_existing=True)
            if row is None:
                raise
    row.state = state
    row.updated_at = at
    if takeover is not None:
        row.is_human_takeover = takeover
    session.flush()
    return row


def is_human_takeover(session: Session, owner_id: int | None) -> bool:
    if owner_id is None:
        return False
    row = session.get(ConversationState, owner_id)
    return bool(row and row.is_human_takeover)


def lead_status(session: Session, owner_id: int, status: str, note: str, at: datetime,
                only_from: tuple[str, ...] | None = None) -> None:
    """Append a lead status change (see `outreach.sending.set_lead_status`)."""
    owner = session.get(Owner, owner_id)
    set_lead_status(session, owner_id, owner.market_code if owner else "", status, ACTOR,
                    note, at, only_from=only_from)


def active_opt_outs(session: Session, value_hash: str, owner_id: int | None = None,
                    reason: str = "opt_out") -> list[Suppression]:
    """Suppressions with `reason` (opt-outs by default) not lifted, of the value or (when
    given) the owner."""
    condition = Suppression.value_hash == value_hash
    if owner_id is not None:
        condition = or_(condition, Suppression.owner_id == owner_id)
    return list(session.scalars(select(Suppression).where(
        condition, Suppression.reason == reason, Suppression.lifted_at.is_(None))
        .order_by(Suppression.suppression_id)))


def record_opt_out(session: Session, message: Message, detail: str, at: datetime, *,
                   channel: str = "all", reason: str = "opt_out") -> Suppression | None:
    """The opt-out carried by `message`: ONE suppression naming the person (the matched
    owner, when known) and the number or address (its keyed hash, so it is stopped under
    every owner, also for an unknown sender). An inbound reply's opt-out is on every channel
    ("all", reason `opt_out`; the contact's consents are revoked by `record_suppression`); a
    feedback-loop complaint about our email is `channel="email"`, `reason="complaint"`, with
    `message` the outbound email complained about. Returns None when the same suppression
    (value, person, channel, reason) is already in force (a second STOP adds no row and gets
    no second confirmation; a re-read complaint adds nothing)."""
    assert message.counterpart_hash is not None
    in_force = [row for row in active_opt_outs(session, message.counterpart_hash,
                                               reason=reason)
                if row.channel == channel and row.value_hash == message.counterpart_hash
                and (message.owner_id is None or row.owner_id == message.owner_id)]
    if in_force:
        return None
    return record_suppression(session, channel, reason, owner_id=message.owner_id,
                              contact_id=message.contact_id, detail=detail[:2000],
                              message_id=message.message_id, created_at=at,
                              value_hash=message.counterpart_hash)


def lift_opt_outs(session: Session, message: Message, at: datetime, reason: str) -> list[int]:
    """START / UNSTOP: lift the opt-outs of the sender's number (and the ones a provider
    recorded for it, Twilio 21610), never a complaint, bounce or operator stop, and never an
    opt-out the person made on another channel. Rows stay; they are marked lifted."""
    assert message.counterpart_hash is not None
    rows = [row for row in active_opt_outs(session, message.counterpart_hash)
            if row.value_hash == message.counterpart_hash]
    for row in rows:
        row.lifted_at = at
        row.lifted_by_message_id = message.message_id
        row.lifted_reason = reason[:2000]
    session.flush()
    return [row.suppression_id for row in rows]


def mark_wrong_number(session: Session, contact_id: int) -> bool:
    """Mark one contact (that owner's row only) a wrong number; True when it changed."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.is_wrong_number:
        return False
    contact.is_wrong_number = True
    return True
