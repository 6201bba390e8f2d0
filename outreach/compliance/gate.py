"""The compliance gate: the one function every send goes through.

`evaluate_send(request, facts, rules)` answers allow or refuse for one planned message and
gives every reason. It is a pure function of three typed inputs, so it is fast, testable,
and the same on every path (drip sends, replies, the outbox):

- `SendRequest`: what the caller wants to do: the channel (sms or email), the contact and
  its owner (the person), the address (E.164 phone or email), the market's policy
  (`MarketPolicy.from_market(market)`), the message (`OutgoingMessage`: for email, whether it
  carries the unsubscribe link and the postal address), the planned instant, and the
  mailing / property address states.
- `GateFacts`: a snapshot of the ledger about that person and contact, loaded by the caller
  (`outreach.compliance.store.load_gate_facts`): suppressions and opt-outs, consent records,
  the contact's newest DNC scrub and the lists holding the number now, recent solicitations.
- `RuleSet`: the rules files (`outreach.compliance.rules`).

Checks, each of which can refuse on its own (every failing check is reported, not just the
first): the facts belong to the request; the contact is usable; suppressions and opt-outs
(permanent, per person or per contact, per channel or all); the time window (SMS; at the
planned instant and at `send_by`, the latest the send may go, when given); the caps
(per person in any 24 h across numbers, per contact per calendar day); DNC (listed on any
list now or at the scrub; registry copy missing or older than the limit on the send day;
state lists missing or stale; never scrubbed); the market's `sms_policy` and any state rule
requiring consent (`consent_required`: a recorded, unrevoked SMS consent for that contact;
`dnc_scrubbed`: a fresh clean scrub); for email, the market's postal address and the
message's unsubscribe link and postal address.

Purposes (`SendRequest.purpose`, rules as data in `PURPOSE_RULES`): a campaign `touch` gets
every check above. The replies side sends other messages through the same gate, each with
its own rule: `opt_out_confirmation` (allowed to the person who just opted out, once per
opt-out, within five minutes of it, FCC 24-24), `resubscribe_confirmation` and `help`
(answers the person asked for, once per inbound message, at any hour; HELP even to an
opted-out person, as carriers require), `auto_reply` (an answer to a question: suppressions,
hours, DNC and consent apply, but it is not a solicitation for the caps) and `staff_notice`
(a handoff notice, only to an address the market names as its closer).

The caller records the decision with `outreach.compliance.store.record_decision` in the same
transaction as the send attempt, and sends only when `decision.allowed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.compliance.rules import Channel, RuleSet, StrictestRules, default_rule_set
from outreach.compliance.window import (
    InvalidPhoneError,
    WindowDecision,
    candidate_places,
    evaluate_window,
    normalise_phone,
)

if TYPE_CHECKING:
    from markets.schema import Market

SmsPolicy = Literal["consent_required", "dnc_scrubbed"]
Purpose = Literal["touch", "opt_out_confirmation", "resubscribe_confirmation", "help",
                  "auto_reply", "staff_notice"]


# ------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class MarketPolicy:
    """What the gate needs of a market: its code, state, zones, SMS policy and the email
    sender identity (CAN-SPAM needs the postal address)."""

    code: str
    state: str
    sms_policy: SmsPolicy
    time_zones: tuple[str, ...] = ()
    email_postal_address: str | None = None
    email_from_address: str | None = None
    # Where handoff notices may go (the closer's phone and email; `staff_notice` only).
    staff_addresses: tuple[str, ...] = ()

    @classmethod
    def from_market(cls, market: Market) -> MarketPolicy:
        return cls(code=market.code, state=market.state, sms_policy=market.sms_policy,
                   time_zones=tuple(market.time_zones),
                   email_postal_address=market.email.postal_address,
                   email_from_address=market.email.from_address)


@dataclass(frozen=True)
class OutgoingMessage:
    """What the gate needs to know of the message itself (the channel renders it first)."""

    has_unsubscribe_link: bool = False
    has_postal_address: bool = False


@dataclass(frozen=True)
class SendRequest:
    """One planned message to one contact.

    `to_address`: the E.164 number (sms) or email address, used for the area code; it is not
    stored with the decision. `reference`: the caller's idempotency key for this send (e.g.
    `enrollment:touch:channel`); a decision with the same reference is not counted against
    its own caps when the gate is asked again. `send_by`: the latest instant the message may
    actually go out when that is later than `planned_at` (a send run decides its batches a
    moment ahead of the calls); the time window must allow both instants.
    """

    channel: Channel
    owner_id: int
    contact_id: int
    to_address: str
    market: MarketPolicy
    planned_at: datetime
    message: OutgoingMessage = field(default_factory=OutgoingMessage)
    mailing_state: str | None = None
    property_state: str | None = None
    extra_zones: tuple[str, ...] = ()
    reference: str | None = None
    purpose: Purpose = "touch"
    # Replies: the inbound message answered, and when it arrived.
    in_reply_to_id: int | None = None
    in_reply_to_at: datetime | None = None
    send_by: datetime | None = None


@dataclass(frozen=True)
class PriorReply:
    """A reply already sent (or being sent) in answer to an inbound message."""

    purpose: str
    in_reply_to_id: int
    reference: str | None
    at: datetime


@dataclass(frozen=True)
class SuppressionFact:
    """A permanent stop: for the person (owner) or one contact, one channel or all."""

    suppression_id: int | None
    scope: Literal["person", "contact"]
    channel: Literal["sms", "email", "all"]
    reason: str
    created_at: datetime
    message_id: int | None = None  # the message that caused it (an inbound opt-out)


@dataclass(frozen=True)
class ConsentFact:
    """A consent record of the contact: channel, when given, when revoked (if ever)."""

    consent_id: int | None
    channel: Literal["sms", "email"]
    source: str
    granted_at: datetime
    revoked_at: datetime | None = None

    def is_valid_at(self, at: datetime) -> bool:
        return self.granted_at <= at and (self.revoked_at is None or self.revoked_at > at)


@dataclass(frozen=True)
class ScrubFact:
    """The contact's newest DNC scrub (see outreach.ledger.dnc_store)."""

    scrubbed_at: datetime
    is_listed: bool
    listed_on: tuple[str, ...]
    national_downloaded_on: date | None
    state_downloaded_on: date | None


