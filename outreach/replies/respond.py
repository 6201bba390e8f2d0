"""Sending the replies side's messages: opt-out and START confirmations, HELP answers,
auto-replies to questions and handoff notices to the closer.

One path for all of them, the same guarantees as a campaign touch (docs/replies.md):

1. Transaction 1: the ledger row (`messages`, `purpose` set, idempotency key such as
   `reply:<inbound id>:opt_out_confirmation`, `in_reply_to_id` = the inbound message) is
   written first; the compliance gate (`evaluate_send` with the message's purpose) decides
   on facts loaded in the same transaction, and the decision is recorded.
2. Only when allowed, and outside any transaction, the channel adapter (`sending.Channels`:
   Twilio, SMTP or the outbox) is called.
3. Transaction 2: the outcome (provider id, status, cost, a `MessageEvent`).

A row that exists already is never sent again (a retried sweep after a crash), except a
`deferred` one (an auto-reply outside the recipient's hours, a provider's temporary refusal),
which `retry_deferred_replies` sends when the gate allows.

Emails carry the sender's identity, postal address and an unsubscribe link in every reply
(the footer), so every reply email is CAN-SPAM complete whatever its purpose. An email answer
to a seller's email carries `In-Reply-To` (the seller's Message-ID) and `References` (the
thread stored with the inbound row, then that id), so the seller's mail client threads it;
the closer's notices are not part of that thread.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from markets.schema import Market
from outreach.channels.base import ChannelMessage, DeliveryResult, Outcome
from outreach.channels.sms import callback_url_for
from outreach.compliance.gate import (
    GateFacts,
    MarketPolicy,
    OutgoingMessage,
    SendRequest,
    evaluate_send,
)
from outreach.compliance.rules import RuleSet, default_rule_set
from outreach.compliance.store import load_gate_facts, record_decision, record_suppression
from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Message, MessageEvent, Owner, OwnerParcel
from outreach.ledger.models import Enrollment as EnrollmentRow
from outreach.ledger.pii import current_keyring
from outreach.replies.email_parsing import answer_threading
from outreach.sending import (
    DEFERRED_REFUSALS,
    PLACEHOLDER_UNSUBSCRIBE_BASE,
    Channels,
    MessageHistory,
    SendSettings,
    owner_first_name,
    property_description,
    send_settings,
    unsubscribe_secret,
    unsubscribe_token,
)

log = logging.getLogger(__name__)

# Gate purpose -> messages.purpose (the ledger calls the closer's notice `handoff_notice`).
LEDGER_PURPOSE = {"opt_out_confirmation": "opt_out_confirmation",
                  "resubscribe_confirmation": "resubscribe_confirmation", "help": "help",
                  "auto_reply": "auto_reply", "staff_notice": "handoff_notice"}
GATE_PURPOSE = {ledger: gate for gate, ledger in LEDGER_PURPOSE.items()}
# Refusals a later sweep may lift for an auto-reply (hours, list freshness): deferred.
DEFERRABLE_PURPOSES = frozenset({"auto_reply"})
FIXED_TEXTS_VERSION = 1
FIXED_TEXTS: dict[str, dict[str, str]] = {
    "opt_out_confirmation": {
        "sms": "{sender_name}: you are unsubscribed and will get no more messages from us. "
               "Reply START to resubscribe.",
        "subject": "You are unsubscribed",
        "email": "You will get no more messages from {sender_name}. Thank you for letting "
                 "us know.",
    },
    "resubscribe_confirmation": {
        "sms": "{sender_name}: you are resubscribed. Reply HELP for help, STOP to opt out.",
        "subject": "You are resubscribed",
        "email": "You are resubscribed to messages from {sender_name}.",
    },
    "help": {
        "sms": "{sender_name}: {agent_name} about your property in {county_name} County. "
               "Questions: reply here or email {reply_address}. Reply STOP to opt out.",
        "subject": "Help: who we are",
        "email": "This is {agent_name} with {sender_name}, writing about your property in "
                 "{county_name} County. Reply to this email with any question. To hear "
                 "nothing more from us, use the unsubscribe link below.",
    },
}


@dataclass(frozen=True)
class ReplyPlan:
    """One message to send. `contact_id`: the seller's contact the message goes to; for a
    staff notice, the seller's contact the notice is about (the gate decision row names a
    contact) while `to_address` is the closer's."""

    purpose: str  # gate purpose
    channel: str
    owner_id: int
    contact_id: int
    to_address: str
    body: str
    market: Market
    idempotency_key: str
    in_reply_to_id: int | None
    in_reply_to_at: datetime | None
    subject: str | None = None
    template: str | None = None
    template_version: int | None = None
    staff_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplyOutcome:
    message_id: int
    status: str  # outboxed | queued | sent | refused | deferred | failed | unknown | existing
    refusal_codes: tuple[str, ...] = ()

    @property
    def went_out(self) -> bool:
        return self.status in ("outboxed", "queued", "sent", "delivered")


