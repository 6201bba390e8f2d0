"""The send side of the outreach engine: the due touches of a campaign in a market, through the
compliance gate, to a channel, with a ledger that never loses or doubles a message.

Entry points (docs/outreach.md tells the whole story):

- `send_due(engine, campaign, market, now, channels=..., limit=...) -> SendRunReport`: one
  send run. For each active enrollment (score desc, enrollment id) whose next touch is due,
  within the campaign's daily volume cap: pick the owner's best sendable contact for the
  touch's channel, render the template, ask the gate, and in ONE transaction record the
  decision and the message row (status `sending`, idempotency key `enrollment:touch:channel`).
  Only then, outside any transaction, call the channel; a second transaction stores the
  provider id, status, cost, a `MessageEvent`, the enrollment's transition and the lead
  status. With one worker this goes message by message; with more, enrollments are decided
  in batches (`WHOLESALER_SEND_BATCH`) whose gate facts are loaded set-based in the
  transaction that records their attempts (so an opt-out recorded during the run stops every
  later batch), the calls run on a thread pool while the next batch is decided, outcomes are
  stored in groups, and large runs decide and record in a planner process
  (`WHOLESALER_SEND_PROCESS_MIN`). The decision transaction holds the write lock (SQLite) or
  locks the owners' rows (PostgreSQL, `lock_owners`), so the per-person caps hold across
  concurrent runs.
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
import gc
import hmac
import json
import logging
import math
import multiprocessing.connection
import os
import queue
import re
import secrets
import socket
import subprocess  # the send planner process: our own interpreter, no shell
import sys
import threading
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import smsutil
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    Select,
    String,
    Text,
    TypeDecorator,
    bindparam,
    case,
    event,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from markets.schema import Market
from outreach.campaigns.enrollment import Enrollment as EnrollmentState
from outreach.campaigns.enrollment import Status, TransitionError, is_due, next_touch, stop
from outreach.campaigns.enrollment import touch_sent as advance_on_send
from outreach.campaigns.schema import Campaign, Touch
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
from outreach.channels.sms import DELIVERY_ERROR_CODES, TWILIO_STATUS_TO_LEDGER
from outreach.compliance.gate import (
    MarketPolicy,
    OutgoingMessage,
    SendRequest,
    Solicitation,
    evaluate_send,
)
from outreach.compliance.rules import RuleSet, default_rule_set
from outreach.compliance.store import (
    decision_values,
    load_gate_facts_many,
    record_suppression,
)
from outreach.ledger.db import ledger_engine, ledger_session
from outreach.ledger.dnc_store import SENDABLE_EMAIL_DOMAIN_STATUSES
from outreach.ledger.models import (
    CampaignRecord,
    ComplianceDecision,
    Contact,
    DncScrub,
    LeadStatusChange,
    Message,
    MessageEvent,
    Owner,
    Suppression,
    UtcDateTime,
)
from outreach.ledger.models import Enrollment as EnrollmentRow
from outreach.ledger.pii import current_keyring
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
    - `WHOLESALER_SEND_BATCH` (default 100): due enrollments decided in one transaction
      (with more than one worker; see `_run_in_cap_order`).
    - `WHOLESALER_SEND_PROCESS_MIN` (default 2000; 0 = never): runs with at least this many
      due enrollments decide and record in a second process while this one makes the calls.
    - `WHOLESALER_SEND_PLANNER_NICE` (default 10; 0 = as this process): how much that second
      process lowers its scheduling priority (`nice`) where it does not take the idle class.
      It works ahead of the calls, so on a busy machine the calls and the provider's answers
      go first and it fills the gaps.
    - `WHOLESALER_SEND_PLANNER_IDLE` (default true; Linux): that second process runs in the
      idle scheduling class (`SCHED_IDLE`) instead of at the nice value, so a call thread or
      the provider's answer that wakes up takes a core at once instead of after the
      planner's time slice. On a machine kept busy by other work the planner then waits for
      idle moments and the run slows down; it stays safe (it decides only a moment ahead of
      the calls, and each batch is judged at its own instant).
    - `WHOLESALER_SEND_AHEAD_SECONDS` (default 1): how far ahead of the calls the run
      decides, in seconds of sends at the rate the calls go (measured, or the throttle's at
      the start): enough that the calls never wait for the next batch, little enough that
      an opt-out recorded meanwhile stops every send decided after it, and at most this
      much of what was decided before it still goes.
    - `WHOLESALER_SEND_WINDOW_MARGIN_SECONDS` (default 120): a run's clock starts at its
      `now` and runs with the wall clock; each batch is judged at the instant it is decided,
      and the time window must also allow that instant plus this margin (the calls follow
      the decisions by about `WHOLESALER_SEND_AHEAD_SECONDS`, more when the provider is
      slow), so a run that reaches the end of the window stops sending this long before it.
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
    wholesaler_send_batch: int = Field(default=100, ge=1, le=1000)
    wholesaler_send_process_min: int = Field(default=2000, ge=0)
    wholesaler_send_planner_nice: int = Field(default=10, ge=0, le=19)
    wholesaler_send_planner_idle: bool = True
    wholesaler_send_ahead_seconds: float = Field(default=1.0, gt=0, le=60)
    wholesaler_send_window_margin_seconds: float = Field(default=120.0, ge=0, le=3600)
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
    digest = hmac.digest(secret, f"{message_id}:{counterpart_hash}".encode(), "sha256")
    signature = base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")
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


_SOLICITED_AT = func.coalesce(Message.attempted_at, Message.planned_at)
# The status as an expression (`status || ''`), so no planner reads the history through
# `ix_messages_status`: without statistics SQLite prefers that index to the owners' for a
# batch (seven statuses against a hundred owners), and then walks every message ever sent,
# each batch (33 ms a batch at 100 k messages, growing with the ledger; 0.1 ms through the
# owner index). tests/test_sending.py checks the plan.
_SOLICITATION_STATUS = Message.status.concat(literal_column("''"))
_SOLICITATIONS_OF_OWNERS = (
    select(Message.owner_id, _SOLICITED_AT, Message.contact_id, Message.channel,
           Message.idempotency_key)
    .where(Message.owner_id.in_(bindparam("owner_ids", expanding=True)),
           Message.direction == "outbound", Message.channel.in_(("sms", "email")),
           _SOLICITATION_STATUS.in_(SOLICITATION_STATUSES), Message.contact_id.is_not(None),
           _SOLICITED_AT > bindparam("since"),  # noqa: SIM300 (an expression, not a constant)
           _SOLICITED_AT <= bindparam("until")))  # noqa: SIM300
"""`MessageHistory.solicitations_for_owners`' query, built once."""


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
                   _SOLICITATION_STATUS.in_(SOLICITATION_STATUSES),
                   Message.contact_id.is_not(None), at > since, at <= until)).all()
        found = []
        for moment, contact_id, channel, key in rows:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            found.append(Solicitation(moment, contact_id, channel, key))
        return sorted(found, key=lambda s: s.at)

    def solicitations_for_owners(self, session: Session, owner_ids: Iterable[int],
                                 since: datetime, until: datetime
                                 ) -> dict[int, list[Solicitation]]:
        """`solicitations` of many people in one query per 500 (the send path's batches)."""
        ids = sorted(set(owner_ids))
        found: dict[int, list[Solicitation]] = {}
        if session.autoflush:  # as `session.execute` would; the query runs on the connection
            session.flush()
        connection = session.connection()
        for start in range(0, len(ids), 500):
            for owner_id, moment, contact_id, channel, key in connection.execute(
                    _SOLICITATIONS_OF_OWNERS, {"owner_ids": ids[start:start + 500],
                                               "since": since, "until": until}):
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                found.setdefault(owner_id, []).append(
                    Solicitation(moment, contact_id, channel, key))
        for solicitations in found.values():
            solicitations.sort(key=lambda s: s.at)
        return found


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


def _skipped(state: EnrollmentState, campaign: Campaign, on: date) -> EnrollmentState | None:
    """The state past the next touch, not sent (a permanent refusal): `touches_sent` counts
    it, `last_sent_on` stays, so the later touches keep their schedule. None: no move."""
    try:
        moved = advance_on_send(state, campaign, on)
    except TransitionError:
        return None
    return replace(moved, last_sent_on=state.last_sent_on)


