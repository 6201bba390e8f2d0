"""Processing a stored inbound reply: classify, decide, act, reply (behind
`inbound.process_inbound` / `inbound.process_pending`).

Three steps, so a crash anywhere repeats work without doubling it:

1. Read the row (one short transaction) and classify outside any transaction (an LLM may be
   slow).
2. One transaction applies the decision's ledger effects (all idempotent): an opt-out the
   model recognised but the rules did not, drips stopped, pending touches cancelled, lead
   status, conversation state, START's lifted opt-outs, a wrong number, a handoff.
3. The replies are sent (`respond.send_reply`: each has an idempotency key, so a second run
   finds the row and sends nothing), then one transaction stores the classification, the
   decision and `processed_at`. A row without `processed_at` is taken up again by
   `process_pending`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from markets.schema import Market
from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Handoff, Message, MessageEvent, Owner
from outreach.replies import actions
from outreach.replies.answers import AnswerContext, answer_for
from outreach.replies.classify import ReplyClassification, ReplyClassifier
from outreach.replies.decisions import Decision, DecisionFacts, decide
from outreach.replies.handoff import notice_plans, open_handoff, start_handoff
from outreach.replies.inbound import apply_opt_out
from outreach.replies.respond import (
    ReplyOutcome,
    ReplyPlan,
    fixed_text,
    owner_context,
    reply_channels,
    retry_deferred_replies,
    send_reply,
)
from outreach.sending import Channels, pick_contact

log = logging.getLogger(__name__)


_classifiers: dict[str, ReplyClassifier] = {}
_classifiers_lock = threading.Lock()


def default_classifier() -> ReplyClassifier:
    """`ReplyClassifier.from_settings()`, built once per distinct configuration (a sentiment
    model takes seconds to load; the webhook processes one reply per request)."""
    from outreach.replies.settings import reply_settings

    settings = reply_settings()
    key = settings.model_dump_json()
    with _classifiers_lock:
        if key not in _classifiers:
            _classifiers[key] = ReplyClassifier.from_settings(settings)
        return _classifiers[key]


@dataclass
class _Context:
    classifier: ReplyClassifier | None
    channels: Channels | None
    now: datetime
    markets: dict[str, Market] = field(default_factory=dict)
    channels_by_market: dict[str, Channels] = field(default_factory=dict)

    def get_classifier(self) -> ReplyClassifier:
        if self.classifier is None:
            self.classifier = default_classifier()
        return self.classifier

    def market(self, code: str) -> Market:
        if code not in self.markets:
            from markets.loader import load_market

            self.markets[code] = load_market(code)
        return self.markets[code]

    def channels_for(self, market: Market) -> Channels:
        if self.channels is not None:
            return self.channels
        if market.code not in self.channels_by_market:
            self.channels_by_market[market.code] = reply_channels(market)
        return self.channels_by_market[market.code]


@dataclass(frozen=True)
class _Read:
    message_id: int
    channel: str
    text: str
    subject: str | None
    owner_id: int | None
    opt_out_type: str | None
    processed_decision: str | None


def _read(engine: Engine, message_id: int) -> _Read:
    with ledger_session(engine) as session:
        row = session.get(Message, message_id)
        if row is None or row.direction != "inbound":
            raise LookupError(f"no inbound message {message_id}")
        received = row.classification or {}
        return _Read(row.message_id, row.channel, row.body or "", row.subject, row.owner_id,
                     received.get("opt_out_type"),
                     row.decision if row.processed_at is not None else None)


def _text_for_classifier(read: _Read) -> str:
    if read.text.strip() or not read.subject:
        return read.text
    return read.subject  # an email with only a subject ("Unsubscribe", "Not interested")


def _plan_reply(session: Session, row: Message, market: Market, decision: Decision,
                classification: ReplyClassification, answer: Any) -> ReplyPlan | None:
    """The one reply the decision sends to the seller, or None."""
    if decision.send is None or row.owner_id is None or row.contact_id is None:
        return None
    contact = session.get(Contact, row.contact_id)
    if contact is None:
        return None
    purpose = decision.send
    subject = None
    template: str | None = f"reply_{purpose}"
    version: int | None = 1
    if purpose == "auto_reply":
        if answer is None:
            return None
        body, subject = answer.body, answer.subject
        template, version = answer.template, answer.version
    else:
        body, subject = fixed_text(purpose, row.channel, owner_context(session, row.owner_id,
                                                                       market))
    if row.channel == "email" and row.subject and purpose == "auto_reply":
        subject = row.subject if row.subject.lower().startswith("re:") else f"Re: {row.subject}"
    return ReplyPlan(purpose=purpose, channel=row.channel, owner_id=row.owner_id,
                     contact_id=row.contact_id, to_address=contact.value, body=body,
                     market=market, idempotency_key=f"reply:{row.message_id}:{purpose}",
                     in_reply_to_id=row.message_id, in_reply_to_at=row.created_at,
                     subject=subject, template=template, template_version=version)


def _apply(engine: Engine, read: _Read, classification: ReplyClassification,
           ctx: _Context) -> tuple[Decision, list[ReplyPlan], int | None, dict[str, Any]]:
    """Step 2 (module docstring): one transaction of ledger effects; returns the decision,
    the messages to send, the handoff id, and notes for the record."""
    now = ctx.now
    notes: dict[str, Any] = {}
    with ledger_session(engine) as session:
        row = session.get(Message, read.message_id)
        assert row is not None
        owner = session.get(Owner, row.owner_id) if row.owner_id is not None else None
        market = ctx.market(owner.market_code) if owner is not None else None
        received = row.classification or {}
        recorded = bool(received.get("opt_out_recorded"))
        rules_fired = received.get("opt_out_detail", {}).get("kind") == "opt_out"
        if classification.should_suppress and not rules_fired:
            # The model recognised a revocation the rules did not: honour it now.
            recorded = apply_opt_out(session, row, classification.opt_out
                                     if classification.opt_out.is_opt_out else
                                     _model_opt_out(classification), now) or recorded
            notes["opt_out_by"] = classification.intent.method
        answer = None
        if (market is not None and classification.intent.intent == "question"
                and not classification.should_suppress):
            context = owner_context(session, row.owner_id, market)  # type: ignore[arg-type]
            answer = answer_for(read.text or (read.subject or ""), AnswerContext(
                channel=row.channel, owner_first_name=context["owner_first_name"],
                agent_name=context["agent_name"], sender_name=context["sender_name"],
                county_name=context["county_name"],
                property_address=context["property_address"]))
            if answer is not None:
                notes["answer"] = f"{answer.name} v{answer.version}"
        decision = decide(DecisionFacts(
            intent=classification.intent.intent, sentiment=classification.sentiment,
            opt_out_kind=classification.opt_out.kind,
            should_suppress=classification.should_suppress,
            provider_answered=read.opt_out_type is not None and read.channel == "sms",
            has_owner=owner is not None and market is not None,
            human_takeover=actions.is_human_takeover(session, row.owner_id),
            opt_out_recorded=recorded, has_answer=answer is not None,
            opted_out=bool(row.counterpart_hash and actions.active_opt_outs(
                session, row.counterpart_hash, row.owner_id))))
        plans: list[ReplyPlan] = []
        handoff_id = None
        if owner is not None and market is not None:
            handoff_id = _effects(session, row, owner, market, decision, now, notes, plans)
            reply = _plan_reply(session, row, market, decision, classification, answer)
            if reply is not None:
                plans.insert(0, reply)
        return decision, plans, handoff_id, notes


def _model_opt_out(classification: ReplyClassification):  # type: ignore[no-untyped-def]
    from outreach.replies.opt_out import OptOutResult

    return OptOutResult("opt_out", classification.intent.reason[:200],
                        f"intent:{classification.intent.method}")


def _effects(session: Session, row: Message, owner: Owner, market: Market,
             decision: Decision, now: datetime, notes: dict[str, Any],
             plans: list[ReplyPlan]) -> int | None:
    owner_id = owner.owner_id
    why = f"{decision.name} (reply {row.message_id})"
    if decision.stop_reason is not None:
        stopped = actions.stop_drips(session, owner_id, decision.stop_reason)
        # A deferred auto-reply to an earlier message is cancelled too: the newer reply
        # supersedes it (and after a handoff nothing automatic may go out).
        cancelled = actions.cancel_pending(
            session, owner_id, now, why,
            keep_purposes=("opt_out_confirmation", "resubscribe_confirmation", "help",
                           "handoff_notice"), keep_replies_to=row.message_id)
        if stopped:
            notes["stopped_enrollments"] = stopped
        if cancelled:
            notes["cancelled_messages"] = cancelled
    if decision.lead_status is not None:
        only_from = ("new", "contacted") if decision.lead_status == "replied" else None
        actions.lead_status(session, owner_id, decision.lead_status,
                            decision.lead_note or why, now, only_from=only_from)
    if decision.name == "resubscribe":
        lifted = actions.lift_opt_outs(session, row, now, f"{row.channel} START in message "
                                                          f"{row.message_id}")
        notes["lifted_suppressions"] = lifted
        actions.set_conversation(session, owner_id, "resubscribed", now)
        return None
    if decision.name == "wrong_number":
        if row.contact_id is not None:
            actions.mark_wrong_number(session, row.contact_id)
        left = [channel for channel in ("sms", "email")
                if pick_contact(session, owner_id, channel) is not None]
        notes["sendable_channels_left"] = left
        if not left:
            notes["stopped_enrollments"] = actions.stop_drips(session, owner_id,
                                                              "wrong_number")
        actions.set_conversation(session, owner_id, "wrong_number", now)
        return None
    if decision.name == "handoff":
        handoff, created = start_handoff(session, owner_id, market, row, decision.reason, now)
        notes["handoff_id"] = handoff.handoff_id
        if created:
            contact_id = row.contact_id or _any_contact(session, row, owner_id)
            if contact_id is not None:
                plans.extend(notice_plans(session, handoff, market, row, contact_id, now))
        return handoff.handoff_id
    if decision.name == "human_takeover":
        # The closer owns the conversation: forward the new message to them.
        handoff = open_handoff(session, owner_id)
        contact_id = row.contact_id or _any_contact(session, row, owner_id)
        if handoff is not None and contact_id is not None:
            plans.extend(notice_plans(session, handoff, market, row, contact_id, now,
                                      follow_up=True))
        return None
    if decision.conversation is not None and decision.name != "opt_out":
        actions.set_conversation(session, owner_id, decision.conversation, now)
    return None


def _any_contact(session: Session, row: Message, owner_id: int) -> int | None:
    if row.in_reply_to_id is not None:
        answered = session.get(Message, row.in_reply_to_id)
        if answered is not None and answered.contact_id is not None:
            return answered.contact_id
    return session.scalar(select(Contact.contact_id).where(Contact.owner_id == owner_id)
                          .order_by(Contact.contact_id).limit(1))


def process_one(engine: Engine, message_id: int, *, classifier: ReplyClassifier | None,
                channels: Channels | None, now: datetime,
                ctx: _Context | None = None) -> str:
    ctx = ctx or _Context(classifier, channels, now)
    read = _read(engine, message_id)
    if read.processed_decision is not None:
        return read.processed_decision
    classification = ctx.get_classifier().classify(_text_for_classifier(read),
                                                   read.opt_out_type)
    decision, plans, handoff_id, notes = _apply(engine, read, classification, ctx)
    plans = [_written_answer(engine, plan, read) if plan.purpose == "auto_reply" else plan
             for plan in plans]
    outcomes: list[tuple[ReplyPlan, ReplyOutcome]] = []
    for plan in plans:
        outcomes.append((plan, send_reply(engine, plan, ctx.channels_for(plan.market), now)))
    with ledger_session(engine) as session:
        row = session.get(Message, message_id)
        assert row is not None
        if row.processed_at is not None:  # another worker finished it meanwhile
            return row.decision or decision.name
        record = classification.as_dict()
        record["opt_out_type"] = read.opt_out_type
        record["decision_reason"] = decision.reason
        record["replies"] = [{"purpose": plan.purpose, "channel": plan.channel,
                              "message_id": outcome.message_id, "status": outcome.status,
                              "refusal_codes": list(outcome.refusal_codes)}
                             for plan, outcome in outcomes]
        record.update(notes)
        row.classification = record
        row.decision = decision.name
        row.processed_at = now
        if handoff_id is not None:
            handoff = session.get(Handoff, handoff_id)
            for plan, outcome in outcomes:
                if handoff is not None and plan.purpose == "staff_notice":
                    if plan.channel == "sms":
                        handoff.notified_sms_message_id = outcome.message_id
                    else:
                        handoff.notified_email_message_id = outcome.message_id
        session.add(MessageEvent(message_id=message_id, status="processed", source="reply",
                                 detail=f"decision {decision.name}: {decision.reason}"[:2000],
                                 at=now))
    return decision.name


def _written_answer(engine: Engine, plan: ReplyPlan, read: _Read) -> ReplyPlan:
    """The auto-reply written by the LLM (prompts/llm_answers/<answer>_v1.md) when a model is
    configured and its text passes every check (outreach/writing/checks.py); otherwise the
    fixed answer already in `plan`. The model is asked outside any transaction; every call is
    stored as an `llm_calls` row. An answer already sent (a re-run) is not written again."""
    from dataclasses import replace

    from outreach.campaigns.templates import RenderedMessage
    from outreach.writing.prompts import WritingPromptError, load_writing_prompt
    from outreach.writing.writer import configured_chat, draft_message, finish_message

    name = (plan.template or "").removeprefix("answer_")
    if not name or name == plan.template:
        return plan
    try:
        kind = load_writing_prompt(name).label
    except WritingPromptError:
        return plan  # no LLM prompt for this answer: the fixed text
    with ledger_session(engine) as session:
        if session.scalar(select(Message.message_id).where(
                Message.idempotency_key == plan.idempotency_key)) is not None:
            return plan  # attempted before: send_reply finds the row and sends nothing
        context = owner_context(session, plan.owner_id, plan.market)
    chat, why = configured_chat()
    if chat is None:
        return plan  # no model configured: nothing to ask, nothing to store
    variables: dict[str, object] = {
        **context, "reply_text": read.text or (read.subject or ""),
        "postal_address": plan.market.email.postal_address,
        # The real link is made when the row exists (respond.send_reply adds the footer);
        # the checks only need to see that the footer carries one.
        "unsubscribe_url": "https://unsubscribe.invalid/pending"}
    fallback = RenderedMessage(template=plan.template or name,
                               template_version=plan.template_version or 1,
                               channel=plan.channel, subject=plan.subject, body=plan.body,
                               html=None)
    draft = draft_message(kind, variables, channel=plan.channel, chat=chat,
                          unavailable_reason=why)
    written = finish_message(draft, variables, fallback=fallback, engine=engine,
                             owner_id=plan.owner_id, message_id=read.message_id)
    if written.used != "model":
        return plan
    if plan.channel == "sms":
        body, subject = written.message.body, None
    else:  # the model's own text; respond.send_reply adds identity and unsubscribe footer
        body, subject = written.written_body or plan.body, written.written_subject or plan.subject
    return replace(plan, body=body, subject=subject, template=f"llm:{kind}",
                   template_version=draft.prompt.version if draft.prompt else 1)


def process_many(engine: Engine, *, classifier: ReplyClassifier | None,
                 channels: Channels | None, now: datetime,
                 limit: int = 500) -> list[tuple[int, str]]:
    ctx = _Context(classifier, channels, now)
    with ledger_session(engine) as session:
        pending = list(session.scalars(
            select(Message.message_id).where(Message.direction == "inbound",
                                             Message.processed_at.is_(None))
            .order_by(Message.created_at, Message.message_id).limit(limit)))
    done: list[tuple[int, str]] = []
    for message_id in pending:
        try:
            done.append((message_id, process_one(engine, message_id, classifier=None,
                                                 channels=channels, now=now, ctx=ctx)))
        except Exception:
            log.exception("processing inbound message %s failed; it stays pending",
                          message_id)
    market_for: Callable[[str], Market] = ctx.market
    retry_deferred_replies(engine, now, channels_for=ctx.channels_for, market_for=market_for)
    return done
