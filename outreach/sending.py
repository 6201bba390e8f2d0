"""The send side of the outreach engine: the due touches of a campaign in a market, through the
compliance gate, to a channel, with a ledger that never loses or doubles a message.

Entry points (docs/outreach.md tells the whole story):

- `send_due(engine, campaign, market, now, channels=..., limit=...) -> SendRunReport`: one
  send run. For each active enrollment (score desc, enrollment id) whose next touch is due,
  within the campaign's daily volume cap: pick the owner's best sendable contact for the
  touch's channel, render the template, ask the gate (facts loaded per message, so an opt-out
  recorded during the run stops every later send), and in ONE transaction record the decision
  and the message row (status `sending`, idempotency key `enrollment:touch:channel`). Only
  then, outside any transaction, call the channel; a second transaction stores the provider
  id, status, cost, a `MessageEvent`, the enrollment's transition and the lead status.
- `reconcile_unknown(engine, now, channels)`: rows left `sending` by a crash (or `unknown`
  after an answer that never came) are matched against the provider's record (Twilio's
  message list, the outbox file) and closed, or held as `unknown` for a person after a grace
  period. Never re-sent blindly.
- `apply_status_callback(engine, provider_message_id, status, error_code, at)`: Twilio's status
  callbacks move a message on (the webhook of issue 6 calls it).
- `resolve_held(engine, message_id, was_sent=..., by=...)`: a person's answer for a held row.
- `Channels`: the adapters of a run; `Channels.for_market` picks the outbox unless the
  campaign AND the market are live AND the channel's credentials are configured.

Refusals: time-window, cap, DNC-list-freshness and email-configuration refusals are
`deferred` (the enrollment does not advance; the same row is re-evaluated on a later run).
Every other refusal (suppressed, on a DNC list, no consent, unusable contact, no sendable
contact) is permanent: the message row is `refused` and the enrollment moves past that touch
(`touches_sent` counts touches passed, sent or skipped; `last_sent_on` is left as it was, so
the schedule of the later touches is kept).

Test hook: `WHOLESALER_CRASH_AT=after_attempt_written|after_provider_accepted[:n]` ends the
process (`os._exit`) at that point of the n-th message (default the first): the fault tests
kill a run exactly between the two transactions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session

from markets.schema import Market
from outreach.campaigns.enrollment import Enrollment as EnrollmentState
from outreach.campaigns.enrollment import Status, TransitionError, is_due, next_touch, stop
from outreach.campaigns.enrollment import touch_sent as advance_on_send
from outreach.campaigns.schema import Campaign
from outreach.campaigns.templates import RenderedMessage, load_template, render
from outreach.channels.base import (
    CANNOT_TELL,
    ChannelAdapter,
    ChannelMessage,
    DeliveryResult,
    Outcome,
    SentRecordQuery,
    Throttle,
)
from outreach.channels.outbox import OutboxChannel
from outreach.channels.sms import DELIVERY_ERROR_CODES, TWILIO_STATUS_TO_LEDGER, callback_url_for
from outreach.compliance.gate import (
    MarketPolicy,
    OutgoingMessage,
    SendRequest,
    Solicitation,
    evaluate_send,
)
from outreach.compliance.rules import RuleSet, default_rule_set
from outreach.compliance.store import load_gate_facts, record_decision, record_suppression
from outreach.ledger.db import ledger_session
from outreach.ledger.dnc_store import SENDABLE_EMAIL_DOMAIN_STATUSES
from outreach.ledger.models import (
    CampaignRecord,
    Contact,
    DncScrub,
    LeadStatusChange,
    Message,
    MessageEvent,
    Owner,
    Suppression,
)
from outreach.ledger.models import Enrollment as EnrollmentRow
from outreach.service_settings import _pick
from pipelines import settings

log = logging.getLogger(__name__)

CRASH_ENV = "WHOLESALER_CRASH_AT"
CRASH_EXIT_CODE = 86
ACTIVE_STATUSES = (Status.NOT_STARTED.value, Status.IN_PROGRESS.value)
# Outbound statuses that stand for a message that went (or may have gone) out: they count
# against the caps and the daily volume, and they block a second attempt of the same touch.
SOLICITATION_STATUSES = ("sending", "unknown", "queued", "sent", "delivered", "outboxed",
                         "undelivered")
OPEN_ATTEMPT_STATUSES = ("sending", "unknown")
# Refusals that a later run may lift without anyone changing the lead: retried, not skipped.
DEFERRED_REFUSALS = frozenset({
    "outside_hours", "person_cap_24h", "contact_cap_day",
    "dnc_registry_missing", "dnc_registry_stale", "dnc_state_list_missing",
    "dnc_state_list_stale", "dnc_not_scrubbed",
    "email_no_postal_address", "email_no_unsubscribe_link"})
NO_SENDABLE_CONTACT = "no_sendable_contact"
STATUS_RANK = {"sending": 0, "unknown": 0, "queued": 1, "sent": 2, "outboxed": 2,
               "delivered": 3, "undelivered": 3, "failed": 3}
ENTITY_WORDS = frozenset({"LLC", "INC", "CORP", "CO", "TRUST", "TR", "TRS", "TRUSTEE", "ESTATE",
                          "EST", "LP", "LTD", "BANK", "ASSN", "ASSOCIATION", "CHURCH", "HOLDINGS",
                          "PROPERTIES", "INVESTMENTS", "GROUP", "COUNTY", "CITY", "STATE"})


# ------------------------------------------------------------------------------------------
# Settings


class SendSettings(BaseModel):
    """Send-path settings from the environment (field names are the variables, lower-cased):

    - `WHOLESALER_UNSUBSCRIBE_BASE_URL`: https base of the unsubscribe links (the token is
      appended as a path segment). Unset: a placeholder for the outbox; live email needs it.
    - `WHOLESALER_UNSUBSCRIBE_SECRET`: the HMAC key of the unsubscribe tokens (32+ chars).
      Unset: generated once into `<data>/secrets/unsubscribe_secret` (demo only).
    - `WHOLESALER_TWILIO_STATUS_CALLBACK_URL`: where Twilio posts status callbacks.
    - `WHOLESALER_SMS_PER_SECOND` (default 4), `WHOLESALER_EMAIL_PER_SECOND` (default 5):
      throttle per sender (messaging service, from address); 0 means no limit.
    - `WHOLESALER_SEND_WORKERS` (default 4): messages in flight at once in one run.
    - `WHOLESALER_RECONCILE_GRACE_MINUTES` (default 15): an attempt with no provider record
      after this long is held as `unknown` for a person.
    - `WHOLESALER_AGENT_NAME`: the person named in the messages (`{{ agent_name }}`) when the
      market's email identity names none (default "the team").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_unsubscribe_base_url: str | None = Field(default=None, pattern=r"^https://[^/]+")
    wholesaler_unsubscribe_secret: SecretStr | None = Field(default=None, min_length=32)
    wholesaler_twilio_status_callback_url: str | None = Field(default=None,
                                                              pattern=r"^https?://[^/]+")
    wholesaler_sms_per_second: float = Field(default=4.0, ge=0)
    wholesaler_email_per_second: float = Field(default=5.0, ge=0)
    wholesaler_send_workers: int = Field(default=4, ge=1, le=64)
    wholesaler_reconcile_grace_minutes: float = Field(default=15.0, ge=0)
    wholesaler_agent_name: str | None = Field(default=None, min_length=1)