def _skip_touch(row: EnrollmentRow, campaign: Campaign, on: date) -> None:
    """Move past the next touch without sending it (a permanent refusal)."""
    skipped = _skipped(_state_of(row), campaign, on)
    if skipped is not None:
        _store_state(row, skipped)


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
    batch_size: int = 1
    tally: _Tally = field(default_factory=_Tally)
    lock: threading.Lock = field(default_factory=threading.Lock)
    crashes: dict[str, int] = field(default_factory=dict)
    throttles: dict[str, Throttle] = field(default_factory=dict)
    history: MessageHistory = field(default_factory=MessageHistory)
    # The run's clock: `now` at `started` (time.monotonic(), the same clock in every process
    # of the machine, so the planner process keeps the sending process's time).
    started: float = field(default_factory=monotonic)

    def clock(self) -> datetime:
        """The run's instant now: `now` plus the time since the run started. A run judges
        and records each batch at this instant, not at its start: a long run that reaches
        the end of the send window stops there."""
        return self.now + timedelta(seconds=monotonic() - self.started)


@cache
def _sendable_contacts(channel: str) -> Select[tuple[Contact]]:
    """Every owner's sendable contacts for the channel, best first (the rule of
    `pick_contact`; add an owner filter). Built once per channel (statements are
    immutable)."""
    kind = "phone" if channel == "sms" else "email"
    value_suppressed = exists().where(Suppression.value_hash == Contact.value_hash,
                                      Suppression.channel.in_((channel, "all")),
                                      Suppression.lifted_at.is_(None))
    query = (select(Contact)
             .where(Contact.channel == kind,
                    Contact.is_valid.is_(True), Contact.is_wrong_number.is_(False),
                    ~value_suppressed)
             .order_by(Contact.confidence.desc(), Contact.contact_id))
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
    return query


def pick_contact(session: Session, owner_id: int, channel: str) -> Contact | None:
    """The owner's best sendable contact for the channel (one query): valid, not a wrong
    number, its value not suppressed on the channel (a lifted suppression no longer counts);
    a phone whose newest scrub does not block SMS, an email whose domain takes mail; highest
    confidence first."""
    return session.scalar(_sendable_contacts(channel).where(Contact.owner_id == owner_id)
                          .limit(1))


@dataclass(frozen=True)
class _PickedContact:
    contact_id: int
    owner_id: int
    value: str
    value_hash: str
    token: str  # the contact's stored ciphertext: the message row's counterpart as is


@cache
def _sendable_contacts_of_owners(channel: str) -> Select[Any]:
    """`_sendable_contacts` of the owners in the expanding parameter ``owner_ids``: contact
    id, owner id, the stored ciphertext and the lookup hash (built once per channel)."""
    return _sendable_contacts(channel).with_only_columns(
        Contact.contact_id, Contact.owner_id, type_coerce(Contact.value, Text),
        Contact.value_hash).where(Contact.owner_id.in_(bindparam("owner_ids", expanding=True)))


def _pick_contacts(connection: Connection,
                   wanted: Iterable[tuple[int, str]]) -> dict[tuple[int, str], _PickedContact]:
    """`pick_contact` for many (owner id, channel) pairs: one query per channel. Only the
    picked contacts' values are decrypted."""
    owners_by_channel: dict[str, set[int]] = {}
    for owner_id, channel in wanted:
        owners_by_channel.setdefault(channel, set()).add(owner_id)
    keyring = current_keyring()
    picked: dict[tuple[int, str], _PickedContact] = {}
    for channel, owners in owners_by_channel.items():
        query = _sendable_contacts_of_owners(channel)
        for contact_id, owner_id, token, value_hash in connection.execute(
                query, {"owner_ids": sorted(owners)}):
            if (owner_id, channel) not in picked:  # rows come best first
                picked[(owner_id, channel)] = _PickedContact(
                    contact_id, owner_id, keyring.decrypt(token), value_hash, token)
    return picked


def _context(run: _Run, owner_name: str, parcel_id: str,
             unsubscribe_url: str) -> dict[str, str]:
    market = run.market
    agent = (getattr(market.email, "agent_name", None) or run.config.wholesaler_agent_name
             or "the team")
    return {"owner_first_name": owner_first_name(owner_name), "agent_name": agent,
            "sender_name": market.email.sender_name, "county_name": market.county_name,
            "property_address": property_description(parcel_id, market, run.addresses),
            "market_context": market.market_context,
            "postal_address": market.email.postal_address, "unsubscribe_url": unsubscribe_url}


def _touch_text(touch: Touch, context: Mapping[str, str], *, session: Session, owner_id: int,
                message_id: int) -> RenderedMessage:
    """THE one place where a touch's text is produced: its template rendered, or (`writer:
    llm`) the LLM's text, checked, with the rendered template as its fallback. The message
    row `message_id` exists (flushed) when this runs, so an `LlmCall` row may point at it."""
    rendered: RenderedMessage = render(load_template(touch.template), context)
    if touch.writer == "llm":  # written by the LLM and checked; the fixed text is the fallback
        from outreach.writing.writer import write_touch

        rendered = write_touch(touch.prompt or "", touch.channel, context, rendered,
                               session=session, owner_id=owner_id, message_id=message_id)
    return rendered


@dataclass(frozen=True)
class _Attempt:
    """An allowed, committed attempt, with what the batch knew when it decided (so the
    outcome can be stored without reading the rows again, unless they changed)."""

    message_id: int
    channel_message: ChannelMessage
    adapter: ChannelAdapter
    enrollment_id: int = 0
    owner_id: int = 0
    state: EnrollmentState | None = None  # the enrollment's state when decided
    segments: int | None = None