class _RepliesCampaign:
    """`Channels.for_market` asks a campaign whether it is live; replies are live when the
    market is (and the credentials are set)."""

    name = "replies"
    live = True


def reply_channels(market: Market, environ: Mapping[str, str] | None = None) -> Channels:
    """The outbox unless the market is live and the channel's credentials are configured."""
    return Channels.for_market(market, _RepliesCampaign(), environ=environ)  # type: ignore[arg-type]


def agent_name(market: Market, config: SendSettings | None = None) -> str:
    config = config or send_settings()
    return market.email.agent_name or config.wholesaler_agent_name or "the team"


def owner_context(session: Session, owner_id: int, market: Market,
                  config: SendSettings | None = None) -> dict[str, str]:
    """The variables of a reply to the owner: first name, agent, sender, county, property."""
    owner = session.get(Owner, owner_id)
    parcel_id = session.scalar(select(EnrollmentRow.parcel_id).where(
        EnrollmentRow.owner_id == owner_id).order_by(EnrollmentRow.enrollment_id.desc())
        .limit(1)) or session.scalar(select(OwnerParcel.parcel_id).where(
            OwnerParcel.owner_id == owner_id).limit(1))
    return {"owner_first_name": owner_first_name(owner.owner_name) if owner else "there",
            "agent_name": agent_name(market, config),
            "sender_name": market.email.sender_name, "county_name": market.county_name,
            "property_address": property_description(parcel_id, market) if parcel_id
            else f"your property in {market.county_name} County",
            "reply_address": market.email.reply_to or market.email.from_address}


def fixed_text(purpose: str, channel: str, context: Mapping[str, str]) -> tuple[str, str | None]:
    """(body, subject) of a confirmation or HELP answer."""
    texts = FIXED_TEXTS[purpose]
    if channel == "sms":
        return texts["sms"].format(**context), None
    return texts["email"].format(**context), texts["subject"]


def _email_parts(body: str, market: Market, unsubscribe_url: str) -> tuple[str, str]:
    """Plain text and HTML with the identity, postal address and unsubscribe footer."""
    footer = (f"{market.email.sender_name}, {market.email.postal_address}\n"
              f"Unsubscribe: {unsubscribe_url}")
    text = f"{body.rstrip()}\n\n--\n{footer}\n"
    paragraphs = "".join(f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
                         for part in body.strip().split("\n\n"))
    page = (f"<html><body>{paragraphs}<hr><p>{html.escape(market.email.sender_name)}, "
            f"{html.escape(market.email.postal_address)}<br>"
            f"<a href=\"{html.escape(unsubscribe_url, quote=True)}\">Unsubscribe</a> "
            f"({html.escape(unsubscribe_url)})</p></body></html>")
    return text, page


def _counterpart_hash(channel: str, address: str) -> str:
    keyring = current_keyring()
    return keyring.lookup_hash("phone" if channel == "sms" else "email",
                               address.strip() if channel == "sms" else address.strip().lower())


def _threading(session: Session, inbound_id: int | None) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References) of an email answer to inbound message `inbound_id`; none
    when that message is no email of the seller's."""
    inbound = session.get(Message, inbound_id) if inbound_id is not None else None
    if inbound is None or inbound.direction != "inbound" or inbound.channel != "email":
        return None, ()
    return answer_threading(inbound.provider_message_id, inbound.email_references)


@dataclass(frozen=True)
class _Attempt:
    message_id: int
    channel_message: ChannelMessage