PLACEHOLDER_UNSUBSCRIBE_BASE = "https://unsubscribe.invalid/u"


def send_settings(environ: Mapping[str, str] | None = None) -> SendSettings:
    result = _pick(SendSettings, os.environ if environ is None else environ)
    assert isinstance(result, SendSettings)
    return result


# ------------------------------------------------------------------------------------------
# Unsubscribe links


def unsubscribe_secret(config: SendSettings | None = None) -> bytes:
    """The HMAC key of unsubscribe tokens: the environment's, else a generated local one."""
    config = config or send_settings()
    if config.wholesaler_unsubscribe_secret is not None:
        return config.wholesaler_unsubscribe_secret.get_secret_value().encode()
    path = settings.secrets_dir() / "unsubscribe_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            log.warning("generated a local unsubscribe secret in %s; production must set "
                        "WHOLESALER_UNSUBSCRIBE_SECRET", path)
    return path.read_text().strip().encode()


def unsubscribe_token(message_id: int, counterpart_hash: str, secret: bytes) -> str:
    """`<message id>.<signature>`: the signature is an HMAC-SHA256 over the message id and the
    recipient's lookup hash, so a token cannot be forged or moved to another recipient."""
    digest = hmac.new(secret, f"{message_id}:{counterpart_hash}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(digest.digest()[:18]).decode().rstrip("=")
    return f"{message_id}.{signature}"


def verify_unsubscribe_token(session: Session, token: str,
                             secret: bytes | None = None) -> Message | None:
    """The message a token was made for, or None when it is malformed or forged (for the
    unsubscribe endpoint of issue 6)."""
    match = re.fullmatch(r"(\d{1,18})\.([A-Za-z0-9_-]{10,64})", token.strip())
    if match is None:
        return None
    message = session.get(Message, int(match[1]))
    if message is None or not message.counterpart_hash:
        return None
    expected = unsubscribe_token(message.message_id, message.counterpart_hash,
                                 secret or unsubscribe_secret())
    return message if hmac.compare_digest(expected, token.strip()) else None


# ------------------------------------------------------------------------------------------
# Channels


@dataclass
class Channels:
    """The adapters of one run, one per message channel."""

    sms: ChannelAdapter
    email: ChannelAdapter

    def for_channel(self, channel: str) -> ChannelAdapter:
        if channel == "sms":
            return self.sms
        if channel == "email":
            return self.email
        raise ValueError(f"unknown channel {channel!r}")

    def by_provider(self, provider: str, channel: str) -> ChannelAdapter | None:
        adapter = self.for_channel(channel)
        return adapter if adapter.provider == provider else None

    @property
    def is_live(self) -> bool:
        return self.sms.provider != "outbox" or self.email.provider != "outbox"

    @classmethod
    def outbox(cls, directory: Path | None = None) -> Channels:
        return cls(sms=OutboxChannel(directory, "sms"), email=OutboxChannel(directory, "email"))

    @classmethod
    def for_market(cls, market: Market, campaign: Campaign, *,
                   environ: Mapping[str, str] | None = None,
                   outbox_directory: Path | None = None) -> Channels:
        """The outbox unless `campaign.live` AND `market.live` AND the channel's credentials
        are configured (SMS: Twilio account, token and Messaging Service SID; email: an SMTP
        host and the unsubscribe base URL), decided per channel."""
        from outreach.service_settings import smtp_server_settings, twilio_settings

        channels = cls.outbox(outbox_directory)
        if not (campaign.live and market.live):
            return channels
        twilio = twilio_settings(environ)
        if twilio.is_configured and twilio.twilio_messaging_service_sid:
            from outreach.channels.sms import TwilioSmsChannel
            from outreach.twilio_client import twilio_rest_client

            channels.sms = TwilioSmsChannel(lambda: twilio_rest_client(twilio),
                                            twilio.twilio_messaging_service_sid)
        else:
            log.warning("campaign %s / market %s are live but Twilio is not configured "
                        "(account, token, messaging service): SMS goes to the outbox",
                        campaign.name, market.code)
        smtp = smtp_server_settings(environ)
        if smtp.is_configured and send_settings(environ).wholesaler_unsubscribe_base_url:
            from outreach.channels.email import SmtpSender, SmtpSettings
            from outreach.channels.smtp import SmtpEmailChannel

            assert smtp.smtp_host is not None
            sender = SmtpSender(SmtpSettings(
                smtp.smtp_host, smtp.smtp_port, smtp.smtp_username,
                smtp.smtp_password.get_secret_value() if smtp.smtp_password else None,
                smtp.smtp_starttls))
            channels.email = SmtpEmailChannel(sender, market.email.from_address)
        else:
            log.warning("campaign %s / market %s are live but SMTP or the unsubscribe base URL "
                        "is not configured: email goes to the outbox", campaign.name,
                        market.code)
        return channels


# ------------------------------------------------------------------------------------------
# Reports


@dataclass
class SendRunReport:
    """What one run did. `refused`: permanent refusals by reason code (the enrollment moved
    past the touch); `deferred`: retried on a later run (`deferred_reasons` says why:
    window, caps, list freshness, daily volume cap, a provider's temporary refusal);
    `unknown`: held for reconcile; `skipped`: the touch had been attempted already."""

    campaign: str
    market: str
    channels: dict[str, str] = field(default_factory=dict)
    active: int = 0
    due: int = 0
    sent: int = 0
    outboxed: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    deferred: int = 0
    deferred_reasons: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failed_reasons: dict[str, int] = field(default_factory=dict)
    unknown: int = 0
    skipped: int = 0
    cost_usd: float = 0.0
    paused: bool = False

    def as_metadata(self) -> dict[str, Any]:
        """Flat values for Dagster asset metadata."""
        return {"campaign": self.campaign, "market": self.market, "paused": self.paused,
                "channels": dict(self.channels), "active_enrollments": self.active,
                "due": self.due, "sent": self.sent, "outboxed": self.outboxed,
                "refused": sum(self.refused.values()),
                "refused_by_reason": dict(sorted(self.refused.items())),
                "deferred": self.deferred,
                "deferred_by_reason": dict(sorted(self.deferred_reasons.items())),
                "failed": self.failed,
                "failed_by_reason": dict(sorted(self.failed_reasons.items())),
                "unknown": self.unknown, "skipped_already_attempted": self.skipped,
                "cost_usd": round(self.cost_usd, 4)}


@dataclass
class ReconcileReport:
    checked: int = 0
    resolved: int = 0  # the provider had it: closed as sent / queued / outboxed
    held: int = 0  # now or still `unknown`: a person decides (`resolve_held`)
    pending: int = 0  # too recent to judge; looked at again next time
    errors: int = 0

    def as_metadata(self) -> dict[str, int]:
        return dict(self.__dict__)


class _Tally:
    """Thread-safe counters of a run, folded into the report at the end."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.deferred: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.cost = 0.0

    def add(self, kind: str, reason: str | None = None, cost: float = 0.0) -> None:
        with self.lock:
            self.counts[kind] += 1
            self.cost += cost
            if reason is not None:
                target = {"refused": self.refused, "deferred": self.deferred,
                          "failed": self.failed}.get(kind)
                if target is not None:
                    target[reason] += 1


# ------------------------------------------------------------------------------------------
# Send history over the messages table (the gate's SendHistory)


class MessageHistory:
    """`SendHistory` over `messages`: outbound SMS and email that went or may have gone out
    (statuses in `SOLICITATION_STATUSES`), at their attempt time (planned time if none)."""

    def solicitations(self, session: Session, owner_id: int, since: datetime,
                      until: datetime) -> Sequence[Solicitation]:
        at = func.coalesce(Message.attempted_at, Message.planned_at)
        rows = session.execute(
            select(at, Message.contact_id, Message.channel, Message.idempotency_key)
            .where(Message.owner_id == owner_id, Message.direction == "outbound",
                   Message.channel.in_(("sms", "email")),
                   Message.status.in_(SOLICITATION_STATUSES), Message.contact_id.is_not(None),
                   at > since, at <= until)).all()
        found = []
        for moment, contact_id, channel, key in rows:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            found.append(Solicitation(moment, contact_id, channel, key))
        return sorted(found, key=lambda s: s.at)


# ------------------------------------------------------------------------------------------
# Small helpers


def owner_first_name(owner_name: str) -> str:
    """The first name in a roll-style owner name ("SMITH JOHN A" -> "John"); "there" for an
    entity (LLC, trust, estate …) or a name that gives none."""
    tokens = re.sub(r"[^A-Za-z&' -]", " ", owner_name).upper().split()
    if not tokens or ENTITY_WORDS & set(tokens):
        return "there"
    first = tokens[1] if len(tokens) > 1 and tokens[1] != "&" else tokens[0]
    return first.title() if len(first) > 1 else "there"


def property_description(parcel_id: str, market: Market,
                         addresses: Mapping[str, str] | None = None) -> str:
    """The situs address when the caller passes one (`addresses`: parcel id -> address; the
    ledger holds no situs address), else the parcel id and the market's name."""
    if addresses and addresses.get(parcel_id):
        return addresses[parcel_id]
    return f"your property (parcel {parcel_id}, {market.name})"


def _state_of(row: EnrollmentRow) -> EnrollmentState:
    return EnrollmentState(enrolled_on=row.enrolled_on, status=Status(row.status),
                           touches_sent=row.touches_sent, last_sent_on=row.last_sent_on,
                           stop_reason=row.stop_reason,
                           paused_status=Status(row.paused_status) if row.paused_status else None)


def _store_state(row: EnrollmentRow, state: EnrollmentState) -> None:
    row.status = state.status.value
    row.touches_sent = state.touches_sent
    row.last_sent_on = state.last_sent_on
    row.stop_reason = state.stop_reason
    row.paused_status = state.paused_status.value if state.paused_status else None


def _skip_touch(row: EnrollmentRow, campaign: Campaign, on: date) -> None:
    """Move past the next touch without sending it (a permanent refusal)."""
    state = _state_of(row)
    try:
        moved = advance_on_send(state, campaign, on)
    except TransitionError:
        return
    from dataclasses import replace

    _store_state(row, replace(moved, last_sent_on=state.last_sent_on))


def stop_enrollment(row: EnrollmentRow | None, reason: str) -> None:
    """Stop an enrollment for `reason` (opt_out, reply, handoff, bounce …); None is a no-op."""
    if row is not None:
        _store_state(row, stop(_state_of(row), reason))


def set_lead_status(session: Session, owner_id: int, market_code: str, status: str,
                     by: str, note: str, at: datetime, only_from: tuple[str, ...] | None) -> None:
    """Append a lead status change unless the lead already has `status`, or (with
    `only_from`) its current status is not one of those."""
    current = session.scalar(select(LeadStatusChange.status)
                             .where(LeadStatusChange.owner_id == owner_id)
                             .order_by(LeadStatusChange.changed_at.desc(),
                                       LeadStatusChange.lead_status_change_id.desc()).limit(1))
    if current == status:
        return
    if only_from is not None and current is not None and current not in only_from:
        return
    session.add(LeadStatusChange(owner_id=owner_id, market_code=market_code, status=status,
                                 changed_by=by, note=note, changed_at=at))


def _crash_point(name: str, counters: dict[str, int], lock: threading.Lock) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    with lock:
        counters[name] = counters.get(name, 0) + 1
        if counters[name] == int(nth or 1):
            os._exit(CRASH_EXIT_CODE)


def _local_day_bounds(now: datetime, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone)
    end = datetime.combine(today + timedelta(days=1), time(0), zone)
    return today, start.astimezone(UTC), end.astimezone(UTC)


def _short_code(codes: Iterable[str]) -> str:
    first = next(iter(codes), "refused")
    return first[:60]  # messages.error_code is 60 characters


# ------------------------------------------------------------------------------------------
# Recording what came of a send (shared by send_due, reconcile and callbacks)


@dataclass(frozen=True)
class _Pricing:
    sms_segment_usd: float
    email_usd: float


def _pricing_for(market_code: str, markets: Mapping[str, Market] | None) -> _Pricing | None:
    market = (markets or {}).get(market_code)
    if market is None:
        try:
            from markets.loader import load_market

            market = load_market(market_code)
        except Exception:  # a market file gone since the send: the cost stays unknown
            return None
    return _Pricing(market.costs.sms_segment_usd, market.costs.email_usd)


def _campaign_for(session: Session, enrollment: EnrollmentRow | None,
                  campaigns: Mapping[str, Campaign] | None) -> Campaign | None:
    if enrollment is None:
        return None
    record = session.get(CampaignRecord, enrollment.campaign_id)
    if record is None:
        return None
    if campaigns and record.name in campaigns:
        return campaigns[record.name]
    try:
        from outreach.campaigns.schema import CAMPAIGNS_DIR, load_campaign

        return load_campaign(CAMPAIGNS_DIR / f"{record.name}.yaml")
    except Exception:  # the definition is gone: record the message, leave the enrollment
        log.warning("campaign %s has no readable definition; enrollment %s not moved",
                    record.name, enrollment.enrollment_id)
        return None


def _record_outcome(session: Session, message: Message, result: DeliveryResult, *,
                    campaign: Campaign | None, pricing: _Pricing | None, at: datetime,
                    day: date, source: str) -> str:
    """Store what came of an attempt: status, provider id, cost, an event, the enrollment's
    transition, the lead status, suppressions. Returns the tally kind."""
    enrollment = (session.get(EnrollmentRow, message.enrollment_id)
                  if message.enrollment_id is not None else None)
    if message.provider_message_id is None and result.provider_message_id:
        message.provider_message_id = result.provider_message_id
    outcome = result.outcome
    if outcome is not Outcome.ACCEPTED or result.error_code:
        message.error_code = result.error_code
        message.error_message = result.error_message
    kind = "failed"
    if outcome is Outcome.ACCEPTED:
        accepted_status = result.status or "queued"
        # A status callback may have got here first (it carries our message id): never move
        # a message back from `delivered` to `queued`.
        if STATUS_RANK.get(accepted_status, 0) >= STATUS_RANK.get(message.status, 0):
            message.status = accepted_status
        if message.status in ("sent", "outboxed", "delivered") and message.sent_at is None:
            message.sent_at = at
        if result.segments and message.channel == "sms":
            message.segments = result.segments
        if message.provider == "outbox":
            message.cost_usd = 0.0
        elif pricing is not None:
            message.cost_usd = ((message.segments or 1) * pricing.sms_segment_usd
                                if message.channel == "sms" else pricing.email_usd)
        # Only a lead's first send can move it to `contacted` (saves a query per later touch).
        first_send = enrollment is None or enrollment.last_sent_on is None
        if enrollment is not None and campaign is not None:
            state = _state_of(enrollment)
            upcoming = next_touch(state, campaign)
            if upcoming is not None and upcoming[0] == message.touch_number:
                _store_state(enrollment, advance_on_send(state, campaign, day))
        if message.owner_id is not None and first_send:
            set_lead_status(session, message.owner_id, enrollment.market_code
                             if enrollment else "", "contacted", "outreach.sending",
                             f"message {message.message_id}", at, only_from=("new",))
        kind = "outboxed" if message.status == "outboxed" else "sent"
    elif outcome is Outcome.OPTED_OUT:
        message.status = "failed"
        record_suppression(session, message.channel, "opt_out", owner_id=message.owner_id,
                           contact_id=message.contact_id,
                           detail=f"provider error {result.error_code}: {result.error_message}",
                           message_id=message.message_id, created_at=at)
        stop_enrollment(enrollment, "opt_out")
        if message.owner_id is not None:
            set_lead_status(session, message.owner_id,
                             enrollment.market_code if enrollment else "", "opted_out",
                             "outreach.sending", f"provider error {result.error_code}", at,
                             only_from=None)
    elif outcome is Outcome.INVALID_CONTACT:
        message.status = "failed"
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        if contact is not None:
            contact.is_valid = False
            contact.rejection_reason = (f"provider error {result.error_code}: "
                                        f"{result.error_message}")[:1000]
        if enrollment is not None and campaign is not None:
            _skip_touch(enrollment, campaign, day)
    elif outcome is Outcome.BOUNCED:
        message.status = "failed"
        if message.contact_id is not None:
            record_suppression(session, "email", "bounce", contact_id=message.contact_id,
                               detail=result.error_message or "", message_id=message.message_id,
                               created_at=at)
        stop_enrollment(enrollment, "bounce")
    elif outcome is Outcome.FAILED:
        message.status = "failed"
        if enrollment is not None and campaign is not None:
            _skip_touch(enrollment, campaign, day)
    elif outcome is Outcome.DEFERRED:
        message.status = "deferred"
        kind = "deferred"
    else:
        message.status = "unknown"
        kind = "unknown"
    session.add(MessageEvent(message_id=message.message_id, status=message.status,
                             source=source, error_code=result.error_code,
                             detail=(result.error_message or outcome.value)[:2000], at=at))
    return kind


# ------------------------------------------------------------------------------------------
# The send run


class _Step(StrEnum):
    NOT_DUE = "not_due"
    SKIPPED = "skipped"


@dataclass
class _Run:
    engine: Engine
    campaign: Campaign
    campaign_id: int
    market: Market
    policy: MarketPolicy
    channels: Channels
    now: datetime
    today: date
    config: SendSettings
    rules: RuleSet
    secret: bytes
    addresses: Mapping[str, str] | None
    pricing: _Pricing
    tally: _Tally = field(default_factory=_Tally)
    lock: threading.Lock = field(default_factory=threading.Lock)
    crashes: dict[str, int] = field(default_factory=dict)
    throttles: dict[str, Throttle] = field(default_factory=dict)
    history: MessageHistory = field(default_factory=MessageHistory)



def pick_contact(session: Session, owner_id: int, channel: str) -> Contact | None:
    """The owner's best sendable contact for the channel (one query): valid, not a wrong
    number, its value not suppressed on the channel; a phone whose newest scrub does not
    block SMS, an email whose domain takes mail; highest confidence first."""
    kind = "phone" if channel == "sms" else "email"
    value_suppressed = exists().where(Suppression.value_hash == Contact.value_hash,
                                      Suppression.channel.in_((channel, "all")))
    query = (select(Contact)
             .where(Contact.owner_id == owner_id, Contact.channel == kind,
                    Contact.is_valid.is_(True), Contact.is_wrong_number.is_(False),
                    ~value_suppressed)
             .order_by(Contact.confidence.desc(), Contact.contact_id).limit(1))
    if kind == "phone":
        newest_scrub_blocks = (select(DncScrub.is_sms_blocked)
                               .where(DncScrub.contact_id == Contact.contact_id)
                               .order_by(DncScrub.scrubbed_at.desc(),
                                         DncScrub.dnc_scrub_id.desc())
                               .limit(1).scalar_subquery())
        query = query.where(newest_scrub_blocks.is_(False))
    else:
        query = query.where(Contact.email_domain_status.in_(
            sorted(SENDABLE_EMAIL_DOMAIN_STATUSES)))
    return session.scalar(query)


def _context(run: _Run, owner: Owner, parcel_id: str, unsubscribe_url: str) -> dict[str, str]:
    market = run.market
    agent = (getattr(market.email, "agent_name", None) or run.config.wholesaler_agent_name
             or "the team")
    return {"owner_first_name": owner_first_name(owner.owner_name), "agent_name": agent,
            "sender_name": market.email.sender_name, "county_name": market.county_name,
            "property_address": property_description(parcel_id, market, run.addresses),
            "market_context": market.market_context,
            "postal_address": market.email.postal_address, "unsubscribe_url": unsubscribe_url}


@dataclass(frozen=True)
class _Attempt:
    message_id: int
    channel_message: ChannelMessage
    adapter: ChannelAdapter


def _plan_and_decide(run: _Run, enrollment_id: int) -> _Attempt | str:
    """Transaction 1: re-read the enrollment, pick the contact, render, ask the gate, record
    the decision and the message row. Returns the attempt to make, or what happened."""
    campaign = run.campaign
    with ledger_session(run.engine) as session:
        found = session.execute(
            select(EnrollmentRow, CampaignRecord.is_paused, Owner)
            .join(CampaignRecord, CampaignRecord.campaign_id == EnrollmentRow.campaign_id)
            .join(Owner, Owner.owner_id == EnrollmentRow.owner_id)
            .where(EnrollmentRow.enrollment_id == enrollment_id)).first()
        if found is None:
            return _Step.NOT_DUE
        row, is_paused, owner = found
        if is_paused or row.status not in ACTIVE_STATUSES:
            return _Step.NOT_DUE
        state = _state_of(row)
        upcoming = next_touch(state, campaign)
        if upcoming is None or not is_due(state, campaign, run.today):
            return _Step.NOT_DUE
        number, touch = upcoming
        key = f"{enrollment_id}:{number}:{touch.channel}"
        message = session.scalar(select(Message).where(Message.idempotency_key == key))
        if message is not None and message.status != "deferred":
            return _Step.SKIPPED
        adapter = run.channels.for_channel(touch.channel)
        contact = pick_contact(session, row.owner_id, touch.channel)
        if message is None:
            message = Message(direction="outbound", channel=touch.channel, idempotency_key=key,
                              enrollment_id=enrollment_id, touch_number=number,
                              owner_id=row.owner_id, provider=adapter.provider,
                              status="planning", purpose="touch")
            session.add(message)
        message.provider = adapter.provider
        message.planned_at = run.now
        message.template = touch.template
        if contact is None:
            message.status = "refused"
            message.contact_id = None
            message.error_code = NO_SENDABLE_CONTACT
            message.error_message = f"no sendable {touch.channel} contact for the owner"
            session.flush()
            session.add(MessageEvent(message_id=message.message_id, status="refused",
                                     source="send", error_code=NO_SENDABLE_CONTACT,
                                     detail=message.error_message, at=run.now))
            _skip_touch(row, campaign, run.today)
            return "refused:" + NO_SENDABLE_CONTACT
        message.contact_id = contact.contact_id
        message.counterpart = contact.value
        message.counterpart_hash = contact.value_hash
        session.flush()
        url = (f"{(run.config.wholesaler_unsubscribe_base_url or PLACEHOLDER_UNSUBSCRIBE_BASE)}"
               f"/{unsubscribe_token(message.message_id, contact.value_hash, run.secret)}")
        rendered: RenderedMessage = render(load_template(touch.template),
                                           _context(run, owner, row.parcel_id, url))
        postal = run.market.email.postal_address
        carries = OutgoingMessage(
            has_unsubscribe_link=touch.channel == "email" and url in rendered.body
            and url in (rendered.html or ""),
            has_postal_address=touch.channel == "email" and postal in rendered.body
            and postal in (rendered.html or ""))
        request = SendRequest(channel=touch.channel, owner_id=row.owner_id,
                              contact_id=contact.contact_id, to_address=contact.value,
                              market=run.policy, planned_at=run.now, message=carries,
                              mailing_state=owner.mailing_state,
                              property_state=run.market.state, reference=key)
        facts = load_gate_facts(session, row.owner_id, contact.contact_id, run.now,
                                history=run.history, rules=run.rules)
        decision = evaluate_send(request, facts, run.rules)
        decision_row = record_decision(session, request, decision)
        message.template_version = rendered.template_version
        message.subject = rendered.subject
        message.body = rendered.body
        if touch.channel == "sms":
            message.segments = rendered.sms_segments
            message.encoding = rendered.sms_encoding
        message.compliance_decision_id = decision_row.compliance_decision_id
        if decision.allowed:
            message.status = "sending"
            message.attempted_at = run.now
            message.error_code = message.error_message = None
            session.add(MessageEvent(message_id=message.message_id, status="sending",
                                     source="send", detail="allowed by the gate", at=run.now))
            return _Attempt(message.message_id, ChannelMessage(
                message_id=message.message_id, channel=touch.channel,
                to_address=contact.value, body=rendered.body, campaign=campaign.name,
                touch_number=number, subject=rendered.subject, html=rendered.html,
                from_name=run.market.email.sender_name,
                from_address=run.market.email.from_address,
                reply_to=run.market.email.reply_to, unsubscribe_url=url,
                postal_address=postal,
                status_callback_url=callback_url_for(
                    run.config.wholesaler_twilio_status_callback_url, message.message_id),
                attempted_at=datetime.now(UTC)), adapter)
        codes = list(dict.fromkeys(decision.refusal_codes))
        detail = "; ".join(f"{check.code}: {check.detail}" for check in decision.reasons)
        message.error_code = _short_code(codes)
        message.error_message = f"{','.join(codes)} | {detail}"[:4000]
        if set(codes) <= DEFERRED_REFUSALS:
            message.status = "deferred"
            session.add(MessageEvent(message_id=message.message_id, status="deferred",
                                     source="send", error_code=message.error_code,
                                     detail=message.error_message[:2000], at=run.now))
            return "deferred:" + codes[0]
        message.status = "refused"
        session.add(MessageEvent(message_id=message.message_id, status="refused",
                                 source="send", error_code=message.error_code,
                                 detail=message.error_message[:2000], at=run.now))
        _skip_touch(row, campaign, run.today)
        permanent = [code for code in codes if code not in DEFERRED_REFUSALS]
        return "refused:" + permanent[0]


def _throttle_for(run: _Run, channel: str) -> Throttle:
    with run.lock:
        throttle = run.throttles.get(channel)
        if throttle is None:
            rate = (run.config.wholesaler_sms_per_second if channel == "sms"
                    else run.config.wholesaler_email_per_second)
            throttle = run.throttles[channel] = Throttle(rate)
        return throttle


def _send_one(run: _Run, enrollment_id: int) -> bool:
    """Plan, decide, deliver and record one enrollment's due touch. Returns True when it used
    a slot of the daily volume cap (a message went, or may have gone, out)."""
    try:
        planned = _plan_and_decide(run, enrollment_id)
    except Exception:
        log.exception("planning the touch of enrollment %s failed", enrollment_id)
        run.tally.add("failed", "planning_error")
        return False
    if isinstance(planned, str):
        kind, _, reason = planned.partition(":")
        if kind == _Step.SKIPPED:
            run.tally.add("skipped")
        elif kind != _Step.NOT_DUE:
            run.tally.add(kind, reason)
        return False
    _crash_point("after_attempt_written", run.crashes, run.lock)
    adapter = planned.adapter
    if adapter.provider != "outbox":
        _throttle_for(run, planned.channel_message.channel).acquire(adapter.sender)
    try:
        result = adapter.deliver(planned.channel_message)
    except Exception as error:  # an adapter bug: the outcome is unknown, never re-sent
        log.exception("channel %s raised for message %s", adapter.provider, planned.message_id)
        result = DeliveryResult(Outcome.UNKNOWN, error_code="adapter_error",
                                error_message=f"{type(error).__name__}: {error}")
    _crash_point("after_provider_accepted", run.crashes, run.lock)
    with ledger_session(run.engine) as session:
        message = session.get(Message, planned.message_id)
        assert message is not None
        kind = _record_outcome(session, message, result, campaign=run.campaign,
                               pricing=run.pricing, at=run.now, day=run.today, source="send")
        cost = message.cost_usd or 0.0
        used_slot = message.status in SOLICITATION_STATUSES
    run.tally.add(kind, result.error_code or result.outcome.value, cost=cost)
    return used_slot


def _run_in_cap_order(run: _Run, due: Sequence[int], remaining: int, pool_size: int) -> None:
    """Take the due enrollments in order, at most `pool_size` in flight, never more in flight
    or done than the cap allows: a slot a refused or deferred message did not use goes to the
    next enrollment in order, so the cap always serves the best-scored leads first."""
    pending: set[Future[bool]] = set()

    def settle(block: bool) -> None:
        nonlocal pending, remaining
        if not pending:
            return
        done, pending = wait(pending, timeout=None if block else 0,
                             return_when=FIRST_COMPLETED)
        for future in done:
            if not future.result():
                remaining += 1

    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="send") as pool:
        for position, enrollment_id in enumerate(due):
            while pending and (remaining <= 0 or len(pending) >= pool_size):
                settle(block=True)
            if remaining <= 0:
                for _ in due[position:]:
                    run.tally.add("deferred", "daily_volume_cap")
                break
            remaining -= 1
            if pool_size == 1:
                if not _send_one(run, enrollment_id):
                    remaining += 1
                continue
            pending.add(pool.submit(_send_one, run, enrollment_id))
            settle(block=False)
        while pending:
            settle(block=True)


