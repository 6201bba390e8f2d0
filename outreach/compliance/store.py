"""The gate's ledger side: consent and suppressions in, gate facts out, decisions recorded.

- `record_consent`, `revoke_consent`, `record_suppression`: write the facts the gate reads.
  Suppressions are permanent (no function removes one).
- `load_gate_facts(session, owner_id, contact_id, now, history=...)`: the `GateFacts`
  snapshot for one person and contact: their suppressions (by owner, and by the contact's
  value hash, so an opt-out of a number stops it under every owner), the contact's consents,
  its newest DNC scrub and the lists holding the number now, the newest copy of each state
  list, and the solicitations of the last 48 h from a `SendHistory`.
- `SendHistory`: where solicitation counts come from. The messages table arrives with the
  channels; until then `DecisionHistory` reads the allowed decisions in
  `compliance_decisions` (interim: an allowed decision is counted as a send, deduplicated by
  its reference; replace it with a messages-table history when that table exists).
- `load_gate_facts_many(session, pairs, now, history=...)`: the same facts for many (owner,
  contact) pairs with a fixed number of set-based queries (the send path's batches).
- `record_decision(session, request, decision)`: one `compliance_decisions` row per
  decision, in the caller's transaction (`decision_values`: the row as column values).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from outreach.compliance.gate import (
    ConsentFact,
    GateDecision,
    GateFacts,
    PriorReply,
    ScrubFact,
    SendRequest,
    Solicitation,
    StateListFact,
    SuppressionFact,
)
from outreach.compliance.rules import RuleSet, default_rule_set
from outreach.ledger.dnc_store import latest_scrubs
from outreach.ledger.models import (
    ComplianceDecision,
    Consent,
    Contact,
    DncList,
    DncNumber,
    DncScrub,
    Message,
    Suppression,
    utc_now,
)

HISTORY_LOOKBACK = timedelta(hours=48)
"""How far back the facts reach: 24 h for the per-person cap, plus a calendar day in any zone."""
SUPPRESSION_REASONS = ("opt_out", "complaint", "bounce", "operator", "wrong_number")
# A reply in one of these states went (or may have gone) out: it counts for `once_per_inbound`.
REPLY_SENT_STATUSES = ("sending", "unknown", "queued", "sent", "delivered", "outboxed",
                       "undelivered")


class SendHistory(Protocol):
    """Solicitations already made to a person (all their contacts, all channels)."""

    def solicitations(self, session: Session, owner_id: int, since: datetime,
                      until: datetime) -> Sequence[Solicitation]: ...


class DecisionHistory:
    """Interim `SendHistory`: the allowed gate decisions of the person, by planned time.

    Until the messages table exists, an allowed decision stands for a send. Decisions with the
    same reference (idempotency key) count once. This over-counts a send that was allowed but
    never made, which only makes the caps stricter."""

    def solicitations(self, session: Session, owner_id: int, since: datetime,
                      until: datetime) -> Sequence[Solicitation]:
        rows = session.execute(
            select(ComplianceDecision.planned_at, ComplianceDecision.contact_id,
                   ComplianceDecision.channel, ComplianceDecision.reference)
            .where(ComplianceDecision.owner_id == owner_id,
                   ComplianceDecision.is_allowed.is_(True),
                   ComplianceDecision.planned_at > since,
                   ComplianceDecision.planned_at <= until)
            .order_by(ComplianceDecision.planned_at)).all()
        seen: set[str] = set()
        found = []
        for planned_at, contact_id, channel, reference in rows:
            if reference is not None:
                if reference in seen:
                    continue
                seen.add(reference)
            found.append(Solicitation(planned_at, contact_id, channel, reference))
        return found


def _state_list_facts(session: Session, keys: Sequence[str]) -> tuple[StateListFact, ...]:
    facts = []
    for key in keys:
        state = key.removeprefix("state_").upper()
        newest: date | None = session.scalar(select(func.max(DncList.downloaded_on)).where(
            DncList.kind == "state", DncList.state == state))
        facts.append(StateListFact(key, newest))
    return tuple(facts)


def load_gate_facts(session: Session, owner_id: int, contact_id: int, now: datetime,
                    history: SendHistory | None = None, rules: RuleSet | None = None,
                    until: datetime | None = None,
                    in_reply_to_id: int | None = None) -> GateFacts:
    """The ledger's facts about one person and contact for the gate (see the module
    docstring). `until`: the latest planned time the solicitations are read up to (default:
    `now` + 24 h, so sends already allowed for later today count too). `in_reply_to_id`: a
    reply's inbound message: the replies already sent to it are loaded too."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise LookupError(f"no contact {contact_id} in the ledger")
    rules = rules or default_rule_set()
    history = history or DecisionHistory()
    # A lifted suppression (the person texted START after an opt-out) no longer stops sends;
    # its row stays for the record.
    suppressions = tuple(
        SuppressionFact(row.suppression_id,
                        "person" if row.owner_id == owner_id else "contact", row.channel,  # type: ignore[arg-type]
                        row.reason, row.created_at, message_id=row.message_id)
        for row in session.scalars(select(Suppression).where(or_(
            Suppression.owner_id == owner_id,
            Suppression.value_hash == contact.value_hash),
            Suppression.lifted_at.is_(None)).order_by(Suppression.created_at)))
    consents = tuple(
        ConsentFact(row.consent_id, row.channel, row.source, row.granted_at,  # type: ignore[arg-type]
                    row.revoked_at)
        for row in session.scalars(select(Consent).where(Consent.contact_id == contact_id)
                                   .order_by(Consent.granted_at)))
    scrub_fact = None
    listed_now: tuple[str, ...] = ()
    state_lists: tuple[StateListFact, ...] = ()
    if contact.channel == "phone":
        scrub = latest_scrubs(session, [contact_id]).get(contact_id)
        if scrub is not None:
            scrub_fact = ScrubFact(scrub.scrubbed_at, scrub.is_listed, tuple(scrub.listed_on),
                                   scrub.national_downloaded_on, scrub.state_downloaded_on)
        state_keys = sorted({j.dnc.state_list.key for j in rules.jurisdictions
                             if j.dnc and j.dnc.state_list})
        keys = ["national", "internal", "litigator", *state_keys]
        # The primary key is (list_key, phone_hash): naming the keys lets the index answer.
        listed_now = tuple(sorted(session.scalars(select(DncNumber.list_key).where(
            DncNumber.list_key.in_(keys), DncNumber.phone_hash == contact.value_hash))))
        state_lists = _state_list_facts(session, state_keys)
    recent = tuple(history.solicitations(session, owner_id, now - HISTORY_LOOKBACK,
                                         until or now + timedelta(hours=24)))
    prior_replies: tuple[PriorReply, ...] = ()
    if in_reply_to_id is not None:
        prior_replies = tuple(
            PriorReply(purpose or "", in_reply_to_id, key, at or created)
            for purpose, key, at, created in session.execute(
                select(Message.purpose, Message.idempotency_key, Message.attempted_at,
                       Message.created_at)
                .where(Message.in_reply_to_id == in_reply_to_id,
                       Message.direction == "outbound",
                       Message.status.in_(REPLY_SENT_STATUSES))))
    return GateFacts(owner_id=owner_id, contact_id=contact_id, loaded_at=now,
                     contact_channel=contact.channel,  # type: ignore[arg-type]
                     contact_is_valid=contact.is_valid,
                     contact_is_wrong_number=contact.is_wrong_number,
                     suppressions=suppressions, consents=consents, latest_scrub=scrub_fact,
                     listed_on_now=listed_now, state_lists=state_lists,
                     recent_solicitations=recent, prior_replies=prior_replies)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# The statements of `load_gate_facts_many`, built once (a list goes in as an expanding