@dataclass(frozen=True)
class StateListFact:
    """The newest loaded copy of a state do-not-call list (None: never loaded)."""

    key: str
    downloaded_on: date | None


@dataclass(frozen=True)
class Solicitation:
    """A message already sent (or allowed to be sent) to the person."""

    at: datetime
    contact_id: int
    channel: Channel
    reference: str | None = None


@dataclass(frozen=True)
class GateFacts:
    """A snapshot of the ledger about one person and one of their contacts."""

    owner_id: int
    contact_id: int
    loaded_at: datetime
    contact_channel: Literal["phone", "email"]
    contact_is_valid: bool = True
    contact_is_wrong_number: bool = False
    suppressions: tuple[SuppressionFact, ...] = ()
    consents: tuple[ConsentFact, ...] = ()
    latest_scrub: ScrubFact | None = None
    listed_on_now: tuple[str, ...] = ()
    state_lists: tuple[StateListFact, ...] = ()
    recent_solicitations: tuple[Solicitation, ...] = ()
    prior_replies: tuple[PriorReply, ...] = ()


@dataclass(frozen=True)
class PurposeRule:
    """Which checks apply to a message of one purpose. `suppressions`: `refuse` (any
    suppression refuses), `ignore` (not checked: the person must still get it), or
    `confirm_opt_out` (allowed only as the confirmation of an opt-out recorded from the
    inbound message it answers). `once_per_inbound`: one message of this purpose per inbound
    message. `max_delay`: at most this long after the inbound message arrived."""

    suppressions: Literal["refuse", "ignore", "confirm_opt_out"] = "refuse"
    window: bool = True
    caps: bool = True
    dnc: bool = True
    consent: bool = True
    email_requirements: bool = True
    once_per_inbound: bool = False
    needs_inbound: bool = False
    max_delay: timedelta | None = None
    staff_only: bool = False
    source: str = ""