def send_due(engine: Engine, campaign: Campaign, market: Market, now: datetime, *,
             channels: Channels | None = None, limit: int | None = None,
             addresses: Mapping[str, str] | None = None, workers: int | None = None,
             rules: RuleSet | None = None, config: SendSettings | None = None) -> SendRunReport:
    """One send run of `campaign` in `market` at `now` (see the module docstring).

    `channels`: default `Channels.for_market(market, campaign)`. `limit`: at most this many
    due enrollments are taken up in this run. `addresses`: parcel id -> situs address for the
    `property_address` of the templates (else the parcel id and market name). `workers`:
    messages in flight at once (default `WHOLESALER_SEND_WORKERS`)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    config = config or send_settings()
    channels = channels or Channels.for_market(market, campaign)
    report = SendRunReport(campaign=campaign.name, market=market.code,
                           channels={"sms": channels.sms.provider,
                                     "email": channels.email.provider})
    if market.code not in campaign.markets:
        raise ValueError(f"campaign {campaign.name} does not name market {market.code} "
                         f"(its markets: {', '.join(campaign.markets)})")
    zone = ZoneInfo(market.time_zones[0])
    today, day_start, day_end = _local_day_bounds(now, zone)
    with ledger_session(engine) as session:
        record = session.scalar(select(CampaignRecord).where(CampaignRecord.name == campaign.name))
        if record is None:
            log.warning("campaign %s is not in the ledger (nothing enrolled yet)", campaign.name)
            return report
        if record.is_paused:
            report.paused = True
            return report
        rows = session.execute(
            select(EnrollmentRow.enrollment_id, EnrollmentRow.enrolled_on, EnrollmentRow.status,
                   EnrollmentRow.touches_sent, EnrollmentRow.last_sent_on)
            .where(EnrollmentRow.campaign_id == record.campaign_id,
                   EnrollmentRow.market_code == market.code,
                   EnrollmentRow.status.in_(ACTIVE_STATUSES))
            .order_by(EnrollmentRow.score.desc(), EnrollmentRow.enrollment_id)).all()
        already = session.scalar(
            select(func.count(Message.message_id))
            .join(EnrollmentRow, EnrollmentRow.enrollment_id == Message.enrollment_id)
            .where(EnrollmentRow.campaign_id == record.campaign_id,
                   Message.direction == "outbound",
                   Message.status.in_(SOLICITATION_STATUSES),
                   Message.attempted_at >= day_start, Message.attempted_at < day_end)) or 0
        campaign_id = record.campaign_id
    report.active = len(rows)
    due = [row.enrollment_id for row in rows
           if is_due(EnrollmentState(enrolled_on=row.enrolled_on, status=Status(row.status),
                                     touches_sent=row.touches_sent,
                                     last_sent_on=row.last_sent_on), campaign, today)]
    if limit is not None:
        due = due[:max(0, limit)]
    report.due = len(due)
    run = _Run(engine=engine, campaign=campaign, campaign_id=campaign_id, market=market,
               policy=MarketPolicy.from_market(market), channels=channels, now=now,
               today=today, config=config, rules=rules or default_rule_set(),
               secret=unsubscribe_secret(config), addresses=addresses,
               pricing=_Pricing(market.costs.sms_segment_usd, market.costs.email_usd))
    _run_in_cap_order(run, due, campaign.daily_volume_cap - already,
                      workers or config.wholesaler_send_workers)
    tally = run.tally
    report.sent = tally.counts["sent"]
    report.outboxed = tally.counts["outboxed"]
    report.refused = dict(tally.refused)
    report.deferred = tally.counts["deferred"]
    report.deferred_reasons = dict(tally.deferred)
    report.failed = tally.counts["failed"]
    report.failed_reasons = dict(tally.failed)
    report.unknown = tally.counts["unknown"]
    report.skipped = tally.counts["skipped"]
    report.cost_usd = tally.cost
    log.info("send run %s/%s: %s", campaign.name, market.code, report.as_metadata())
    return report


# ------------------------------------------------------------------------------------------
# Reconcile, callbacks, a person's resolution


def reconcile_unknown(engine: Engine, now: datetime, channels: Channels, *,
                      grace: timedelta | None = None, market_code: str | None = None,
                      campaigns: Mapping[str, Campaign] | None = None,
                      markets: Mapping[str, Market] | None = None) -> ReconcileReport:
    """Close attempts left `sending` (a crash between the attempt and its outcome) or
    `unknown` (no answer) from the provider's record: Twilio's message list (To, body,
    created since the attempt), the outbox file. No record after `grace` (default
    `WHOLESALER_RECONCILE_GRACE_MINUTES`): the row is `unknown`, held for a person. SMTP keeps
    no record to ask: its rows are held after the grace period. Nothing is re-sent.
    `market_code`: only the attempts of that market's enrollments (default: all)."""
    grace = grace if grace is not None else timedelta(
        minutes=send_settings().wholesaler_reconcile_grace_minutes)
    report = ReconcileReport()
    query = (select(Message.message_id, Message.provider, Message.channel, Message.status,
                    Message.attempted_at, Message.created_at)
             .where(Message.direction == "outbound", Message.status.in_(OPEN_ATTEMPT_STATUSES))
             .order_by(Message.message_id))
    if market_code is not None:
        query = query.join(EnrollmentRow, EnrollmentRow.enrollment_id == Message.enrollment_id
                           ).where(EnrollmentRow.market_code == market_code)
    with ledger_session(engine) as session:
        open_rows = session.execute(query).all()
    for message_id, provider, channel, _status, attempted_at, created_at in open_rows:
        report.checked += 1
        attempted = attempted_at or created_at
        adapter = channels.by_provider(provider, channel)
        found: DeliveryResult | object | None = CANNOT_TELL
        if adapter is not None:
            with ledger_session(engine) as session:
                message = session.get(Message, message_id)
                assert message is not None
                # The provider's clock is compared with ours: the row's creation (wall
                # clock, never later than the attempt) is the lower bound.
                query = SentRecordQuery(message_id, channel, message.counterpart or "",
                                        message.body or "", message.created_at)
            try:
                found = adapter.find_sent(query)
            except Exception as error:
                log.warning("reconcile: cannot ask %s about message %s: %s", provider,
                            message_id, error)
                report.errors += 1
                continue
        with ledger_session(engine) as session:
            message = session.get(Message, message_id)
            if message is None or message.status not in OPEN_ATTEMPT_STATUSES:
                continue
            if isinstance(found, DeliveryResult):
                enrollment = (session.get(EnrollmentRow, message.enrollment_id)
                              if message.enrollment_id else None)
                _record_outcome(session, message, found,
                                campaign=_campaign_for(session, enrollment, campaigns),
                                pricing=_pricing_for(enrollment.market_code, markets)
                                if enrollment else None,
                                at=now, day=attempted.astimezone(UTC).date(), source="reconcile")
                report.resolved += 1
            elif attempted > now - grace:
                report.pending += 1
            else:
                if message.status != "unknown":
                    why = ("the provider keeps no record to check (SMTP)" if found is CANNOT_TELL
                           else f"no record at {provider} after {grace}")
                    message.status = "unknown"
                    session.add(MessageEvent(message_id=message_id, status="unknown",
                                             source="reconcile",
                                             detail=f"held for a person: {why}", at=now))
                report.held += 1
    return report