# parameter, so SQLAlchemy neither rebuilds the expression nor its cache key per batch).
_IDS = bindparam("ids", expanding=True)
_MANY_CONTACTS = select(
    Contact.contact_id, Contact.channel, Contact.value_hash, Contact.is_valid,
    Contact.is_wrong_number).where(Contact.contact_id.in_(_IDS))
_SUPPRESSION_COLUMNS = (Suppression.suppression_id, Suppression.owner_id,
                        Suppression.value_hash, Suppression.channel, Suppression.reason,
                        Suppression.message_id, Suppression.created_at)
_MANY_SUPPRESSIONS_BY_OWNER = select(*_SUPPRESSION_COLUMNS).where(
    Suppression.owner_id.in_(_IDS), Suppression.lifted_at.is_(None))
_MANY_SUPPRESSIONS_BY_HASH = select(*_SUPPRESSION_COLUMNS).where(
    Suppression.value_hash.in_(_IDS), Suppression.lifted_at.is_(None))
_MANY_CONSENTS = (select(Consent.contact_id, Consent.consent_id, Consent.channel,
                         Consent.source, Consent.granted_at, Consent.revoked_at)
                  .where(Consent.contact_id.in_(_IDS))
                  .order_by(Consent.granted_at, Consent.consent_id))