PURPOSE_RULES: dict[str, PurposeRule] = {
    "touch": PurposeRule(source="every rule file (a solicitation)"),
    "opt_out_confirmation": PurposeRule(
        suppressions="confirm_opt_out", window=False, caps=False, dnc=False, consent=False,
        email_requirements=False, once_per_inbound=True, needs_inbound=True,
        max_delay=timedelta(minutes=5),
        source="FCC 24-24 (47 CFR 64.1200(a)(12)): one confirmation text within five "
               "minutes, no marketing"),
    "resubscribe_confirmation": PurposeRule(
        window=False, caps=False, dnc=False, consent=False, email_requirements=False,
        once_per_inbound=True, needs_inbound=True,
        source="CTIA messaging principles: confirm an opt-in (START)"),
    "help": PurposeRule(
        suppressions="ignore", window=False, caps=False, dnc=False, consent=False,
        email_requirements=False, once_per_inbound=True, needs_inbound=True,
        source="CTIA messaging principles: HELP is answered, also after an opt-out"),
    "auto_reply": PurposeRule(
        caps=False, once_per_inbound=True, needs_inbound=True,
        source="house policy: an answer to the person's question; hours, suppressions, DNC "
               "and consent apply; not counted as a solicitation"),
    "staff_notice": PurposeRule(
        suppressions="ignore", window=False, caps=False, dnc=False, consent=False,
        email_requirements=False, staff_only=True,
        source="house policy: handoff notices go only to the market's closer"),
}


# ------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True)
class Check:
    """One rule checked: its code, whether it passed, and a sentence saying why."""

    code: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class GateDecision:
    """Allow or refuse, with every check made (`checks`) and the failing ones (`reasons`)."""

    allowed: bool
    checks: tuple[Check, ...]
    channel: Channel
    owner_id: int
    contact_id: int
    planned_at: datetime
    rule_set_version: str
    jurisdictions: tuple[str, ...]
    window: WindowDecision | None = None
    reference: str | None = None

    @property
    def reasons(self) -> tuple[Check, ...]:
        """The checks that refused (empty when allowed)."""
        return tuple(check for check in self.checks if not check.ok)

    @property
    def refusal_codes(self) -> tuple[str, ...]:
        return tuple(check.code for check in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "channel": self.channel, "owner_id": self.owner_id,
                "contact_id": self.contact_id,
                "planned_at": self.planned_at.astimezone(UTC).isoformat(),
                "rule_set_version": self.rule_set_version,
                "jurisdictions": list(self.jurisdictions), "reference": self.reference,
                "checks": [check.as_dict() for check in self.checks],
                "window": self.window.as_dict() if self.window else None}