@contextmanager
def _write_transaction(engine: Engine) -> Iterator[Session]:
    """A session whose transaction is a writer from its first statement: on SQLite `BEGIN
    IMMEDIATE` (one writer at a time, so nothing it reads can change before it commits; the
    driver's own deferred BEGIN would let two runs read the same history and both send). On
    PostgreSQL the caller locks the rows it decides about (`lock_owners`)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def lock_owners(session: Session, owner_ids: Iterable[int]) -> None:
    """Serialise send decisions about these people across concurrent runs until the caller's
    transaction ends: PostgreSQL `SELECT … FOR NO KEY UPDATE` on their `owners` rows, in
    owner-id order (two runs locking overlapping sets cannot deadlock; NO KEY UPDATE does not
    block inserts that merely reference the owner). A second run deciding about the same
    person waits, then reads the first run's attempts, so the per-person and per-contact caps
    hold across runs. SQLite needs nothing more than `BEGIN IMMEDIATE`."""
    ids = sorted(set(owner_ids))
    connection = session.connection()
    if not ids or connection.dialect.name == "sqlite":
        return
    for start in range(0, len(ids), 1000):
        connection.execute(select(Owner.owner_id)
                           .where(Owner.owner_id.in_(ids[start:start + 1000]))
                           .order_by(Owner.owner_id).with_for_update(key_share=True)).all()


def _allocate_ids(connection: Connection, model: type[Message] | type[ComplianceDecision],
                  count: int) -> list[int]:
    """`count` new primary keys for `model`'s table, so rows can be written in one
    statement and the unsubscribe link (which carries the message id) rendered first:
    PostgreSQL draws them from the column's sequence; SQLite takes the next free ones, safe
    under `_write_transaction`'s write lock."""
    if count <= 0:
        return []
    table = model.__table__
    [column] = table.primary_key.columns
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return list(connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, :column)) "
                 "FROM generate_series(1, :count)"),
            {"table": table.name, "column": column.name, "count": count}).scalars())
    if dialect != "sqlite":
        raise NotImplementedError(f"the ledger runs on SQLite or PostgreSQL, not {dialect}")
    start = connection.execute(select(func.coalesce(func.max(column), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


# Message rows written by the send path take the contact's ciphertext for `counterpart` as it
# is (`counterpart_token`): the same value under the same keys, without encrypting it again.
_MESSAGE_INSERT = insert(Message).values(
    counterpart=bindparam("counterpart_token", type_=Text))
_MESSAGE_UPDATE = (update(Message).where(Message.message_id == bindparam("b_id"))
                   .values(counterpart=bindparam("counterpart_token", type_=Text)))


_EVENT_INSERT = insert(MessageEvent)
_DECISION_INSERT = insert(ComplianceDecision)

# (id of the statement, its parameter names) -> (the statement, SQL, what each position takes)
_Position = tuple[str | None, Any, Callable[[Any], Any] | None, bool]
_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[Any, str, tuple[_Position, ...]] | None] = {}


def _compiled_positions(connection: Connection, statement: Any, keys: tuple[str, ...]
                        ) -> tuple[str, tuple[_Position, ...]] | None:
    """The statement compiled once for SQLite's `?` parameters, and per position either the
    row's value to take (by name) or the statement's own constant, each with the bind
    processor SQLAlchemy would apply; None when SQLAlchemy would do more per row (Python-side
    defaults, RETURNING, expanding parameters), so the caller takes the ordinary path."""
    key = (id(statement), keys)
    found = _COMPILED.get(key, False)
    if found is not False and (found is None or found[0] is statement):
        return None if found is None else found[1:]
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(keys),
                                 for_executemany=True)
    plain = (compiled.positiontup is not None and not compiled.insert_prefetch
             and not compiled.update_prefetch and not compiled.returning
             and not compiled.literal_execute_params and not compiled.post_compile_params
             and not compiled.escaped_bind_names)
    entry = None
    if plain:
        processors = compiled._bind_processors  # what `construct_params` feeds, per name
        names = set(keys)
        positions = []
        for name in compiled.positiontup:
            process = processors.get(name)
            bind = compiled.binds[name]
            if name in names:
                # Timestamps and dates convert the same object the same way: a group's rows
                # share a few (the run's instant, the wall clock), converted once each.
                same = isinstance(bind.type, (DateTime, Date)) or (
                    isinstance(bind.type, TypeDecorator)
                    and isinstance(bind.type.impl_instance, (DateTime, Date)))
                positions.append((name, None, process, same))
            else:  # a constant of the statement (`status = 'sending'`, a literal)
                value = bind.effective_value
                positions.append((None, process(value) if process else value, None, False))
        entry = (statement, compiled.string, tuple(positions))
    _COMPILED[key] = entry
    return None if entry is None else entry[1:]


def _executemany(connection: Connection, statement: Any,
                 rows: Sequence[Mapping[str, Any]]) -> Any:
    """`connection.execute(statement, rows)` for the send path's hottest statements: on SQLite
    the parameters go to the driver's `executemany` as tuples, converted by the same bind
    processors, without SQLAlchemy's per-row parameter machinery (about a third of the write
    cost); the rows must all have the first row's keys (as SQLAlchemy requires too). Other
    databases, and statements that need more per row, take `connection.execute`."""
    keys = tuple(rows[0]) if rows else ()
    compiled = (_compiled_positions(connection, statement, keys)
                if len(rows) > 1 and connection.dialect.name == "sqlite" else None)
    if compiled is None or any(len(row) != len(keys) for row in rows):
        return connection.execute(statement, list(rows))
    sql, positions = compiled
    columns: list[list[Any]] = []
    for name, constant, process, same in positions:
        if name is None:
            columns.append([constant] * len(rows))
            continue
        values = [row[name] for row in rows]
        if process is not None and same:  # by identity: the rows keep every value alive
            converted: dict[int, Any] = {}
            values = [converted[id(value)] if id(value) in converted
                      else converted.setdefault(id(value), process(value)) for value in values]
        elif process is not None:
            values = [process(value) for value in values]
        columns.append(values)
    return connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


@cache
def _callback_url_parts(base_url: str) -> tuple[str, str]:
    """What `callback_url_for` puts before and after ``mid=<id>`` for this base URL (the query
    and fragment are appended last by `urlunsplit`, so the rest is the same for every id)."""
    parts = urlsplit(base_url)
    head = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return (f"{head}?{parts.query}&" if parts.query else f"{head}?",
            f"#{parts.fragment}" if parts.fragment else "")


def _callback_url(base_url: str | None, message_id: int) -> str | None:
    """`callback_url_for(base_url, message_id)`, the base URL split once per run."""
    if not base_url:
        return None
    before, after = _callback_url_parts(base_url)
    return f"{before}mid={int(message_id)}{after}"


@dataclass
class _Planned:
    """One due enrollment while its batch is being decided."""

    enrollment_id: int
    owner_id: int
    owner_name: str
    mailing_state: str | None
    parcel_id: str
    state: EnrollmentState
    number: int
    touch: Touch
    key: str
    message_id: int = 0
    is_new: bool = True
    attempted_at: datetime | None = None


# The batch's reads, built once (the lists go in as expanding parameters).
_BATCH_ENROLLMENTS = (
    select(EnrollmentRow.enrollment_id, EnrollmentRow.owner_id, EnrollmentRow.parcel_id,
           EnrollmentRow.status, EnrollmentRow.touches_sent, EnrollmentRow.enrolled_on,
           EnrollmentRow.last_sent_on, EnrollmentRow.stop_reason,
           EnrollmentRow.paused_status, CampaignRecord.is_paused, Owner.owner_name,
           Owner.mailing_state)
    .join(CampaignRecord, CampaignRecord.campaign_id == EnrollmentRow.campaign_id)
    .join(Owner, Owner.owner_id == EnrollmentRow.owner_id)
    .where(EnrollmentRow.enrollment_id.in_(bindparam("ids", expanding=True))))
_BATCH_EXISTING = (
    select(Message.message_id, Message.idempotency_key, Message.status, Message.attempted_at)
    .where(Message.idempotency_key.in_(bindparam("keys", expanding=True))))


def _plan_batch(run: _Run, batch: Sequence[tuple[int, int]],
                finished: Sequence[tuple[_Attempt, DeliveryResult]] = ()
                ) -> tuple[list[_Attempt], list[str], list[tuple[str, str, float, bool]]]:
    """Transaction 1 for a batch of due enrollments ((enrollment id, owner id), in order): take
    the write lock (SQLite) or lock the owners (PostgreSQL); re-read the enrollments, the
    campaign's pause switch and the owners; skip touches attempted before; pick the contacts;
    load the gate facts of the whole batch (`load_gate_facts_many`); for each enrollment render
    the touch, ask `evaluate_send`; then write the decisions, the message rows (allowed:
    `sending`), their events and the skipped touches, and commit. Returns the attempts to make
    (their rows committed) and what happened to the others (`refused:<code>`,
    `deferred:<code>`, `skipped`, `not_due`)."""
    campaign = run.campaign
    outcomes: list[str] = []
    attempts: list[_Attempt] = []
    base_url = run.config.wholesaler_unsubscribe_base_url or PLACEHOLDER_UNSUBSCRIBE_BASE
    postal = run.market.email.postal_address
    with _write_transaction(run.engine) as session:
        # The batch's instant (the run's clock once the write lock is held), and the latest
        # its sends may go: the window must allow both.
        at = run.clock()
        send_by = at + timedelta(seconds=run.config.wholesaler_send_window_margin_seconds)
        connection = session.connection()
        lock_owners(session, [owner_id for _, owner_id in batch])
        # Outcomes of earlier calls ride in this transaction (one commit for both).
        recorded = _record_in(run, session, finished, optimistic=True) if finished else []
        ids = [enrollment_id for enrollment_id, _ in batch]
        rows = {row.enrollment_id: row
                for row in connection.execute(_BATCH_ENROLLMENTS, {"ids": ids})}
        planned: list[_Planned] = []
        for enrollment_id in ids:
            row = rows.get(enrollment_id)
            if row is None or row.is_paused or row.status not in ACTIVE_STATUSES:
                outcomes.append(_Step.NOT_DUE)
                continue
            state = _state_of(row)
            upcoming = next_touch(state, campaign)
            if upcoming is None or not is_due(state, campaign, run.today):
                outcomes.append(_Step.NOT_DUE)
                continue
            number, touch = upcoming
            planned.append(_Planned(enrollment_id, row.owner_id, row.owner_name,
                                    row.mailing_state, row.parcel_id, state, number, touch,
                                    f"{enrollment_id}:{number}:{touch.channel}"))
        existing = {row.idempotency_key: row for row in connection.execute(
            _BATCH_EXISTING, {"keys": [item.key for item in planned]})}
        items: list[_Planned] = []
        for item in planned:
            found = existing.get(item.key)
            if found is not None:
                if found.status != "deferred":
                    outcomes.append(_Step.SKIPPED)
                    continue
                item.message_id, item.is_new = found.message_id, False
                item.attempted_at = found.attempted_at
            items.append(item)
        new_items = [item for item in items if item.is_new]
        for item, message_id in zip(new_items, _allocate_ids(connection, Message,
                                                             len(new_items)), strict=True):
            item.message_id = message_id
        contacts = _pick_contacts(connection, [(item.owner_id, item.touch.channel)
                                               for item in items])
        facts = load_gate_facts_many(
            session, [(item.owner_id, contacts[(item.owner_id, item.touch.channel)].contact_id)
                      for item in items if (item.owner_id, item.touch.channel) in contacts],
            at, history=run.history, rules=run.rules)

        wall_clock = datetime.now(UTC)
        decisions: list[dict[str, Any]] = []
        decided: list[tuple[_Planned, dict[str, Any]]] = []  # (item, message values)
        events: list[dict[str, Any]] = []
        skips: list[dict[str, Any]] = []
        for item in items:
            touch = item.touch
            adapter = run.channels.for_channel(touch.channel)
            values: dict[str, Any] = {
                "provider": adapter.provider, "planned_at": at, "template": touch.template,
                "contact_id": None, "counterpart_token": None, "counterpart_hash": None,
                "template_version": None, "subject": None, "body": None, "segments": None,
                "encoding": None, "compliance_decision_id": None,
                "attempted_at": item.attempted_at, "updated_at": wall_clock}
            contact = contacts.get((item.owner_id, touch.channel))
            if contact is None:
                values.update(status="refused", error_code=NO_SENDABLE_CONTACT,
                              error_message=f"no sendable {touch.channel} contact for the owner")
                decided.append((item, values))
                events.append(_event(item.message_id, "refused", NO_SENDABLE_CONTACT,
                                     values["error_message"], at))
                skips.append(_skip_values(item, campaign, run.today, wall_clock))
                outcomes.append("refused:" + NO_SENDABLE_CONTACT)
                continue
            values.update(contact_id=contact.contact_id, counterpart_token=contact.token,
                          counterpart_hash=contact.value_hash)
            if touch.writer == "llm" and item.is_new:
                # The LLM writer records its call against the message row: write it first.
                connection.execute(_MESSAGE_INSERT, [_new_row(item, {
                    **values, "status": "planning", "error_code": None,
                    "error_message": None}, wall_clock)])
                item.is_new = False
            url = (f"{base_url}/"
                   f"{unsubscribe_token(item.message_id, contact.value_hash, run.secret)}")
            rendered = _touch_text(touch, _context(run, item.owner_name, item.parcel_id, url),
                                   session=session, owner_id=item.owner_id,
                                   message_id=item.message_id)
            carries = OutgoingMessage(
                has_unsubscribe_link=touch.channel == "email" and url in rendered.body
                and url in (rendered.html or ""),
                has_postal_address=touch.channel == "email" and postal in rendered.body
                and postal in (rendered.html or ""))
            request = SendRequest(channel=touch.channel, owner_id=item.owner_id,
                                  contact_id=contact.contact_id, to_address=contact.value,
                                  market=run.policy, planned_at=at, send_by=send_by,
                                  message=carries,
                                  mailing_state=item.mailing_state,
                                  property_state=run.market.state, reference=item.key)
            decision = evaluate_send(request, facts[(item.owner_id, contact.contact_id)],
                                     run.rules)
            decisions.append(decision_values(request, decision))
            values.update(template=rendered.template,
                          template_version=rendered.template_version,
                          subject=rendered.subject, body=rendered.body)
            if touch.channel == "sms":
                values["segments"], values["encoding"] = _sms_segments(rendered.body)
            decided.append((item, values))
            if decision.allowed:
                values.update(status="sending", attempted_at=at, error_code=None,
                              error_message=None)
                events.append(_event(item.message_id, "sending", None, "allowed by the gate",
                                     at))
                attempts.append(_Attempt(item.message_id, ChannelMessage(
                    message_id=item.message_id, channel=touch.channel,
                    to_address=contact.value, body=rendered.body, campaign=campaign.name,
                    touch_number=item.number, subject=rendered.subject, html=rendered.html,
                    from_name=run.market.email.sender_name,
                    from_address=run.market.email.from_address,
                    reply_to=run.market.email.reply_to, unsubscribe_url=url,
                    postal_address=postal,
                    status_callback_url=_callback_url(
                        run.config.wholesaler_twilio_status_callback_url, item.message_id),
                    attempted_at=wall_clock), adapter, item.enrollment_id, item.owner_id,
                    item.state, values["segments"]))
                continue
            codes = list(dict.fromkeys(decision.refusal_codes))
            detail = "; ".join(f"{check.code}: {check.detail}" for check in decision.reasons)
            values.update(error_code=_short_code(codes),
                          error_message=f"{','.join(codes)} | {detail}"[:4000])
            if set(codes) <= DEFERRED_REFUSALS:
                values["status"] = "deferred"
                outcomes.append("deferred:" + codes[0])
            else:
                values["status"] = "refused"
                skips.append(_skip_values(item, campaign, run.today, wall_clock))
                outcomes.append("refused:" + next(code for code in codes
                                                  if code not in DEFERRED_REFUSALS))
            events.append(_event(item.message_id, values["status"], values["error_code"],
                                 values["error_message"], at))

        # The writes: decisions first (the message rows point at them), then the rows.
        decision_ids = iter(_allocate_ids(connection, ComplianceDecision, len(decisions)))
        for values in decisions:
            values["compliance_decision_id"] = next(decision_ids)
        if decisions:
            _executemany(connection, _DECISION_INSERT, decisions)
        by_reference = {values["reference"]: values["compliance_decision_id"]
                        for values in decisions}
        for item, values in decided:
            values["compliance_decision_id"] = by_reference.get(item.key)
        inserts = [_new_row(item, values, wall_clock) for item, values in decided
                   if item.is_new]
        updates = [{"b_id": item.message_id, **values} for item, values in decided
                   if not item.is_new]
        if inserts:
            _executemany(connection, _MESSAGE_INSERT, inserts)
        if updates:
            _executemany(connection, _MESSAGE_UPDATE, updates)
        if events:
            _executemany(connection, _EVENT_INSERT, events)
        skips = [values for values in skips if values]
        if skips:
            connection.execute(update(EnrollmentRow).where(
                EnrollmentRow.enrollment_id == bindparam("b_id")), skips)
    return attempts, outcomes, recorded


_GSM7_BASIC_ASCII = re.compile(r"[A-Za-z0-9 \n\r!\"#$%&'()*+,\-./:;<=>?@_]+")


def _sms_segments(body: str) -> tuple[int, str]:
    """(segments, encoding) of an SMS, as `RenderedMessage.sms_segments` / `sms_encoding`
    count them (smsutil), with a fast path for the usual text: only characters of the GSM-7
    basic set that are plain ASCII (one septet each), so 160 fit in one part and 153 in each
    part of a longer message (tests/test_sending.py compares it with smsutil)."""
    if _GSM7_BASIC_ASCII.fullmatch(body):
        return (1 if len(body) <= 160 else -(-len(body) // 153)), "GSM-7"
    split = smsutil.split(body)
    return len(split.parts), "GSM-7" if split.encoding == "gsm0338" else "UCS-2"


def _new_row(item: _Planned, values: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    return {"message_id": item.message_id, "direction": "outbound",
            "channel": item.touch.channel, "idempotency_key": item.key,
            "enrollment_id": item.enrollment_id, "touch_number": item.number,
            "owner_id": item.owner_id, "purpose": "touch", "created_at": at, **values}


def _event(message_id: int, status: str, error_code: str | None, detail: str,
           at: datetime) -> dict[str, Any]:
    return {"message_id": message_id, "status": status, "source": "send",
            "error_code": error_code, "detail": detail[:2000], "at": at}


def _enrollment_values(enrollment_id: int, state: EnrollmentState,
                       at: datetime) -> dict[str, Any]:
    return {"b_id": enrollment_id, "status": state.status.value,
            "touches_sent": state.touches_sent, "last_sent_on": state.last_sent_on,
            "stop_reason": state.stop_reason,
            "paused_status": state.paused_status.value if state.paused_status else None,
            "updated_at": at}


def _skip_values(item: _Planned, campaign: Campaign, on: date,
                 at: datetime) -> dict[str, Any]:
    skipped = _skipped(item.state, campaign, on)
    return _enrollment_values(item.enrollment_id, skipped, at) if skipped else {}


def _plan(run: _Run, batch: Sequence[tuple[int, int]],
          finished: Sequence[tuple[_Attempt, DeliveryResult]] = ()) -> tuple[list[_Attempt], int]:
    """`_plan_batch`, tallied; returns the attempts and how many of the `finished` outcomes
    (recorded in the same transaction) used a slot of the daily cap. If that transaction
    fails, the outcomes are recorded on their own (`_record_outcomes`) and the batch planned
    again; a batch that fails by itself is planned enrollment by enrollment, so one bad
    enrollment (a template error) costs only its own touch."""
    try:
        attempts, outcomes, recorded = _plan_batch(run, batch, finished)
    except Exception:
        if finished:
            used = _record_outcomes(run, finished)
            return _plan(run, batch)[0], used
        if len(batch) > 1:
            return [attempt for one in batch for attempt in _plan(run, [one])[0]], 0
        log.exception("planning the touch of enrollment %s failed", batch[0][0])
        run.tally.add("failed", "planning_error")
        return [], 0
    for kind, reason, cost, _ in recorded:
        run.tally.add(kind, reason, cost=cost)
    for outcome in outcomes:
        kind, _, reason = outcome.partition(":")
        if kind == _Step.SKIPPED:
            run.tally.add("skipped")
        elif kind != _Step.NOT_DUE:
            run.tally.add(kind, reason)
    return attempts, sum(1 for *_, used in recorded if used)


def _throttle_rate(config: SendSettings, channel: str) -> float:
    """Sends a second allowed per sender on the channel (0: no limit)."""
    return (config.wholesaler_sms_per_second if channel == "sms"
            else config.wholesaler_email_per_second)


def _throttle_for(run: _Run, channel: str) -> Throttle:
    with run.lock:
        throttle = run.throttles.get(channel)
        if throttle is None:
            throttle = run.throttles[channel] = Throttle(_throttle_rate(run.config, channel))
        return throttle


def _deliver(run: _Run, attempt: _Attempt) -> tuple[_Attempt, DeliveryResult]:
    """The provider call of one committed attempt, outside any transaction, after the
    per-sender throttle. Never raises: an adapter bug is an unknown outcome."""
    _crash_point("after_attempt_written", run.crashes, run.lock)
    adapter = attempt.adapter
    try:
        if adapter.provider != "outbox":
            _throttle_for(run, attempt.channel_message.channel).acquire(adapter.sender)
        result = adapter.deliver(attempt.channel_message)
    except Exception as error:  # an adapter bug: the outcome is unknown, never re-sent
        log.exception("channel %s raised for message %s", adapter.provider, attempt.message_id)
        result = DeliveryResult(Outcome.UNKNOWN, error_code="adapter_error",
                                error_message=f"{type(error).__name__}: {error}")
    _crash_point("after_provider_accepted", run.crashes, run.lock)
    return attempt, result


def _record_outcomes(run: _Run, finished: Sequence[tuple[_Attempt, DeliveryResult]]) -> int:
    """Transaction 2 for messages whose calls finished together; returns how many of them
    used a slot of the daily volume cap (went, or may have gone, out). A group that fails is
    recorded message by message; a message whose outcome cannot be stored stays `sending`
    for `reconcile_unknown` (counted `unknown`)."""
    try:
        tallies = _record_group(run, finished)
    except Exception:
        if len(finished) > 1:
            return sum(_record_outcomes(run, [one]) for one in finished)
        log.exception("recording the outcome of message %s failed; reconcile will close it",
                      finished[0][0].message_id)
        tallies = [("unknown", "record_error", 0.0, True)]
    for kind, reason, cost, _ in tallies:
        run.tally.add(kind, reason, cost=cost)
    return sum(1 for *_, used in tallies if used)


def _record_group(run: _Run, finished: Sequence[tuple[_Attempt, DeliveryResult]]
                  ) -> list[tuple[str, str, float, bool]]:
    """Store the outcomes of a group in one transaction: accepted messages (the usual case)
    with a few set-based statements (what `_record_outcome` does for one message: status,
    provider id, cost, an event, the enrollment's transition, `contacted` on a lead's first
    send); every other outcome through `_record_outcome`. Returns (tally kind, reason, cost,
    used a slot) per message."""
    try:
        return _record_group_once(run, finished, optimistic=True)
    except _Changed:  # a callback, a reply or a pause got there first: read, then write
        return _record_group_once(run, finished, optimistic=False)


class _Changed(Exception):
    """A row changed since its batch was decided; the group's transaction is rolled back."""


def _record_group_once(run: _Run, finished: Sequence[tuple[_Attempt, DeliveryResult]], *,
                       optimistic: bool) -> list[tuple[str, str, float, bool]]:
    with _write_transaction(run.engine) as session:
        return _record_in(run, session, finished, optimistic=optimistic)


def _record_in(run: _Run, session: Session, finished: Sequence[tuple[_Attempt, DeliveryResult]],
               *, optimistic: bool) -> list[tuple[str, str, float, bool]]:
    """The outcome writes of a group, in the caller's write transaction (its own, or the next
    batch's): accepted messages set-based (`optimistic`: conditional on the rows being as
    decided, else `_Changed`), the others through `_record_outcome`."""
    tallies: list[tuple[str, str, float, bool]] = []
    accepted = [(a, r) for a, r in finished if r.outcome is Outcome.ACCEPTED]
    others = [(a, r) for a, r in finished if r.outcome is not Outcome.ACCEPTED]
    connection = session.connection()
    at = run.clock()
    if accepted and optimistic and connection.dialect.supports_sane_multi_rowcount:
        tallies.extend(_record_accepted_as_decided(run, connection, accepted))
    elif accepted:
        tallies.extend(_record_accepted(run, connection, accepted))
    for attempt, result in others:
        message = session.get(Message, attempt.message_id)
        assert message is not None
        kind = _record_outcome(session, message, result, campaign=run.campaign,
                               pricing=run.pricing, at=at, day=run.today, source="send")
        tallies.append((kind, result.error_code or result.outcome.value,
                        message.cost_usd or 0.0, message.status in SOLICITATION_STATUSES))
    return tallies


def _accepted_cost(run: _Run, provider: str, channel: str, segments: int | None) -> float:
    if provider == "outbox":
        return 0.0
    return ((segments or 1) * run.pricing.sms_segment_usd if channel == "sms"
            else run.pricing.email_usd)


_LEAD_CONTACTED = insert(LeadStatusChange).from_select(
    ["owner_id", "market_code", "status", "changed_by", "note", "changed_at"],
    select(bindparam("owner_id", type_=Integer), bindparam("market_code", type_=String),
           literal("contacted", String), literal("outreach.sending", String),
           bindparam("note", type_=Text), bindparam("changed_at", type_=UtcDateTime))
    .where(func.coalesce(
        select(LeadStatusChange.status)
        .where(LeadStatusChange.owner_id == bindparam("owner_id", type_=Integer))
        .order_by(LeadStatusChange.changed_at.desc(),
                  LeadStatusChange.lead_status_change_id.desc())
        .limit(1).scalar_subquery(), "new") == "new"))
"""A lead's first send: `contacted`, unless its newest status is other than `new` (the rule
of `set_lead_status(..., only_from=("new",))`), in one statement."""


def _record_accepted_as_decided(run: _Run, connection: Connection,
                                accepted: Sequence[tuple[_Attempt, DeliveryResult]]
                                ) -> list[tuple[str, str, float, bool]]:
    """`_record_accepted` without reading the rows first: every update is conditional on the
    row being as the batch left it (message `sending` with no provider id, enrollment in
    its decided state); if any is not, `_Changed` rolls the group back for the careful path."""
    wall_clock, at = datetime.now(UTC), run.clock()
    updates, events, advanced, statuses, tallies = [], [], [], [], []
    for attempt, result in accepted:
        message = attempt.channel_message
        status = result.status or "queued"
        segments = (result.segments if result.segments and message.channel == "sms"
                    else attempt.segments)
        cost = _accepted_cost(run, attempt.adapter.provider, message.channel, segments)
        updates.append({
            "b_id": attempt.message_id, "status": status,
            "provider_message_id": result.provider_message_id,
            "sent_at": at if status in ("sent", "outboxed", "delivered") else None,
            "segments": segments, "cost_usd": cost, "updated_at": wall_clock,
            # as `_record_outcome`: an accepted answer's error code replaces the row's
            "new_error_code": result.error_code, "new_error_message": result.error_message,
            "keep_error": result.error_code is None})
        events.append(_event(attempt.message_id, status, result.error_code,
                             result.error_message or result.outcome.value, at))
        state = attempt.state
        if state is None:
            raise _Changed
        advanced.append({**_enrollment_values(
            attempt.enrollment_id, advance_on_send(state, run.campaign, run.today),
            wall_clock), "was_status": state.status.value, "was_touches": state.touches_sent})
        if state.last_sent_on is None:  # only a lead's first send can make it `contacted`
            statuses.append({"owner_id": attempt.owner_id, "market_code": run.market.code,
                             "note": f"message {attempt.message_id}", "changed_at": at})
        tallies.append(("outboxed" if status == "outboxed" else "sent",
                        result.error_code or result.outcome.value, cost,
                        status in SOLICITATION_STATUSES))
    done = _executemany(connection, _MESSAGE_ACCEPTED, updates)
    if done.rowcount != len(updates):
        raise _Changed
    moved = _executemany(connection, _ENROLLMENT_ADVANCE, advanced)
    if moved.rowcount != len(advanced):
        raise _Changed
    _executemany(connection, _EVENT_INSERT, events)
    if statuses:
        _executemany(connection, _LEAD_CONTACTED, statuses)
    return tallies


_MESSAGE_ACCEPTED = (
    update(Message)
    .where(Message.message_id == bindparam("b_id"), Message.status == "sending",
           Message.provider_message_id.is_(None))
    .values(error_code=case((bindparam("keep_error", type_=Boolean), Message.error_code),
                            else_=bindparam("new_error_code", type_=String)),
            error_message=case((bindparam("keep_error", type_=Boolean), Message.error_message),
                               else_=bindparam("new_error_message", type_=Text))))
_ENROLLMENT_ADVANCE = (
    update(EnrollmentRow)
    .where(EnrollmentRow.enrollment_id == bindparam("b_id"),
           EnrollmentRow.status == bindparam("was_status"),
           EnrollmentRow.touches_sent == bindparam("was_touches")))


def _record_accepted(run: _Run, connection: Connection,
                     accepted: Sequence[tuple[_Attempt, DeliveryResult]]
                     ) -> list[tuple[str, str, float, bool]]:
    ids = [attempt.message_id for attempt, _ in accepted]
    messages = {row.message_id: row for row in connection.execute(
        select(Message.message_id, Message.status, Message.provider_message_id,
               Message.sent_at, Message.segments, Message.channel, Message.provider,
               Message.touch_number, Message.enrollment_id, Message.owner_id,
               Message.error_code, Message.error_message)
        .where(Message.message_id.in_(ids)))}
    enrollments = {row.enrollment_id: row for row in connection.execute(
        select(EnrollmentRow.enrollment_id, EnrollmentRow.market_code, EnrollmentRow.status,
               EnrollmentRow.touches_sent, EnrollmentRow.enrolled_on,
               EnrollmentRow.last_sent_on, EnrollmentRow.stop_reason,
               EnrollmentRow.paused_status)
        .where(EnrollmentRow.enrollment_id.in_(
            sorted({row.enrollment_id for row in messages.values() if row.enrollment_id}))))}
    # Only a lead's first send can move it to `contacted` (as `_record_outcome`).
    first_sends = {row.owner_id for row in messages.values() if row.owner_id is not None
                   and (row.enrollment_id not in enrollments
                        or enrollments[row.enrollment_id].last_sent_on is None)}
    current_status: dict[int, tuple[datetime, int, str]] = {}
    if first_sends:
        for owner_id, changed_at, change_id, status in connection.execute(
                select(LeadStatusChange.owner_id, LeadStatusChange.changed_at,
                       LeadStatusChange.lead_status_change_id, LeadStatusChange.status)
                .where(LeadStatusChange.owner_id.in_(sorted(first_sends)))):
            newest = current_status.get(owner_id)
            if newest is None or (changed_at, change_id) > newest[:2]:
                current_status[owner_id] = (changed_at, change_id, status)
    wall_clock, at = datetime.now(UTC), run.clock()
    updates, events, advanced, statuses = [], [], [], []
    tallies = []
    for attempt, result in accepted:
        row = messages[attempt.message_id]
        status = row.status
        accepted_status = result.status or "queued"
        # A status callback may have got here first: never move a message back.
        if STATUS_RANK.get(accepted_status, 0) >= STATUS_RANK.get(status, 0):
            status = accepted_status
        segments = (result.segments if result.segments and row.channel == "sms"
                    else row.segments)
        cost = _accepted_cost(run, row.provider, row.channel, segments)
        updates.append({
            "b_id": row.message_id, "status": status,
            "provider_message_id": row.provider_message_id or result.provider_message_id,
            "sent_at": row.sent_at or (at if status in ("sent", "outboxed", "delivered")
                                       else None),
            "segments": segments, "cost_usd": cost,
            "error_code": result.error_code if result.error_code else row.error_code,
            "error_message": (result.error_message if result.error_code
                              else row.error_message),
            "updated_at": wall_clock})
        events.append(_event(row.message_id, status, result.error_code,
                             result.error_message or result.outcome.value, at))
        enrollment = enrollments.get(row.enrollment_id)
        if enrollment is not None:
            state = _state_of(enrollment)
            upcoming = next_touch(state, run.campaign)
            if upcoming is not None and upcoming[0] == row.touch_number:
                advanced.append(_enrollment_values(
                    enrollment.enrollment_id, advance_on_send(state, run.campaign, run.today),
                    wall_clock))
        if row.owner_id in first_sends:
            current = current_status.get(row.owner_id)
            if current is None or current[2] == "new":
                statuses.append({"owner_id": row.owner_id,
                                 "market_code": enrollment.market_code if enrollment else "",
                                 "status": "contacted", "changed_by": "outreach.sending",
                                 "note": f"message {row.message_id}", "changed_at": at})
                current_status[row.owner_id] = (at, 0, "contacted")
        tallies.append(("outboxed" if status == "outboxed" else "sent",
                        result.error_code or result.outcome.value, cost,
                        status in SOLICITATION_STATUSES))
    connection.execute(update(Message).where(Message.message_id == bindparam("b_id")), updates)
    connection.execute(insert(MessageEvent), events)
    if advanced:
        connection.execute(update(EnrollmentRow).where(
            EnrollmentRow.enrollment_id == bindparam("b_id")), advanced)
    if statuses:
        connection.execute(insert(LeadStatusChange), statuses)
    return tallies


def _run_in_cap_order(run: _Run, due: Sequence[tuple[int, int]], remaining: int,
                      pool_size: int) -> None:
    """Take the due enrollments ((enrollment id, owner id)) in order, never more attempts in
    flight or done than the daily volume cap allows: a slot a refused or deferred message did
    not use goes to the next enrollment in order, so the cap serves the best-scored leads
    first.

    `pool_size` 1: one enrollment at a time, decided, sent and recorded before the next.
    Otherwise a pipeline (`_pipeline`): batches of `run.batch_size` enrollments are decided
    (one transaction each) and outcomes recorded in groups while `pool_size` threads make the
    provider calls. With at least `WHOLESALER_SEND_PROCESS_MIN` due enrollments the deciding
    and recording run in a second process (`_planner_main`), so the calls never wait for
    the interpreter lock; otherwise in this thread."""
    if pool_size == 1:
        for position, item in enumerate(due):
            if remaining <= 0:
                for _ in due[position:]:
                    run.tally.add("deferred", "daily_volume_cap")
                return
            for attempt in _plan(run, [item])[0]:
                remaining -= _record_outcomes(run, [_deliver(run, attempt)])
        return
    url = run.engine.url
    minimum = run.config.wholesaler_send_process_min
    if (minimum and len(due) >= minimum and run.batch_size > 1
            and not (url.get_backend_name() == "sqlite"
                     and url.database in (None, "", ":memory:"))):
        _run_with_planner_process(run, due, remaining, pool_size)
        return

    finished: queue.SimpleQueue[tuple[_Attempt, DeliveryResult]] = queue.SimpleQueue()

    def call(attempt: _Attempt) -> None:
        try:
            finished.put(_deliver(run, attempt))
        except BaseException:  # never leave the planner waiting for an answer
            finished.put((attempt, DeliveryResult(Outcome.UNKNOWN, error_code="adapter_error",
                                                  error_message="delivery thread failed")))
            raise

    def receive(at_least: int, at_most: int) -> list[tuple[_Attempt, DeliveryResult]]:
        group = [finished.get() for _ in range(at_least)]
        while len(group) < at_most:
            try:
                group.append(finished.get_nowait())
            except queue.Empty:
                break
        return group

    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="send") as pool:
        _pipeline(run, due, remaining, pool_size,
                  lambda attempts: [pool.submit(call, attempt) for attempt in attempts],
                  receive)


class _Pace:
    """How many attempts a pipeline keeps decided ahead of the calls: `seconds` of sends at
    the rate they complete (over the last second; before any complete, the throttle's rate
    for the campaign's channels, or none when a channel is unthrottled). `batch()` is the
    size of the next batch and `low_water()` how few attempts may be left in flight before
    it is decided, so beyond the calls in progress at most about `seconds` of sends are
    decided and not yet made: at 4 texts a second four messages (one second's worth), at 700
    a second 700."""

    WINDOW = 1.0  # seconds of completions the rate is measured over

    def __init__(self, seconds: float, pool_size: int, batch_size: int,
                 configured_rate: float | None) -> None:
        self.seconds, self.pool_size, self.batch_size = seconds, pool_size, batch_size
        self.configured_rate = configured_rate
        self.started: float | None = None  # the first hand-over to the calls
        self.completed: deque[tuple[float, int]] = deque()  # (when, how many)
        self.in_window = 0

    def submitted(self) -> None:
        if self.started is None:
            self.started = monotonic()

    def observe(self, count: int) -> None:
        if count:
            self.completed.append((monotonic(), count))
            self.in_window += count

    def rate(self) -> float | None:
        """Sends a second now, or None before anything is known (or when nothing completed
        in the last second: then the throttle's rate again)."""
        now = monotonic()
        while self.completed and self.completed[0][0] < now - self.WINDOW:
            self.in_window -= self.completed.popleft()[1]
        if self.in_window and self.started is not None:
            span = min(self.WINDOW, max(now - self.started, 0.05))
            measured = self.in_window / span
            return min(measured, self.configured_rate) if self.configured_rate else measured
        return self.configured_rate

    def ahead(self) -> int | None:
        """Attempts to keep decided beyond the calls in progress (None: not known yet)."""
        rate = self.rate()
        return None if rate is None else max(1, math.ceil(rate * self.seconds))

    def batch(self) -> int:
        ahead = self.ahead()
        return self.batch_size if ahead is None else min(self.batch_size, ahead)

    def low_water(self) -> int:
        """Decide the next batch when at most this many attempts are in flight (in a call
        or waiting for one)."""
        ahead = self.ahead()
        if ahead is None:
            return max(self.pool_size, self.batch_size // 2)
        return self.pool_size + max(0, ahead - self.batch())


def _configured_rate(run: _Run) -> float | None:
    """The most sends a second the throttles allow for the campaign's channels to providers
    (None when such a channel has no limit, or every channel is the outbox, which writes
    files and is never throttled)."""
    rates = []
    for channel in sorted({touch.channel for touch in run.campaign.touches}):
        if run.channels.for_channel(channel).provider == "outbox":
            continue
        rate = _throttle_rate(run.config, channel)
        if rate <= 0:
            return None
        rates.append(rate)
    return sum(rates) or None


def _pipeline(run: _Run, due: Sequence[tuple[int, int]], remaining: int, pool_size: int,
              submit: Callable[[list[_Attempt]], object],
              receive: Callable[[int, int], list[tuple[_Attempt, DeliveryResult]]]) -> None:
    """Decide batches and record outcomes, handing the attempts to `submit` and taking the
    calls' results from `receive(at_least, at_most)`. The next batch is decided when few
    enough attempts are still waiting (`_Pace`: about `WHOLESALER_SEND_AHEAD_SECONDS` of
    sends), so the calls never wait for the ledger; the results that came back meanwhile are
    recorded in that batch's transaction (on their own when no batch is due: at the end, at
    the daily cap, or after a whole batch of them)."""
    pace = _Pace(run.config.wholesaler_send_ahead_seconds, pool_size, run.batch_size,
                 _configured_rate(run))
    in_flight = 0  # attempts handed to `submit` whose result has not come back
    received: list[tuple[_Attempt, DeliveryResult]] = []  # back, not yet recorded
    position = 0

    def take(at_least: int) -> None:
        nonlocal in_flight
        group = receive(at_least, in_flight)
        in_flight -= len(group)
        received.extend(group)
        pace.observe(len(group))

    def record() -> None:
        nonlocal remaining
        remaining -= _record_outcomes(run, received)
        received.clear()

    while True:
        take(0)
        # Attempts in flight or not yet recorded hold their slots of the daily cap.
        free = remaining - in_flight - len(received)
        low_water = pace.low_water()
        if position < len(due) and free > 0 and in_flight <= low_water:
            batch = due[position:position + min(pace.batch(), free)]
            position += len(batch)
            attempts, used = _plan(run, batch, received)  # records `received` too
            remaining -= used
            received.clear()
            if attempts:
                in_flight += len(attempts)
                submit(attempts)
                pace.submitted()
            continue
        if received and (free <= 0 or position >= len(due) or in_flight == 0
                         or len(received) >= run.batch_size):
            record()
            continue
        if in_flight == 0:
            for _ in due[position:]:
                run.tally.add("deferred", "daily_volume_cap")
            return
        if position < len(due) and free > 0:
            take(in_flight - low_water)  # until the next batch may be decided
        else:
            take(1)


@dataclass(frozen=True)
class _NamedAdapter:
    """What the planner process knows of a channel: its provider and sender (the calls are
    made by the sending process)."""

    provider: str
    sender: str

    def deliver(self, message: ChannelMessage) -> DeliveryResult:
        raise RuntimeError("the planner process does not send")

    def find_sent(self, query: SentRecordQuery) -> DeliveryResult | None:
        raise RuntimeError("the planner process does not reconcile")


@dataclass(frozen=True)
class _PlannerSpec:
    """Everything the planner process needs (picklable: no engine, no adapters)."""

    ledger_url: str
    campaign: Campaign
    campaign_id: int
    market: Market
    now: datetime
    started: float  # the run's clock: `now` at this time.monotonic() (see `_Run.clock`)
    today: date
    config: SendSettings
    rules: RuleSet
    secret: bytes
    addresses: Mapping[str, str] | None
    pricing: _Pricing
    batch_size: int
    adapters: dict[str, tuple[str, str]]  # channel -> (provider, sender)
    due: Sequence[tuple[int, int]]
    remaining: int
    pool_size: int


def _tally_state(tally: _Tally) -> dict[str, Any]:
    return {"counts": dict(tally.counts), "refused": dict(tally.refused),
            "deferred": dict(tally.deferred), "failed": dict(tally.failed),
            "cost": tally.cost}


def _large_page_cache(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB
    cursor.close()


def _give_way(config: SendSettings) -> str:
    """Lower this (the planner) process's scheduling priority below the calls': the idle
    class where the platform has one and the settings ask for it, else the nice value.
    Returns what it did ("idle", "nice N" or "none")."""
    if config.wholesaler_send_planner_idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
        except OSError as error:  # a container may forbid it: fall back to nice
            log.warning("the send planner could not take the idle class (%s); using nice",
                        error)
    if config.wholesaler_send_planner_nice and hasattr(os, "nice"):
        os.nice(config.wholesaler_send_planner_nice)
        return f"nice {config.wholesaler_send_planner_nice}"
    return "none"


def _planner_main(spec: _PlannerSpec, connection: Any) -> None:
    """The planner process: decides the batches and records the outcomes of a run whose calls
    the parent process makes. Sends `("attempts", [(message id, ChannelMessage)])`, receives
    `("results", [(message id, outcome fields…)])`, ends with `("done", tally)` or `("error",
    text)`. A parent that goes away (EOF) ends it too; what it wrote is committed, attempts
    left `sending` are for `reconcile_unknown` as after any crash."""
    try:
        _give_way(spec.config)  # the calls go first
        engine = ledger_engine(spec.ledger_url)
        if engine.dialect.name == "sqlite":  # a 100 k-message ledger outgrows the 2 MB default
            event.listen(engine, "connect", _large_page_cache)
        adapters = {channel: _NamedAdapter(provider, sender)
                    for channel, (provider, sender) in spec.adapters.items()}
        run = _Run(engine=engine, campaign=spec.campaign, campaign_id=spec.campaign_id,
                   market=spec.market, policy=MarketPolicy.from_market(spec.market),
                   channels=Channels(sms=adapters["sms"], email=adapters["email"]),
                   now=spec.now, today=spec.today, config=spec.config, rules=spec.rules,
                   secret=spec.secret, addresses=spec.addresses, pricing=spec.pricing,
                   batch_size=spec.batch_size, started=spec.started)
        waiting: dict[int, _Attempt] = {}
        # What lives for the whole run (the due list, the campaign, imported modules) leaves
        # the collector's generations: a run makes garbage by the batch, and each full
        # collection would otherwise walk the 100 k due enrollments again.
        gc.collect()
        gc.freeze()

        def submit(attempts: list[_Attempt]) -> None:
            waiting.update((attempt.message_id, attempt) for attempt in attempts)
            connection.send(("attempts", [(a.message_id, a.channel_message) for a in attempts]))

        def receive(at_least: int, at_most: int) -> list[tuple[_Attempt, DeliveryResult]]:
            group: list[tuple[_Attempt, DeliveryResult]] = []
            while len(group) < at_least or (len(group) < at_most and connection.poll(0)):
                _, results = connection.recv()
                group.extend((waiting.pop(message_id), DeliveryResult(Outcome(outcome), *rest))
                             for message_id, outcome, *rest in results)
            return group

        _pipeline(run, spec.due, spec.remaining, spec.pool_size, submit, receive)
        connection.send(("done", _tally_state(run.tally)))
        engine.dispose()
    except (EOFError, BrokenPipeError):  # the parent is gone
        return
    except BaseException:
        connection.send(("error", traceback.format_exc()))


# How the sending process groups the calls' results for the planner (see
# `_run_with_planner_process`): at most this many, gathered for at most this long.
_RESULT_GROUP = 64
_RESULT_GATHER_SECONDS = 0.005

_PLANNER_CODE = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
                 "from outreach.sending import _planner_entry; _planner_entry(int(sys.argv[2]))")


def _planner_entry(descriptor: int) -> None:
    """The planner process's start: its end of the socket pair, the spec, then the run."""
    connection = multiprocessing.connection.Connection(descriptor)
    _planner_main(connection.recv(), connection)


def _run_with_planner_process(run: _Run, due: Sequence[tuple[int, int]], remaining: int,
                              pool_size: int) -> None:
    """The sending side of a run whose batches a planner process decides (`_planner_main`):
    this process only makes the provider calls, `pool_size` at a time, and reports the
    results back in groups. The planner is a fresh interpreter (`sys.executable -c`, our
    `sys.path`) talking over a socket pair: no fork of a threaded process, and no re-import
    of the caller's main module. A planner that cannot start (it sent nothing) leaves the run to
    this process."""
    spec = _PlannerSpec(
        ledger_url=run.engine.url.render_as_string(hide_password=False),
        campaign=run.campaign, campaign_id=run.campaign_id, market=run.market, now=run.now,
        started=run.started, today=run.today, config=run.config, rules=run.rules, secret=run.secret,
        addresses=dict(run.addresses) if run.addresses else None, pricing=run.pricing,
        batch_size=run.batch_size,
        adapters={channel: (adapter.provider, adapter.sender) for channel, adapter
                  in (("sms", run.channels.sms), ("email", run.channels.email))},
        due=list(due), remaining=remaining, pool_size=pool_size)
    mine, theirs = socket.socketpair()
    try:
        planner = subprocess.Popen(  # sys.executable and our own module, no shell
            [sys.executable, "-c", _PLANNER_CODE, json.dumps(sys.path), str(theirs.fileno())],
            pass_fds=[theirs.fileno()])
    finally:
        theirs.close()
    ours = multiprocessing.connection.Connection(mine.detach())
    ours.send(spec)
    heard = False
    # Results go back in groups: the reporter wakes for the first result after a send, then
    # gathers for up to `_RESULT_GATHER_SECONDS` (or `_RESULT_GROUP` results), so the two
    # processes exchange a message per group, not per call (each exchange costs both sides a
    # wake-up, a pickle and a system call).
    finished: list[tuple[Any, ...]] = []
    ready = threading.Condition()
    stopping = False

    def report_results() -> None:
        while True:
            with ready:
                while not finished and not stopping:
                    ready.wait()
                if not finished:
                    return
                deadline = monotonic() + _RESULT_GATHER_SECONDS
                while len(finished) < _RESULT_GROUP and not stopping:
                    left = deadline - monotonic()
                    if left <= 0:
                        break
                    ready.wait(left)
                group = finished[:]
                finished.clear()
            try:
                ours.send(("results", group))
            except OSError:  # the planner is gone; the run ends with its error
                return

    def call(message_id: int, message: ChannelMessage) -> None:
        attempt = _Attempt(message_id, message, run.channels.for_channel(message.channel))
        try:
            _, result = _deliver(run, attempt)
        except BaseException:
            result = DeliveryResult(Outcome.UNKNOWN, error_code="adapter_error",
                                    error_message="delivery thread failed")
        with ready:
            finished.append((message_id, result.outcome.value, result.status,
                             result.provider_message_id, result.error_code,
                             result.error_message, result.segments))
            if len(finished) == 1 or len(finished) >= _RESULT_GROUP:
                ready.notify()

    # The calls: `pool_size` threads taking attempts from one queue (None ends a thread).
    attempts: queue.SimpleQueue[tuple[int, ChannelMessage] | None] = queue.SimpleQueue()

    def caller() -> None:
        while (item := attempts.get()) is not None:
            call(*item)

    reporter = threading.Thread(target=report_results, name="send-results", daemon=True)
    reporter.start()
    callers = [threading.Thread(target=caller, name=f"send-{number}", daemon=True)
               for number in range(pool_size)]
    for thread in callers:
        thread.start()

    try:
        while True:
            try:
                kind, payload = ours.recv()
            except EOFError:
                if heard:
                    raise RuntimeError("the send planner process ended early (exit code "
                                       f"{planner.wait(30)})") from None
                log.warning("the send planner process did not start (exit code %s); "
                            "deciding in this process", planner.wait(30))
                kind = "fallback"
                break
            heard = True
            if kind == "attempts":
                for item in payload:
                    attempts.put(item)
            elif kind == "done":
                break
            else:
                raise RuntimeError(f"the send planner process failed:\n{payload}")
    finally:
        for _ in callers:  # each thread ends after the attempts queued before its None
            attempts.put(None)
        for thread in callers:
            thread.join()
        with ready:
            stopping = True
            ready.notify()
        reporter.join(timeout=30)
        ours.close()
        try:
            planner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            planner.kill()
    if kind == "fallback":
        saved = run.config
        run.config = saved.model_copy(update={"wholesaler_send_process_min": 0})
        try:
            _run_in_cap_order(run, due, remaining, pool_size)
        finally:
            run.config = saved
        return
    tally = run.tally
    with tally.lock:
        tally.counts.update(payload["counts"])
        tally.refused.update(payload["refused"])
        tally.deferred.update(payload["deferred"])
        tally.failed.update(payload["failed"])
        tally.cost += payload["cost"]


def send_due(engine: Engine, campaign: Campaign, market: Market, now: datetime, *,
             channels: Channels | None = None, limit: int | None = None,
             addresses: Mapping[str, str] | None = None, workers: int | None = None,
             rules: RuleSet | None = None, config: SendSettings | None = None) -> SendRunReport:
    """One send run of `campaign` in `market` at `now` (see the module docstring).

    `channels`: default `Channels.for_market(market, campaign)`. `limit`: at most this many
    due enrollments are taken up in this run. `addresses`: parcel id -> situs address for the
    `property_address` of the templates (else the parcel id and market name). `workers`:
    messages in flight at once (default `WHOLESALER_SEND_WORKERS`); 1 decides, sends and
    records one message at a time, more pipelines batches of `WHOLESALER_SEND_BATCH`."""
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
            select(EnrollmentRow.enrollment_id, EnrollmentRow.owner_id,
                   EnrollmentRow.enrolled_on, EnrollmentRow.status,
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
    due = [(row.enrollment_id, row.owner_id) for row in rows
           if is_due(EnrollmentState(enrolled_on=row.enrolled_on, status=Status(row.status),
                                     touches_sent=row.touches_sent,
                                     last_sent_on=row.last_sent_on), campaign, today)]
    if limit is not None:
        due = due[:max(0, limit)]
    report.due = len(due)
    # An LLM-written touch waits for the model inside its transaction: one at a time, so the
    # ledger's write lock is never held for a whole batch of model calls.
    llm = any(touch.writer == "llm" for touch in campaign.touches)
    run = _Run(engine=engine, campaign=campaign, campaign_id=campaign_id, market=market,
               policy=MarketPolicy.from_market(market), channels=channels, now=now,
               today=today, config=config, rules=rules or default_rule_set(),
               secret=unsubscribe_secret(config), addresses=addresses,
               pricing=_Pricing(market.costs.sms_segment_usd, market.costs.email_usd),
               batch_size=1 if llm else config.wholesaler_send_batch)
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
                      markets: Mapping[str, Market] | None = None,
                      campaign_names: Iterable[str] | None = None) -> ReconcileReport:
    """Close attempts left `sending` (a crash between the attempt and its outcome) or
    `unknown` (no answer) from the provider's record: Twilio's message list (To, body,
    created since the attempt), the outbox file. No record after `grace` (default
    `WHOLESALER_RECONCILE_GRACE_MINUTES`): the row is `unknown`, held for a person. SMTP keeps
    no record to ask: its rows are held after the grace period. Nothing is re-sent.
    `market_code`: only the attempts of that market's enrollments (default: all);
    `campaign_names`: only those campaigns' attempts (the Dagster asset asks once per market
    and set of channels, so each open attempt is looked at once per run)."""
    grace = grace if grace is not None else timedelta(
        minutes=send_settings().wholesaler_reconcile_grace_minutes)
    report = ReconcileReport()
    query = (select(Message.message_id, Message.provider, Message.channel, Message.status,
                    Message.attempted_at, Message.created_at)
             .where(Message.direction == "outbound", Message.status.in_(OPEN_ATTEMPT_STATUSES))
             .order_by(Message.message_id))
    if market_code is not None or campaign_names is not None:
        query = query.join(EnrollmentRow, EnrollmentRow.enrollment_id == Message.enrollment_id)
    if market_code is not None:
        query = query.where(EnrollmentRow.market_code == market_code)
    if campaign_names is not None:
        query = query.join(CampaignRecord, CampaignRecord.campaign_id == EnrollmentRow.campaign_id
                           ).where(CampaignRecord.name.in_(sorted(set(campaign_names))))
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