_MANY_SCRUBS = (select(DncScrub.contact_id, DncScrub.scrubbed_at, DncScrub.is_listed,
                       DncScrub.listed_on, DncScrub.national_downloaded_on,
                       DncScrub.state_downloaded_on)
                .where(DncScrub.contact_id.in_(_IDS))
                .order_by(DncScrub.scrubbed_at, DncScrub.dnc_scrub_id))
_MANY_DNC_NUMBERS = select(DncNumber.list_key, DncNumber.phone_hash).where(
    DncNumber.list_key.in_(bindparam("keys", expanding=True)), DncNumber.phone_hash.in_(_IDS))


def load_gate_facts_many(session: Session, pairs: Sequence[tuple[int, int]], now: datetime,
                         history: SendHistory | None = None, rules: RuleSet | None = None,
                         until: datetime | None = None) -> dict[tuple[int, int], GateFacts]:
    """`load_gate_facts` for many (owner id, contact id) pairs at once, with a fixed number of
    set-based queries (contacts, suppressions by owner and by value hash, consents, newest
    scrubs, DNC hits, state lists, solicitations) instead of seven per pair. The facts are the
    same as `load_gate_facts` gives pair by pair (tests/test_sending.py compares them);
    the send path loads a batch's facts in the transaction that records its decisions and
    attempts. A history with `solicitations_for_owners(session, owner_ids, since, until)`
    answers in one query; any other `SendHistory` is asked owner by owner."""
    rules = rules or default_rule_set()
    history = history or DecisionHistory()
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return {}
    contact_ids = sorted({contact_id for _, contact_id in pairs})
    owner_ids = sorted({owner_id for owner_id, _ in pairs})
    # Column queries go to the session's connection (no ORM result machinery, a good part of
    # their cost); the session's pending changes are flushed first, as its autoflush would.
    if session.autoflush:
        session.flush()
    connection = session.connection()
    contacts = {}
    for chunk in _chunks(contact_ids):
        for row in connection.execute(_MANY_CONTACTS, {"ids": list(chunk)}):
            contacts[row.contact_id] = row
    missing = [contact_id for contact_id in contact_ids if contact_id not in contacts]
    if missing:
        raise LookupError(f"no contact {missing[0]} in the ledger")
    hashes = sorted({row.value_hash for row in contacts.values()})
    # A lifted suppression (the person texted START after an opt-out) no longer stops sends.
    suppression_rows: dict[int, Any] = {}
    for statement, values in ((_MANY_SUPPRESSIONS_BY_OWNER, owner_ids),
                              (_MANY_SUPPRESSIONS_BY_HASH, hashes)):
        for chunk in _chunks(values):
            for row in connection.execute(statement, {"ids": list(chunk)}):
                suppression_rows[row.suppression_id] = row
    suppressions = sorted(suppression_rows.values(),
                          key=lambda row: (row.created_at, row.suppression_id))
    consents: dict[int, list[ConsentFact]] = {}
    for chunk in _chunks(contact_ids):
        for row in connection.execute(_MANY_CONSENTS, {"ids": list(chunk)}):
            consents.setdefault(row.contact_id, []).append(ConsentFact(
                row.consent_id, row.channel, row.source, row.granted_at, row.revoked_at))
    phone_ids = [cid for cid in contact_ids if contacts[cid].channel == "phone"]
    scrubs: dict[int, ScrubFact] = {}
    listed: dict[str, list[str]] = {}
    state_keys = sorted({j.dnc.state_list.key for j in rules.jurisdictions
                         if j.dnc and j.dnc.state_list})
    state_lists: tuple[StateListFact, ...] = ()
    if phone_ids:
        for chunk in _chunks(phone_ids):
            for row in connection.execute(_MANY_SCRUBS, {"ids": list(chunk)}):
                scrubs[row.contact_id] = ScrubFact(  # the newest comes last
                    row.scrubbed_at, row.is_listed, tuple(row.listed_on),
                    row.national_downloaded_on, row.state_downloaded_on)
        keys = ["national", "internal", "litigator", *state_keys]
        phone_hashes = sorted({contacts[cid].value_hash for cid in phone_ids})
        for chunk in _chunks(phone_hashes):
            for list_key, phone_hash in connection.execute(
                    _MANY_DNC_NUMBERS, {"keys": keys, "ids": list(chunk)}):
                listed.setdefault(phone_hash, []).append(list_key)
        state_lists = _state_list_facts(session, state_keys)
    since, up_to = now - HISTORY_LOOKBACK, until or now + timedelta(hours=24)
    many = getattr(history, "solicitations_for_owners", None)
    if many is not None:
        recent: Mapping[int, Sequence[Solicitation]] = many(session, owner_ids, since, up_to)
    else:
        recent = {owner_id: history.solicitations(session, owner_id, since, up_to)
                  for owner_id in owner_ids}
    facts = {}
    for owner_id, contact_id in pairs:
        contact = contacts[contact_id]
        is_phone = contact.channel == "phone"
        facts[(owner_id, contact_id)] = GateFacts(
            owner_id=owner_id, contact_id=contact_id, loaded_at=now,
            contact_channel=contact.channel, contact_is_valid=contact.is_valid,
            contact_is_wrong_number=contact.is_wrong_number,
            suppressions=tuple(
                SuppressionFact(row.suppression_id,
                                "person" if row.owner_id == owner_id else "contact",
                                row.channel, row.reason, row.created_at,  # type: ignore[arg-type]
                                message_id=row.message_id)
                for row in suppressions
                if row.owner_id == owner_id or row.value_hash == contact.value_hash),
            consents=tuple(consents.get(contact_id, ())),
            latest_scrub=scrubs.get(contact_id) if is_phone else None,
            listed_on_now=tuple(sorted(listed.get(contact.value_hash, ()))) if is_phone else (),
            state_lists=state_lists if is_phone else (),
            recent_solicitations=tuple(recent.get(owner_id, ())))
    return facts


