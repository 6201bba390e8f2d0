"""Handing an interested seller to the human closer.

`start_handoff` (inside the decision's transaction): one `handoffs` row per owner while one is
`waiting` or `claimed` (a second interested reply reuses it), human takeover on the
conversation (no more automatic replies), the lead moved to `interested`, the drips stopped
(reason `handoff`) and every pending touch cancelled (the caller does the last two). The
database holds the rule too (the partial unique index `uq_handoffs_open_owner`): when two
interested replies of one owner are processed at the same instant, the second insert fails
and that reply is attached to the handoff the first one opened (no second notice).

`notice_plans` then builds the closer's two notices (SMS and email, purpose `staff_notice`
in the gate, `handoff_notice` in the ledger) with the last messages of the conversation and a
link to the dashboard page (`WHOLESALER_DASHBOARD_URL` + `/handoffs?owner=<id>`); a market
whose state requires the assignment disclosure (Maryland, `requires_assignment_disclosure`)
says so in both. They are sent through `respond.send_reply` like every other message.

The closer: the market file's `handoff:` block (closer_name, closer_phone, closer_email), else
`WHOLESALER_CLOSER_NAME`, `WHOLESALER_CLOSER_PHONE`, `WHOLESALER_CLOSER_EMAIL`. With neither,
the handoff is recorded and listed (`wholesaler replies handoffs`, the dashboard) but nobody
is notified (logged as a warning).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from markets.schema import HandoffSettings, Market
from outreach.ledger.db import ledger_session
from outreach.ledger.models import HANDOFF_OPEN_STATUSES, Handoff, Message, Owner
from outreach.ledger.pii import mask_email, mask_phone
from outreach.replies import actions
from outreach.replies.respond import ReplyPlan

log = logging.getLogger(__name__)

DASHBOARD_URL_ENV = "WHOLESALER_DASHBOARD_URL"
DEFAULT_DASHBOARD_URL = "http://localhost:8501"
OPEN_STATUSES = HANDOFF_OPEN_STATUSES
CONVERSATION_MESSAGES = 8


class HandoffConfigError(ValueError):
    """The closer's environment variables are invalid; the message names them."""


def closer_for(market: Market, environ: Mapping[str, str] | None = None) -> HandoffSettings | None:
    """The market's closer, else the one named by the environment, else None."""
    if market.handoff is not None:
        return market.handoff
    source = os.environ if environ is None else environ
    values = {"closer_name": source.get("WHOLESALER_CLOSER_NAME", "").strip() or "closer",
              "closer_phone": source.get("WHOLESALER_CLOSER_PHONE", "").strip() or None,
              "closer_email": source.get("WHOLESALER_CLOSER_EMAIL", "").strip() or None}
    if values["closer_phone"] is None and values["closer_email"] is None:
        return None
    try:
        return HandoffSettings(**values)
    except ValidationError as error:
        problems = "; ".join(f"WHOLESALER_{str(item['loc'][0]).upper()}: {item['msg']}"
                             for item in error.errors())
        raise HandoffConfigError(problems) from None