def apply_status_callback(engine: Engine, provider_message_id: str, status: str,
                          error_code: str | int | None = None, at: datetime | None = None, *,
                          message_id: int | None = None,
                          campaigns: Mapping[str, Campaign] | None = None,
                          markets: Mapping[str, Market] | None = None) -> int | None:
    """Apply one Twilio status callback (MessageSid, MessageStatus, ErrorCode). Statuses only
    move forward (queued < sent < delivered / undelivered / failed); every callback is kept as
    a `MessageEvent`. `message_id` (the ``mid`` query parameter of our callback URL) lets a
    callback close an attempt whose provider id a crash kept us from storing. An error 21610
    records the opt-out. Returns the ledger message id, or None when the message is unknown."""
    at = at or datetime.now(UTC)
    code = str(error_code) if error_code not in (None, "", 0, "0") else None
    ledger_status = TWILIO_STATUS_TO_LEDGER.get(status.lower())
    with ledger_session(engine) as session:
        message = session.scalar(select(Message).where(
            Message.provider_message_id == provider_message_id))
        if message is None and message_id is not None:
            candidate = session.get(Message, message_id)
            if (candidate is not None and candidate.provider_message_id is None
                    and candidate.status in OPEN_ATTEMPT_STATUSES):
                message = candidate
                enrollment = (session.get(EnrollmentRow, candidate.enrollment_id)
                              if candidate.enrollment_id else None)
                _record_outcome(session, candidate, DeliveryResult(
                    Outcome.ACCEPTED, status="queued", provider_message_id=provider_message_id),
                    campaign=_campaign_for(session, enrollment, campaigns),
                    pricing=_pricing_for(enrollment.market_code, markets) if enrollment
                    else None, at=at,
                    day=(candidate.attempted_at or at).astimezone(UTC).date(),
                    source="callback")
        if message is None:
            return None
        detail = f"twilio status {status}"
        if code:
            detail += f", error {code}: {DELIVERY_ERROR_CODES.get(code, 'see Twilio error docs')}"
        session.add(MessageEvent(message_id=message.message_id, status=ledger_status or status,
                                 source="callback", error_code=code, detail=detail, at=at))
        if ledger_status is not None and (STATUS_RANK.get(ledger_status, 0)
                                          > STATUS_RANK.get(message.status, 0)):
            message.status = ledger_status
            if ledger_status in ("sent", "delivered") and message.sent_at is None:
                message.sent_at = at
        if code:
            message.error_code = code
            message.error_message = DELIVERY_ERROR_CODES.get(code, detail)
        if code == "21610" and message.owner_id is not None:
            record_suppression(session, message.channel, "opt_out", owner_id=message.owner_id,
                               contact_id=message.contact_id, detail="provider error 21610",
                               message_id=message.message_id, created_at=at)
            stop_enrollment(session.get(EnrollmentRow, message.enrollment_id)
                             if message.enrollment_id else None, "opt_out")
        return message.message_id