# Refusal codes, each with what it means (docs/compliance.md lists them too).
REFUSAL_CODES: dict[str, str] = {
    "facts_mismatch": "the facts were loaded for another person or contact",
    "channel_mismatch": "the contact is not of the channel's kind (sms needs a phone)",
    "contact_unusable": "the contact is invalid or marked a wrong number",
    "invalid_address": "the phone number cannot be placed (no area code)",
    "suppressed": "the person or contact opted out or is suppressed (permanent)",
    "outside_hours": "outside the strictest send window in some candidate time zone",
    "unknown_time_zone": "no known time zone for the recipient",
    "person_cap_24h": "the person had the maximum solicitations in the last 24 h",
    "contact_cap_day": "the contact had the maximum messages this calendar day",
    "dnc_listed": "the number is on a do-not-call list (national, state, internal, vendor)",
    "dnc_not_scrubbed": "the number was never scrubbed against the DNC lists",
    "dnc_registry_missing": "no national registry copy was used for the number",
    "dnc_registry_stale": "the registry copy is older than the limit on the send day",
    "dnc_state_list_missing": "a required state do-not-call list is not loaded",
    "dnc_state_list_stale": "the state do-not-call list copy is too old",
    "no_consent": "SMS needs a recorded, unrevoked consent for this contact",
    "email_no_postal_address": "the market has no postal address or the email lacks it",
    "email_no_unsubscribe_link": "the email has no unsubscribe link",
    "unknown_purpose": "the message purpose is not one the gate knows",
    "not_staff_recipient": "a staff notice to an address the market does not name",
    "no_inbound": "a reply that names no inbound message it answers",
    "no_opt_out_to_confirm": "no opt-out from the answered message is in force",
    "reply_already_sent": "a reply of this purpose to that message went out already",
    "reply_too_late": "later than the purpose allows after the inbound message",
}


# ------------------------------------------------------------------------------------------
# The gate


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a UTC offset)")
    return value


def _local_dates(at: datetime, zones: Iterable[str]) -> set[date]:
    dates = set()
    for name in zones:
        try:
            dates.add(at.astimezone(ZoneInfo(name)).date())
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return dates or {at.astimezone(UTC).date()}


def _same_local_day(first: datetime, second: datetime, zones: tuple[str, ...]) -> bool:
    """True when the two instants fall on the same calendar day in any candidate zone (the
    strict reading: a contact may be in any of them)."""
    for name in zones or ("UTC",):
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        if first.astimezone(zone).date() == second.astimezone(zone).date():
            return True
    return False


def _check_identity(request: SendRequest, facts: GateFacts) -> list[Check]:
    checks = []
    if (facts.owner_id, facts.contact_id) != (request.owner_id, request.contact_id):
        checks.append(Check("facts_mismatch", False,
                            f"facts are for owner {facts.owner_id} / contact "
                            f"{facts.contact_id}, the request for owner {request.owner_id} / "
                            f"contact {request.contact_id}"))
    wanted_kind = {"sms": "phone", "email": "email"}.get(request.channel)
    if wanted_kind is None:
        checks.append(Check("channel_mismatch", False,
                            f"unknown channel {request.channel!r}; the gate knows sms and email"))
    elif facts.contact_channel != wanted_kind:
        checks.append(Check("channel_mismatch", False,
                            f"{request.channel} needs a {wanted_kind} contact; contact "
                            f"{request.contact_id} is an {facts.contact_channel}"))
    if not facts.contact_is_valid or facts.contact_is_wrong_number:
        checks.append(Check("contact_unusable", False,
                            "the contact is " + ("marked a wrong number"
                                                 if facts.contact_is_wrong_number
                                                 else "not valid")))
    if not checks:
        checks.append(Check("contact", True, f"{request.channel} contact {request.contact_id} "
                                             f"of owner {request.owner_id} is usable"))
    return checks


def _check_suppressions(request: SendRequest, facts: GateFacts) -> Check:
    # Whenever it was recorded (even after the planned time), a suppression stops the send:
    # opt-outs are honoured at once and forever.
    hits = [s for s in facts.suppressions if s.channel in (request.channel, "all")]
    if hits:
        described = "; ".join(f"{s.scope} {s.channel} since {s.created_at:%Y-%m-%d %H:%M} UTC "
                              f"({s.reason})" for s in hits)
        return Check("suppressed", False, f"suppressed: {described}")
    return Check("suppressed", True, f"no suppression or opt-out for {request.channel}")


