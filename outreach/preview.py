"""`wholesaler campaigns preview`: the messages a campaign would send on a day, rendered and
judged by the compliance gate, WITHOUT sending or writing anything.

For each active enrollment of the campaign (in the chosen markets) whose next touch is due on
the day, in the order a send run takes them (score, then enrollment id): the owner's best
sendable contact for the touch's channel (masked), the template and its rendered text, and the
gate's decision for the planned time (the day at e.g. 10:00 in the market's first time zone),
with the same facts a send run would load (suppressions, consent, DNC scrub and lists, the
messages already sent). Entries past the campaign's remaining daily volume are marked.

It reads the ledger in a transaction that is rolled back, records no decision and writes no
message; the gate facts, contact choice and template context are the send path's own
(`outreach.sending`), so the preview shows what a send run would do, except that the
unsubscribe link is a placeholder (the real one is signed with the message id, which only a
send creates) and a touch's text depends on nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from markets.loader import load_markets
from markets.schema import Market
from outreach.campaigns.enrollment import Enrollment as EnrollmentState
from outreach.campaigns.enrollment import Status, is_due, next_touch
from outreach.campaigns.schema import Campaign
from outreach.campaigns.templates import TemplateError, load_template, render
from outreach.compliance.gate import MarketPolicy, OutgoingMessage, SendRequest, evaluate_send
from outreach.compliance.rules import default_rule_set
from outreach.compliance.store import load_gate_facts
from outreach.ledger.models import CampaignRecord, Enrollment, Message, Owner
from outreach.ledger.pii import mask_email, mask_phone

PREVIEW_UNSUBSCRIBE_URL = "https://unsubscribe.invalid/u/preview"


@dataclass
class PreviewMessage:
    market: str
    enrollment_id: int
    touch: int
    channel: str
    template: str
    planned_at: str
    to: str | None
    allowed: bool
    refusal_codes: list[str]
    reasons: list[str]
    subject: str | None = None
    body: str | None = None
    note: str = ""


@dataclass
class CampaignPreview:
    campaign: str
    day: date
    paused: bool = False
    due: int = 0
    allowed: int = 0
    refused_by_reason: dict[str, int] = field(default_factory=dict)
    over_daily_cap: int = 0
    messages: list[PreviewMessage] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data


def _state(row: Enrollment) -> EnrollmentState:
    return EnrollmentState(enrolled_on=row.enrolled_on, status=Status(row.status),
                           touches_sent=row.touches_sent, last_sent_on=row.last_sent_on,
                           stop_reason=row.stop_reason)


def preview_campaign(engine: Engine, campaign: Campaign, day: date, planned_time: time,
                     market_codes: Sequence[str] | None = None, limit: int | None = 20,
                     markets: Sequence[Market] | None = None) -> CampaignPreview:
    """The messages due on `day` at `planned_time` (market-local), rendered and judged; see
    the module docstring. `limit`: at most this many messages listed (all are counted)."""
    from outreach.sending import (
        SOLICITATION_STATUSES,
        MessageHistory,
        owner_first_name,
        pick_contact,
        property_description,
        send_settings,
    )

    config = send_settings()
    rules = default_rule_set()
    wanted = set(market_codes or campaign.markets) & set(campaign.markets)
    by_code = {m.code: m for m in (markets or load_markets()) if m.code in wanted}
    preview = CampaignPreview(campaign=campaign.name, day=day)
    session = Session(engine)
    try:
        record = session.scalar(select(CampaignRecord).where(CampaignRecord.name == campaign.name))
        if record is None:
            return preview
        preview.paused = record.is_paused
        history = MessageHistory()
        for code in sorted(by_code):
            market = by_code[code]
            zone = ZoneInfo(market.time_zones[0])
            planned_at = datetime.combine(day, planned_time, zone)
            day_start = datetime.combine(day, time(0), zone).astimezone(UTC)
            sent_that_day = session.scalar(
                select(func.count(Message.message_id))
                .join(Enrollment, Enrollment.enrollment_id == Message.enrollment_id)
                .where(Enrollment.campaign_id == record.campaign_id,
                       Message.direction == "outbound",
                       Message.status.in_(SOLICITATION_STATUSES),
                       Message.attempted_at >= day_start)) or 0
            room = campaign.daily_volume_cap - sent_that_day
            policy = MarketPolicy.from_market(market)
            rows = session.scalars(
                select(Enrollment).where(Enrollment.campaign_id == record.campaign_id,
                                         Enrollment.market_code == code,
                                         Enrollment.status.in_(("not_started", "in_progress")))
                .order_by(Enrollment.score.desc(), Enrollment.enrollment_id)).all()
            for row in rows:
                state = _state(row)
                upcoming = next_touch(state, campaign)
                if upcoming is None or not is_due(state, campaign, day):
                    continue
                number, touch = upcoming
                preview.due += 1
                entry = PreviewMessage(market=code, enrollment_id=row.enrollment_id,
                                       touch=number, channel=touch.channel,
                                       template=touch.template,
                                       planned_at=planned_at.isoformat(), to=None,
                                       allowed=False, refusal_codes=[], reasons=[])
                key = f"{row.enrollment_id}:{number}:{touch.channel}"
                earlier = session.scalar(select(Message.status).where(
                    Message.idempotency_key == key))
                if earlier is not None and earlier != "deferred":
                    entry.note = f"already attempted ({earlier}); a send run skips it"
                owner = session.get(Owner, row.owner_id)
                contact = pick_contact(session, row.owner_id, touch.channel)
                if owner is None or contact is None:
                    entry.refusal_codes = ["no_sendable_contact"]
                    entry.reasons = [f"no sendable {touch.channel} contact for the owner"]
                else:
                    entry.to = (mask_phone(contact.value) if touch.channel == "sms"
                                else mask_email(contact.value))
                    _render_and_judge(session, entry, market, policy, owner, contact,
                                      row.parcel_id, planned_at, touch.template, config,
                                      rules, history, key, owner_first_name,
                                      property_description)
                if entry.allowed:
                    if room <= 0:
                        preview.over_daily_cap += 1
                        entry.note = (entry.note + "; " if entry.note else "") + \
                            "over the daily volume cap: waits for the next run"
                    else:
                        room -= 1
                        preview.allowed += 1
                else:
                    for code_ in entry.refusal_codes:
                        preview.refused_by_reason[code_] = \
                            preview.refused_by_reason.get(code_, 0) + 1
                if limit is None or len(preview.messages) < limit:
                    preview.messages.append(entry)
    finally:
        session.rollback()
        session.close()
    return preview


def _render_and_judge(session: Session, entry: PreviewMessage, market: Market,
                      policy: MarketPolicy, owner: Owner, contact: Any, parcel_id: str,
                      planned_at: datetime, template_name: str, config: Any, rules: Any,
                      history: Any, key: str, first_name: Any, describe: Any) -> None:
    """Render the touch as the send path does and ask the gate (nothing recorded)."""
    agent = (getattr(market.email, "agent_name", None) or config.wholesaler_agent_name
             or "the team")
    context = {"owner_first_name": first_name(owner.owner_name), "agent_name": agent,
               "sender_name": market.email.sender_name, "county_name": market.county_name,
               "property_address": describe(parcel_id, market, None),
               "market_context": market.market_context,
               "postal_address": market.email.postal_address,
               "unsubscribe_url": PREVIEW_UNSUBSCRIBE_URL}
    try:
        rendered = render(load_template(template_name), context)
    except TemplateError as error:
        entry.refusal_codes, entry.reasons = ["template_error"], [str(error)]
        return
    entry.subject, entry.body = rendered.subject, rendered.body
    postal = market.email.postal_address
    is_email = entry.channel == "email"
    carries = OutgoingMessage(
        has_unsubscribe_link=is_email and PREVIEW_UNSUBSCRIBE_URL in rendered.body
        and PREVIEW_UNSUBSCRIBE_URL in (rendered.html or ""),
        has_postal_address=is_email and postal in rendered.body and postal in (rendered.html
                                                                                or ""))
    request = SendRequest(channel=entry.channel, owner_id=owner.owner_id,  # type: ignore[arg-type]
                          contact_id=contact.contact_id, to_address=contact.value,
                          market=policy, planned_at=planned_at, message=carries,
                          mailing_state=owner.mailing_state, property_state=market.state,
                          reference=key)
    facts = load_gate_facts(session, owner.owner_id, contact.contact_id, planned_at,
                            history=history, rules=rules)
    decision = evaluate_send(request, facts, rules)
    entry.allowed = decision.allowed
    entry.refusal_codes = list(dict.fromkeys(decision.refusal_codes))
    entry.reasons = [f"{check.code}: {check.detail}" for check in decision.reasons]