def dashboard_link(owner_id: int, environ: Mapping[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    base = (source.get(DASHBOARD_URL_ENV, "").strip() or DEFAULT_DASHBOARD_URL).rstrip("/")
    return f"{base}/handoffs?owner={owner_id}"


def start_handoff(session: Session, owner_id: int, market: Market, trigger: Message,
                  reason: str, at: datetime) -> tuple[Handoff, bool]:
    """The owner's open handoff, or a new one; True when it was created now. Sets human
    takeover and the lead status `interested`. When another transaction opened one at the
    same time, the unique index refuses this insert (it waits for that transaction on
    PostgreSQL) and the handoff it opened is returned (False)."""
    actions.set_conversation(session, owner_id, "handoff", at, takeover=True)
    actions.lead_status(session, owner_id, "interested", f"handoff: {reason}", at)
    existing = open_handoff(session, owner_id)
    if existing is not None:
        return existing, False
    closer = closer_for(market)
    row = Handoff(owner_id=owner_id, market_code=market.code,
                  trigger_message_id=trigger.message_id, reason=reason[:200], status="waiting",
                  closer=closer.closer_name if closer else None, created_at=at)
    try:
        with actions.savepoint(session):  # a refused insert undoes only itself
            session.add(row)
    except IntegrityError:
        existing = open_handoff(session, owner_id)
        if existing is None:  # the conflict was not the open handoff: not ours to hide
            raise
        log.info("owner %s: a handoff was opened concurrently (handoff %s); reply %s is "
                 "attached to it", owner_id, existing.handoff_id, trigger.message_id)
        return existing, False
    return row, True


@dataclass(frozen=True)
class ConversationLine:
    at: datetime
    direction: str
    channel: str
    text: str

    def render(self) -> str:
        who = "Seller" if self.direction == "inbound" else "Us"
        return f"{self.at:%Y-%m-%d %H:%M} UTC {who} ({self.channel}): {self.text}"


def conversation(session: Session, owner_id: int,
                 limit: int = CONVERSATION_MESSAGES) -> list[ConversationLine]:
    """The owner's last messages in and out (not our notices to the closer), oldest first."""
    rows = session.execute(
        select(Message.created_at, Message.direction, Message.channel, Message.body,
               Message.subject)
        .where(Message.owner_id == owner_id,
               Message.status.not_in(("refused", "cancelled", "planning")),
               (Message.purpose.is_(None)) | (Message.purpose != "handoff_notice"))
        .order_by(Message.created_at.desc(), Message.message_id.desc()).limit(limit)).all()
    lines = []
    for at, direction, channel, body, subject in reversed(rows):
        text = " ".join((body or "").split())
        if channel == "email" and direction == "outbound" and " -- " in text:
            text = text.split(" -- ")[0]
        if subject and direction == "inbound" and channel == "email":
            text = f"[{subject}] {text}"
        lines.append(ConversationLine(at, direction, channel, text[:500]))
    return lines


def notice_plans(session: Session, handoff: Handoff, market: Market, trigger: Message,
                 contact_id: int, now: datetime, *, follow_up: bool = False) -> list[ReplyPlan]:
    """The closer's SMS and email notices of one handoff (none without a closer).
    `follow_up`: the seller wrote again while the closer owns the conversation: the new
    message is forwarded (keys `handoff:<id>:msg<inbound id>:<channel>`)."""
    closer = closer_for(market)
    if closer is None:
        log.warning("handoff %s (market %s): no closer configured (markets/%s.yaml handoff: "
                    "or WHOLESALER_CLOSER_*): nobody notified", handoff.handoff_id,
                    market.code, market.code)
        return []
    owner = session.get(Owner, handoff.owner_id)
    name = owner.owner_name if owner else f"owner {handoff.owner_id}"
    link = dashboard_link(handoff.owner_id)
    reply = " ".join((trigger.body or "").split())
    who = trigger.counterpart or ""
    shown = mask_phone(who) if trigger.channel == "sms" else mask_email(who)
    disclosure = (f" NOTE: {market.state} requires a written disclosure that the contract may "
                  "be assigned." if market.requires_assignment_disclosure else "")
    staff = tuple(a for a in (closer.closer_phone, closer.closer_email) if a)
    key = f"handoff:{handoff.handoff_id}" + (f":msg{trigger.message_id}" if follow_up else "")
    headline = "New message from your lead" if follow_up else "Hot lead"
    plans = []
    if closer.closer_phone:
        sms = (f"{headline} ({market.county_name}): {name} replied by {trigger.channel} "
               f"\"{reply[:160]}\". Open: {link}{disclosure}")
        plans.append(ReplyPlan(
            purpose="staff_notice", channel="sms", owner_id=handoff.owner_id,
            contact_id=contact_id, to_address=closer.closer_phone, body=sms, market=market,
            idempotency_key=f"{key}:sms",
            in_reply_to_id=trigger.message_id, in_reply_to_at=trigger.created_at,
            template="handoff_notice", template_version=1, staff_addresses=staff))
    if closer.closer_email:
        lines = "\n".join(line.render() for line in conversation(session, handoff.owner_id))
        opening = (f"{name} ({market.name}) wrote again." if follow_up else
                   f"{name} ({market.name}) looks interested: {handoff.reason}.")
        body = (f"Hi {closer.closer_name},\n\n{opening}\n"
                f"They wrote from {shown} by {trigger.channel}. The automatic drip is stopped "
                "and no automatic reply will go out: the conversation is yours.\n\n"
                f"Conversation (last messages):\n{lines}\n\n"
                f"Open the lead: {link}\n"
                + (f"\n{disclosure.strip()}\n" if disclosure else ""))
        plans.append(ReplyPlan(
            purpose="staff_notice", channel="email", owner_id=handoff.owner_id,
            contact_id=contact_id, to_address=closer.closer_email, body=body, market=market,
            idempotency_key=f"{key}:email",
            in_reply_to_id=trigger.message_id, in_reply_to_at=trigger.created_at,
            subject=f"{headline}: {name} ({market.county_name})",
            template="handoff_notice", template_version=1, staff_addresses=staff))
    return plans


def open_handoff(session: Session, owner_id: int) -> Handoff | None:
    return session.scalar(select(Handoff).where(
        Handoff.owner_id == owner_id, Handoff.status.in_(OPEN_STATUSES))
        .order_by(Handoff.handoff_id.desc()).limit(1))


def list_handoffs(engine: Engine, status: str | None = "waiting") -> list[dict[str, Any]]:
    """Handoffs (default: waiting), newest first, with the owner's name and the reply."""
    with ledger_session(engine) as session:
        query = (select(Handoff, Owner.owner_name, Message.body)
                 .join(Owner, Owner.owner_id == Handoff.owner_id)
                 .outerjoin(Message, Message.message_id == Handoff.trigger_message_id)
                 .order_by(Handoff.created_at.desc(), Handoff.handoff_id.desc()))
        if status is not None:
            query = query.where(Handoff.status == status)
        return [{"handoff_id": row.handoff_id, "owner_id": row.owner_id,
                 "owner_name": owner_name, "market": row.market_code, "status": row.status,
                 "reason": row.reason, "closer": row.closer,
                 "created_at": row.created_at.isoformat(), "reply": body,
                 "notified_sms_message_id": row.notified_sms_message_id,
                 "notified_email_message_id": row.notified_email_message_id,
                 "link": dashboard_link(row.owner_id)}
                for row, owner_name, body in session.execute(query)]