def _plan(session: Session, plan: ReplyPlan, channels: Channels, now: datetime,
          config: SendSettings, rules: RuleSet, secret: bytes) -> _Attempt | ReplyOutcome:
    """Transaction 1: the row, the gate, the decision (module docstring)."""
    existing = session.scalar(select(Message).where(
        Message.idempotency_key == plan.idempotency_key))
    if existing is not None and existing.status != "deferred":
        return ReplyOutcome(existing.message_id, "existing")
    adapter = channels.for_channel(plan.channel)
    staff = plan.purpose == "staff_notice"
    contact = session.get(Contact, plan.contact_id)
    counterpart_hash = (_counterpart_hash(plan.channel, plan.to_address) if staff or contact
                        is None else contact.value_hash)
    message = existing
    if message is None:
        message = Message(direction="outbound", channel=plan.channel,
                          idempotency_key=plan.idempotency_key, owner_id=plan.owner_id,
                          contact_id=None if staff else plan.contact_id,
                          counterpart=plan.to_address, counterpart_hash=counterpart_hash,
                          provider=adapter.provider, status="planning",
                          purpose=LEDGER_PURPOSE[plan.purpose],
                          in_reply_to_id=plan.in_reply_to_id, template=plan.template,
                          template_version=plan.template_version)
        session.add(message)
        session.flush()
    message.provider = adapter.provider
    message.planned_at = now
    market = plan.market
    unsubscribe_url = html_part = None
    body = plan.body
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    if plan.channel == "email":
        base = config.wholesaler_unsubscribe_base_url or PLACEHOLDER_UNSUBSCRIBE_BASE
        token = unsubscribe_token(message.message_id, counterpart_hash, secret)
        unsubscribe_url = f"{base}/{token}"
        body, html_part = _email_parts(plan.body, market, unsubscribe_url)
        if not staff:
            in_reply_to, references = _threading(session, plan.in_reply_to_id)
    message.body = body
    message.subject = plan.subject
    if plan.channel == "sms":
        from outreach.campaigns.templates import RenderedMessage

        rendered = RenderedMessage(plan.template or plan.purpose, 1, "sms", body)
        message.segments = rendered.sms_segments
        message.encoding = rendered.sms_encoding
    owner = session.get(Owner, plan.owner_id)
    policy = replace(MarketPolicy.from_market(market), staff_addresses=plan.staff_addresses)
    carries = OutgoingMessage(
        has_unsubscribe_link=plan.channel == "email",
        has_postal_address=plan.channel == "email")
    request = SendRequest(channel=plan.channel, owner_id=plan.owner_id,  # type: ignore[arg-type]
                          contact_id=plan.contact_id, to_address=plan.to_address,
                          market=policy, planned_at=now, message=carries,
                          mailing_state=owner.mailing_state if owner else None,
                          property_state=market.state, reference=plan.idempotency_key,
                          purpose=plan.purpose,  # type: ignore[arg-type]
                          in_reply_to_id=plan.in_reply_to_id,
                          in_reply_to_at=plan.in_reply_to_at)
    if staff:
        facts = GateFacts(owner_id=plan.owner_id, contact_id=plan.contact_id, loaded_at=now,
                          contact_channel="phone" if plan.channel == "sms" else "email")
    else:
        facts = load_gate_facts(session, plan.owner_id, plan.contact_id, now,
                                history=MessageHistory(), rules=rules,
                                in_reply_to_id=plan.in_reply_to_id)
    decision = evaluate_send(request, facts, rules)
    decision_row = record_decision(session, request, decision)
    message.compliance_decision_id = decision_row.compliance_decision_id
    if decision.allowed:
        message.status = "sending"
        message.attempted_at = now
        message.error_code = message.error_message = None
        session.add(MessageEvent(message_id=message.message_id, status="sending",
                                 source="reply", detail=f"{plan.purpose} allowed by the gate",
                                 at=now))
        return _Attempt(message.message_id, ChannelMessage(
            message_id=message.message_id, channel=plan.channel, to_address=plan.to_address,
            body=body, campaign=f"reply:{plan.purpose}", touch_number=0,
            subject=plan.subject, html=html_part, from_name=market.email.sender_name,
            from_address=market.email.from_address, reply_to=market.email.reply_to,
            unsubscribe_url=unsubscribe_url, postal_address=market.email.postal_address,
            status_callback_url=callback_url_for(
                config.wholesaler_twilio_status_callback_url, message.message_id)
            if plan.channel == "sms" else None,
            attempted_at=datetime.now(UTC), in_reply_to=in_reply_to, references=references))
    codes = tuple(dict.fromkeys(decision.refusal_codes))
    detail = "; ".join(f"{check.code}: {check.detail}" for check in decision.reasons)
    message.error_code = codes[0][:60]
    message.error_message = f"{','.join(codes)} | {detail}"[:4000]
    status = ("deferred" if plan.purpose in DEFERRABLE_PURPOSES
              and set(codes) <= DEFERRED_REFUSALS else "refused")
    message.status = status
    session.add(MessageEvent(message_id=message.message_id, status=status, source="reply",
                             error_code=message.error_code,
                             detail=message.error_message[:2000], at=now))
    return ReplyOutcome(message.message_id, status, codes)