def decision_values(request: SendRequest, decision: GateDecision) -> dict[str, Any]:
    """The `compliance_decisions` row of a decision, as column values (for `record_decision`
    and for the send path's batch insert)."""
    return {"decided_at": utc_now(), "planned_at": decision.planned_at,
            "channel": decision.channel, "contact_id": decision.contact_id,
            "owner_id": decision.owner_id, "market_code": request.market.code,
            "is_allowed": decision.allowed,
            "reasons": [check.as_dict() for check in decision.checks],
            "refusal_codes": ",".join(dict.fromkeys(decision.refusal_codes))[:500],
            "rule_set_version": decision.rule_set_version, "reference": decision.reference}


def record_decision(session: Session, request: SendRequest,
                    decision: GateDecision) -> ComplianceDecision:
    """Write the decision (flushed, so its id is set) in the caller's transaction."""
    row = ComplianceDecision(**decision_values(request, decision))
    session.add(row)
    session.flush()
    return row


def record_consent(session: Session, contact_id: int, channel: str, source: str,
                   wording: str, granted_at: datetime) -> Consent:
    """Record a consent given by the contact (the wording shown and where it was given)."""
    if channel not in ("sms", "email"):
        raise ValueError(f"consent channel must be sms or email, not {channel!r}")
    if not wording.strip() or not source.strip():
        raise ValueError("a consent needs the wording shown and its source")
    row = Consent(contact_id=contact_id, channel=channel, source=source, wording=wording,
                  granted_at=granted_at)
    session.add(row)
    session.flush()
    return row


def revoke_consent(session: Session, contact_id: int, channel: str, revoked_at: datetime,
                   reason: str) -> int:
    """Mark every open consent of the contact on the channel revoked; returns how many."""
    rows = list(session.scalars(select(Consent).where(
        Consent.contact_id == contact_id, Consent.channel == channel,
        Consent.revoked_at.is_(None))))
    for row in rows:
        row.revoked_at = revoked_at
        row.revoked_reason = reason
    session.flush()
    return len(rows)


def record_suppression(session: Session, channel: str, reason: str,
                       owner_id: int | None = None, contact_id: int | None = None,
                       detail: str = "", message_id: int | None = None,
                       created_at: datetime | None = None,
                       value_hash: str | None = None) -> Suppression:
    """A permanent stop for a person (`owner_id`), a contact (`contact_id`: stored as its
    value hash, so the number or address is stopped under every owner), or both. An opt-out
    on SMS also revokes the contact's SMS consents. `value_hash`: the keyed hash of a number
    or address that is no contact of ours (an unknown sender's opt-out); ignored when
    `contact_id` is given."""
    if channel not in ("sms", "email", "all"):
        raise ValueError(f"suppression channel must be sms, email or all, not {channel!r}")
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}; known: {SUPPRESSION_REASONS}")
    if owner_id is None and contact_id is None and value_hash is None:
        raise ValueError("a suppression names an owner, a contact (or value hash), or both")
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise LookupError(f"no contact {contact_id} in the ledger")
        value_hash = contact.value_hash
    when = created_at or utc_now()
    row = Suppression(owner_id=owner_id, value_hash=value_hash, channel=channel, reason=reason,
                      detail=detail, message_id=message_id, created_at=when)
    session.add(row)
    if contact_id is not None and reason == "opt_out":
        for consent_channel in (("sms", "email") if channel == "all" else (channel,)):
            revoke_consent(session, contact_id, consent_channel, when, f"opt_out: {detail}")
    session.flush()
    return row