def _check_caps(request: SendRequest, facts: GateFacts, strictest: StrictestRules,
                zones: tuple[str, ...]) -> list[Check]:
    checks = []
    # Other sends, earlier or already allowed for later: any 24 h period holding this send
    # must stay within the cap, so sends up to 24 h either side count.
    others = [s for s in facts.recent_solicitations
              if request.reference is None or s.reference != request.reference]
    person_cap = strictest.per_person_per_24h
    if person_cap is not None:
        span = timedelta(hours=24)
        counted = [s for s in others if abs(s.at - request.planned_at) < span
                   and s.channel == request.channel]
        ok = len(counted) < person_cap
        checks.append(Check("person_cap_24h", ok,
                            f"{len(counted)} other {request.channel} solicitation(s) to the "
                            f"person across all numbers within 24 h of the send; at most "
                            f"{person_cap} in 24 h ({', '.join(strictest.cap_sources)})"))
    contact_cap = strictest.per_contact_per_day
    if contact_cap is not None:
        counted = [s for s in others if s.contact_id == request.contact_id
                   and _same_local_day(s.at, request.planned_at, zones)]
        ok = len(counted) < contact_cap
        checks.append(Check("contact_cap_day", ok,
                            f"{len(counted)} message(s) to this contact on the send's calendar "
                            f"day; at most {contact_cap}"))
    return checks


def _check_dnc(request: SendRequest, facts: GateFacts, strictest: StrictestRules,
               send_dates: set[date]) -> list[Check]:
    checks = []
    scrub = facts.latest_scrub
    listed = set(facts.listed_on_now) | (set(scrub.listed_on) if scrub else set())
    if not strictest.internal_list:
        listed.discard("internal")
    if listed:
        checks.append(Check("dnc_listed", False, f"on {', '.join(sorted(listed))}"))
    else:
        checks.append(Check("dnc_listed", True, "on no do-not-call list"))
    if scrub is None:
        checks.append(Check("dnc_not_scrubbed", False,
                            "the number was never scrubbed against the do-not-call lists"))
        return checks
    max_age = strictest.national_registry_max_age_days
    if max_age is not None:
        copy = scrub.national_downloaded_on
        if copy is None:
            checks.append(Check("dnc_registry_missing", False,
                                "the scrub had no national registry copy for this area code"))
        else:
            oldest_send_day_age = max((day - copy).days for day in send_dates)
            newest_send_day_age = min((day - copy).days for day in send_dates)
            if oldest_send_day_age > max_age or newest_send_day_age < 0:
                checks.append(Check("dnc_registry_stale", False,
                                    f"registry copy of {copy} is {oldest_send_day_age} days old "
                                    f"on the send day; at most {max_age} "
                                    f"({', '.join(strictest.dnc_sources)})"))
            else:
                checks.append(Check("dnc_registry_fresh", True,
                                    f"registry copy of {copy} is {oldest_send_day_age} days "
                                    f"old on the send day (at most {max_age})"))
    loaded = {fact.key: fact.downloaded_on for fact in facts.state_lists}
    for state_list in strictest.state_lists:
        copy = loaded.get(state_list.key)
        if copy is None:
            if state_list.required:
                checks.append(Check("dnc_state_list_missing", False,
                                    f"{state_list.name} ({state_list.key}) is not loaded"))
            continue
        age = max((day - copy).days for day in send_dates)
        if state_list.max_age_days is not None and (age > state_list.max_age_days or age < 0):
            checks.append(Check("dnc_state_list_stale", False,
                                f"{state_list.name} copy of {copy} is {age} days old; at most "
                                f"{state_list.max_age_days}"))
        else:
            checks.append(Check("dnc_state_list", True,
                                f"{state_list.name} copy of {copy} loaded"))
    return checks