def resolve_held(engine: Engine, message_id: int, *, was_sent: bool, by: str,
                 at: datetime | None = None, note: str = "",
                 campaigns: Mapping[str, Campaign] | None = None,
                 markets: Mapping[str, Market] | None = None) -> str:
    """A person's answer for an attempt held as `unknown` (or still `sending`): `was_sent`
    True closes it as sent (the enrollment moves on); False marks it `deferred`, so the next
    run sends the touch again under the same idempotency key. Returns the new status."""
    at = at or datetime.now(UTC)
    with ledger_session(engine) as session:
        message = session.get(Message, message_id)
        if message is None:
            raise LookupError(f"no message {message_id}")
        if message.status not in OPEN_ATTEMPT_STATUSES:
            raise ValueError(f"message {message_id} is {message.status}, not held")
        detail = f"resolved by {by}: {'sent' if was_sent else 'not sent'}. {note}".strip()
        if was_sent:
            enrollment = (session.get(EnrollmentRow, message.enrollment_id)
                          if message.enrollment_id else None)
            _record_outcome(session, message, DeliveryResult(
                Outcome.ACCEPTED, status="outboxed" if message.provider == "outbox" else "sent",
                error_message=detail),
                campaign=_campaign_for(session, enrollment, campaigns),
                pricing=_pricing_for(enrollment.market_code, markets) if enrollment else None,
                at=at, day=(message.attempted_at or at).astimezone(UTC).date(),
                source="operator")
        else:
            message.status = "deferred"
            session.add(MessageEvent(message_id=message_id, status="deferred",
                                     source="operator", detail=detail, at=at))
        return message.status