def _record(session: Session, message: Message, result: DeliveryResult, market: Market,
            at: datetime) -> str:
    """Transaction 2: what came of the attempt."""
    if message.provider_message_id is None and result.provider_message_id:
        message.provider_message_id = result.provider_message_id
    if result.outcome is not Outcome.ACCEPTED or result.error_code:
        message.error_code = result.error_code
        message.error_message = result.error_message
    if result.outcome is Outcome.ACCEPTED:
        message.status = result.status or "queued"
        if message.status in ("sent", "outboxed") and message.sent_at is None:
            message.sent_at = at
        if result.segments and message.channel == "sms":
            message.segments = result.segments
        message.cost_usd = (0.0 if message.provider == "outbox" else
                            (message.segments or 1) * market.costs.sms_segment_usd
                            if message.channel == "sms" else market.costs.email_usd)
    elif result.outcome is Outcome.DEFERRED:
        message.status = "deferred"
    elif result.outcome is Outcome.UNKNOWN:
        message.status = "unknown"  # sending.reconcile_unknown settles it, never re-sent
    else:
        message.status = "failed"
        if (result.outcome is Outcome.OPTED_OUT and message.purpose == "auto_reply"
                and message.owner_id is not None and message.contact_id is not None):
            record_suppression(session, message.channel, "opt_out", owner_id=message.owner_id,
                               contact_id=message.contact_id,
                               detail=f"provider error {result.error_code}",
                               message_id=message.message_id, created_at=at)
    session.add(MessageEvent(message_id=message.message_id, status=message.status,
                             source="reply", error_code=result.error_code,
                             detail=(result.error_message or result.outcome.value)[:2000],
                             at=at))
    return message.status


def send_reply(engine: Engine, plan: ReplyPlan, channels: Channels, now: datetime, *,
               config: SendSettings | None = None,
               rules: RuleSet | None = None) -> ReplyOutcome:
    """Write, gate, deliver and record one reply (module docstring)."""
    config = config or send_settings()
    rules = rules or default_rule_set()
    with ledger_session(engine) as session:
        planned = _plan(session, plan, channels, now, config, rules,
                        unsubscribe_secret(config))
    if isinstance(planned, ReplyOutcome):
        return planned
    adapter = channels.for_channel(plan.channel)
    try:
        result = adapter.deliver(planned.channel_message)
    except Exception as error:  # an adapter bug: the outcome is unknown, never re-sent
        log.exception("channel %s raised for reply %s", adapter.provider, planned.message_id)
        result = DeliveryResult(Outcome.UNKNOWN, error_code="adapter_error",
                                error_message=f"{type(error).__name__}: {error}")
    with ledger_session(engine) as session:
        message = session.get(Message, planned.message_id)
        assert message is not None
        status = _record(session, message, result, plan.market, now)
    return ReplyOutcome(planned.message_id, status)


def retry_deferred_replies(engine: Engine, now: datetime, *,
                           channels_for: Callable[[Market], Channels],
                           market_for: Callable[[str], Market],
                           config: SendSettings | None = None,
                           rules: RuleSet | None = None, limit: int = 500,
                           ) -> list[ReplyOutcome]:
    """Send again the replies a gate deferred (an auto-reply outside the recipient's hours),
    when the gate allows now; the text stored in the row is sent, the row reused."""
    with ledger_session(engine) as session:
        rows = session.execute(
            select(Message.message_id, Message.purpose, Message.channel, Message.owner_id,
                   Message.contact_id, Message.in_reply_to_id, Message.idempotency_key,
                   Message.template, Message.template_version, Message.subject)
            .where(Message.direction == "outbound", Message.status == "deferred",
                   Message.purpose.in_(sorted(GATE_PURPOSE)),
                   Message.purpose != "handoff_notice", Message.owner_id.is_not(None),
                   Message.contact_id.is_not(None))
            .order_by(Message.message_id).limit(limit)).all()
        plans: list[tuple[ReplyPlan | None, int]] = []
        for row in rows:
            contact = session.get(Contact, row.contact_id)
            owner = session.get(Owner, row.owner_id)
            inbound = session.get(Message, row.in_reply_to_id) if row.in_reply_to_id else None
            if contact is None or owner is None or inbound is None:
                continue
            market = market_for(owner.market_code)
            body = _stored_body(session, row.message_id, row.channel)
            plans.append((ReplyPlan(
                purpose=GATE_PURPOSE[row.purpose], channel=row.channel, owner_id=row.owner_id,
                contact_id=row.contact_id, to_address=contact.value, body=body, market=market,
                idempotency_key=row.idempotency_key, in_reply_to_id=row.in_reply_to_id,
                in_reply_to_at=inbound.created_at, subject=row.subject, template=row.template,
                template_version=row.template_version), row.message_id))
    outcomes = []
    for plan, _ in plans:
        if plan is not None:
            outcomes.append(send_reply(engine, plan, channels_for(plan.market), now,
                                       config=config, rules=rules))
    return outcomes


def _stored_body(session: Session, message_id: int, channel: str) -> str:
    """The reply text as first planned (an email's footer is added again on the retry)."""
    message = session.get(Message, message_id)
    assert message is not None
    body = message.body or ""
    if channel == "email" and "\n\n--\n" in body:
        body = body.rsplit("\n\n--\n", 1)[0]
    return body


def describe(outcome: ReplyOutcome) -> dict[str, Any]:
    return {"message_id": outcome.message_id, "status": outcome.status,
            "refusal_codes": list(outcome.refusal_codes)}