def _check_consent(request: SendRequest, facts: GateFacts,
                   strictest: StrictestRules) -> Check | None:
    why = []
    if request.market.sms_policy == "consent_required":
        why.append(f"market {request.market.code} sms_policy consent_required")
    if strictest.sms_requires_consent:
        why.append(", ".join(strictest.consent_sources))
    if not why:
        return None
    # A revocation ends a consent whenever it was recorded; a later consent is a new record.
    valid = [c for c in facts.consents if c.channel == "sms" and c.revoked_at is None
             and c.granted_at <= request.planned_at]
    if valid:
        newest = max(valid, key=lambda c: c.granted_at)
        return Check("consent", True, f"SMS consent recorded {newest.granted_at:%Y-%m-%d} "
                                      f"({newest.source}), not revoked")
    revoked = [c for c in facts.consents if c.channel == "sms" and c.revoked_at is not None]
    detail = "no recorded SMS consent for this contact"
    if revoked:
        detail = "SMS consent was revoked"
    return Check("no_consent", False, f"{detail}; required by {'; '.join(why)}")


def _check_email(request: SendRequest, strictest: StrictestRules) -> list[Check]:
    checks = []
    if strictest.email_postal_address_required:
        address = (request.market.email_postal_address or "").strip()
        if not address:
            checks.append(Check("email_no_postal_address", False,
                                f"market {request.market.code} has no postal address"))
        elif not request.message.has_postal_address:
            checks.append(Check("email_no_postal_address", False,
                                "the message does not carry the market's postal address "
                                f"({', '.join(strictest.email_sources)})"))
        else:
            checks.append(Check("email_postal_address", True, "postal address included"))
    if strictest.email_unsubscribe_link_required:
        if request.message.has_unsubscribe_link:
            checks.append(Check("email_unsubscribe_link", True, "unsubscribe link included"))
        else:
            checks.append(Check("email_no_unsubscribe_link", False,
                                "the message has no unsubscribe link "
                                f"({', '.join(strictest.email_sources)})"))
    return checks


def _normalised_address(address: str) -> str:
    text = address.strip()
    if "@" in text:
        return text.lower()
    try:
        return normalise_phone(text)[0]
    except InvalidPhoneError:
        return text


def _check_staff(request: SendRequest) -> Check:
    allowed = {_normalised_address(a) for a in request.market.staff_addresses}
    if _normalised_address(request.to_address) in allowed:
        return Check("staff_recipient", True,
                     f"the market {request.market.code} names this address for notices")
    return Check("not_staff_recipient", False,
                 f"market {request.market.code} names no such closer address "
                 f"({len(allowed)} configured)")


def _check_reply(request: SendRequest, facts: GateFacts, rule: PurposeRule) -> list[Check]:
    """The reply-only checks: which inbound it answers, once, and how late."""
    checks = []
    if rule.needs_inbound and request.in_reply_to_id is None:
        return [Check("no_inbound", False, f"a {request.purpose} names the inbound message "
                                           "it answers (in_reply_to_id)")]
    if rule.once_per_inbound:
        earlier = [r for r in facts.prior_replies
                   if r.purpose == request.purpose and r.in_reply_to_id == request.in_reply_to_id
                   and (request.reference is None or r.reference != request.reference)]
        if earlier:
            checks.append(Check("reply_already_sent", False,
                                f"a {request.purpose} to message {request.in_reply_to_id} was "
                                f"sent at {earlier[0].at:%Y-%m-%d %H:%M} UTC"))
        else:
            checks.append(Check("reply_once", True, f"the first {request.purpose} to message "
                                                    f"{request.in_reply_to_id}"))
    if rule.max_delay is not None:
        arrived = request.in_reply_to_at
        if arrived is None or request.planned_at - arrived > rule.max_delay:
            checks.append(Check("reply_too_late", False,
                                f"{request.purpose} must go within {rule.max_delay} of the "
                                f"message it answers ({rule.source})"))
        else:
            checks.append(Check("reply_in_time", True, f"within {rule.max_delay} of the "
                                                       "message it answers"))
    return checks


def _check_opt_out_confirmation(request: SendRequest, facts: GateFacts) -> Check:
    confirmed = [s for s in facts.suppressions if s.reason == "opt_out"
                 and s.message_id is not None and s.message_id == request.in_reply_to_id]
    if confirmed:
        return Check("opt_out_to_confirm", True,
                     f"confirms the opt-out recorded from message {request.in_reply_to_id} "
                     "(suppressions otherwise refuse every message)")
    return Check("no_opt_out_to_confirm", False,
                 f"no opt-out from message {request.in_reply_to_id} is in force (already "
                 "confirmed under an earlier opt-out, or lifted)")


def evaluate_send(request: SendRequest, facts: GateFacts,
                  rules: RuleSet | None = None) -> GateDecision:
    """Allow or refuse one planned message; every failing rule is a reason. See the module
    docstring for the checks. Never raises for a bad request: it refuses instead."""
    rules = rules or default_rule_set()
    planned_at = _aware(request.planned_at, "request.planned_at")
    rule = PURPOSE_RULES.get(request.purpose)
    if rule is None or rule.staff_only:
        check = (_check_staff(request) if rule is not None else
                 Check("unknown_purpose", False, f"unknown purpose {request.purpose!r}; known: "
                                                 f"{sorted(PURPOSE_RULES)}"))
        return GateDecision(allowed=check.ok, checks=(check,), channel=request.channel,
                            owner_id=request.owner_id, contact_id=request.contact_id,
                            planned_at=planned_at, rule_set_version=rules.version,
                            jurisdictions=(), reference=request.reference)
    checks: list[Check] = list(_check_identity(request, facts))
    address_states = [s for s in (request.mailing_state, request.property_state) if s]
    phone = None
    if request.channel == "sms":
        try:
            phone, _ = normalise_phone(request.to_address)
        except InvalidPhoneError as error:
            checks.append(Check("invalid_address", False, str(error)))
    states, zones = candidate_places(phone, address_states, request.extra_zones)
    if request.channel == "email" and not zones:
        zones = tuple(sorted(set(request.market.time_zones)))
    strictest = rules.strictest(request.channel, states)
    if rule.suppressions == "refuse":
        checks.append(_check_suppressions(request, facts))
    elif rule.suppressions == "confirm_opt_out":
        checks.append(_check_opt_out_confirmation(request, facts))
    else:
        checks.append(Check("suppression_exempt", True,
                            f"a {request.purpose} goes also to a suppressed person "
                            f"({rule.source})"))
    if request.purpose != "touch":
        checks.extend(_check_reply(request, facts, rule))

    window = None
    if request.channel == "sms" and phone is not None and rule.window:
        window = evaluate_window(planned_at, states, zones, rules, "sms", phone)
        late = ""
        if window.allowed and request.send_by is not None:
            send_by = _aware(request.send_by, "request.send_by")
            if send_by > planned_at:  # the window must still be open when the send goes
                latest = evaluate_window(send_by, states, zones, rules, "sms", phone)
                if not latest.allowed:
                    window = latest
                    late = (f"the send may go out as late as {send_by.astimezone(UTC):%H:%M:%S}"
                            " UTC: ")
        if window.window is not None:
            if not window.zones or window.unknown_zones:
                checks.append(Check("unknown_time_zone", False, "; ".join(window.reasons)))
            else:
                checks.append(Check("outside_hours" if not window.allowed else "hours",
                                    window.allowed, late + "; ".join(window.reasons)))
    if rule.caps:
        checks.extend(_check_caps(request, facts, strictest, zones))
    if request.channel == "sms":
        if rule.dnc:
            checks.extend(_check_dnc(request, facts, strictest,
                                     _local_dates(planned_at, zones)))
        consent = _check_consent(request, facts, strictest) if rule.consent else None
        if consent is not None:
            checks.append(consent)
    elif rule.email_requirements:
        checks.extend(_check_email(request, strictest))
    allowed = all(check.ok for check in checks)
    return GateDecision(allowed=allowed, checks=tuple(checks), channel=request.channel,
                        owner_id=request.owner_id, contact_id=request.contact_id,
                        planned_at=planned_at, rule_set_version=rules.version,
                        jurisdictions=strictest.jurisdictions, window=window,
                        reference=request.reference)
