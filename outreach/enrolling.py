"""Enrollment: which leads enter which drip campaign, and the campaign's pause switch.

- `sync_campaigns(session, campaigns)`: one `campaigns` row per campaigns/*.yaml, by name,
  with the sha256 of its definition (canonical JSON of the validated model, so comments and
  key order do not count as a change). The pause state is kept across syncs.
- `pause_campaign` / `resume_campaign`: flip the campaign's switch, recording who and when on
  the row and as an `audit_log` entry. Every send run reads the switch; enrollment also stops
  while a campaign is paused, so a resume does not find a backlog of new leads.
- `enroll(engine, warehouse_conn, campaign, market, today)`: new enrollments of one campaign in
  one market for one day (rules below), as `not_started` rows, with a lead status `new` for an
  owner that has none yet. Running it again the same day adds nothing.

Who is enrolled (every rule is counted in the `EnrollReport`):

1. Leads of the campaign's `target_tiers` in the market (`marts.lead_scores`, warehouse).
2. Linked to an owner in the ledger (`owner_parcels` -> `owners`).
3. The owner has a *sendable* contact on ANY channel the campaign uses, not only the first
   touch's: a valid phone that is not a wrong number and whose newest DNC scrub does not block
   SMS (for `sms` touches), or a valid email whose domain takes mail (for `email` touches); a
   contact whose value is suppressed on that channel (or `all`) does not count. Any channel,
   because in a `consent_required` market a cold first SMS is refused by the gate anyway and
   the email touches still reach the owner; the gate decides per message, at send time
   (consent, hours, caps, DNC).
4. Not enrolled in this campaign before, in any status, ever (a stopped or completed
   enrollment is never restarted).
5. The owner is not suppressed on `all` or on any of the campaign's channels.
6. One enrollment per owner: an owner of several lead parcels enters once, with the parcel of
   the best score (then the better tier, then the lowest parcel id).
7. A daily cap: at most `daily_cap` new enrollments per campaign and market per day; by
   default the campaign's `daily_volume_cap` shared evenly among its markets (rounded up), so
   one market cannot take another's share. The best scores go first; the rest wait for the
   next day (`waiting_for_cap`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from markets.schema import Market
from outreach.campaigns.schema import Campaign
from outreach.ledger.db import ledger_session
from outreach.ledger.dnc_store import SENDABLE_EMAIL_DOMAIN_STATUSES, latest_scrubs
from outreach.ledger.models import (
    AuditEntry,
    CampaignRecord,
    Contact,
    Enrollment,
    LeadStatusChange,
    Owner,
    OwnerParcel,
    Suppression,
    utc_now,
)

NOT_STARTED = "not_started"
LEAD_STATUS_NEW = "new"
TIER_RANK = {"A": 0, "B+": 1, "B": 2, "C": 3}
# The ledger's contact channel for each campaign channel.
CONTACT_CHANNEL = {"sms": "phone", "email": "email"}


class EnrollmentError(RuntimeError):
    """Enrollment cannot run (e.g. the warehouse has no lead scores, or the campaign does not
    name the market)."""


class UnknownCampaignError(LookupError):
    """No campaign of that name in the ledger (sync the campaigns first)."""


def definition_sha256(campaign: Campaign) -> str:
    """The sha256 of a campaign's validated definition as canonical JSON."""
    canonical = json.dumps(campaign.model_dump(mode="json"), sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sync_campaigns(session: Session,
                   campaigns: Iterable[Campaign]) -> dict[str, CampaignRecord]:
    """Make sure each campaign has its `campaigns` row with its current definition hash; the
    pause state of an existing row is left as it is. Returns the rows by name."""
    records: dict[str, CampaignRecord] = {}
    for campaign in campaigns:
        sha = definition_sha256(campaign)
        record = session.scalar(select(CampaignRecord).where(CampaignRecord.name == campaign.name))
        if record is None:
            record = CampaignRecord(name=campaign.name, definition_sha256=sha, is_paused=False)
            session.add(record)
            session.flush()
            session.add(AuditEntry(actor="system", action="campaign_registered",
                                   entity_type="campaign", entity_id=campaign.name,
                                   detail={"definition_sha256": sha}))
        elif record.definition_sha256 != sha:
            session.add(AuditEntry(actor="system", action="campaign_definition_changed",
                                   entity_type="campaign", entity_id=campaign.name,
                                   detail={"from": record.definition_sha256, "to": sha}))
            record.definition_sha256 = sha
        records[campaign.name] = record
    return records


def campaign_record(session: Session, name: str) -> CampaignRecord:
    record = session.scalar(select(CampaignRecord).where(CampaignRecord.name == name))
    if record is None:
        raise UnknownCampaignError(f"no campaign {name!r} in the ledger")
    return record


def pause_campaign(session: Session, name: str, actor: str, reason: str = "",
                   now: datetime | None = None) -> CampaignRecord:
    """Pause a campaign: no send run and no enrollment touches it until it is resumed.
    Pausing a paused campaign changes nothing (and writes no second audit entry)."""
    record = campaign_record(session, name)
    if record.is_paused:
        return record
    now = now or utc_now()
    record.is_paused, record.paused_at, record.paused_by = True, now, actor
    session.add(AuditEntry(at=now, actor=actor, action="campaign_paused",
                           entity_type="campaign", entity_id=name, detail={"reason": reason}))
    return record


def resume_campaign(session: Session, name: str, actor: str, reason: str = "",
                    now: datetime | None = None) -> CampaignRecord:
    """Resume a paused campaign (the audit log keeps who paused it and when)."""
    record = campaign_record(session, name)
    if not record.is_paused:
        return record
    now = now or utc_now()
    paused = {"paused_at": record.paused_at.isoformat() if record.paused_at else None,
              "paused_by": record.paused_by}
    record.is_paused, record.paused_at, record.paused_by = False, None, None
    session.add(AuditEntry(at=now, actor=actor, action="campaign_resumed",
                           entity_type="campaign", entity_id=name,
                           detail={"reason": reason, **paused}))
    return record


@dataclass
class EnrollReport:
    """What one enrollment run did, rule by rule (see the module docstring)."""

    campaign: str
    market: str
    enrolled_on: date
    paused: bool = False
    leads: int = 0
    """Lead parcels of the target tiers in the market."""
    linked_owners: int = 0
    """Distinct owners of those parcels in the ledger."""
    without_sendable_contact: int = 0
    already_enrolled: int = 0
    suppressed: int = 0
    eligible: int = 0
    waiting_for_cap: int = 0
    enrolled: int = 0
    new_lead_statuses: int = 0
    daily_cap: int = 0
    enrolled_today_before: int = 0
    by_tier: dict[str, int] | None = None

    def as_metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data["enrolled_on"] = self.enrolled_on.isoformat()
        data["by_tier"] = dict(self.by_tier or {})
        return data


def market_daily_cap(campaign: Campaign) -> int:
    """The default per-market daily enrollment cap: the campaign's cap shared evenly."""
    return max(1, math.ceil(campaign.daily_volume_cap / len(campaign.markets)))


@dataclass(frozen=True)
class _Lead:
    parcel_id: str
    tier: str
    score: float


def _target_leads(warehouse_conn: duckdb.DuckDBPyConnection, market_code: str,
                  tiers: Sequence[str]) -> list[_Lead]:
    try:
        rows = warehouse_conn.execute(
            "SELECT parcel_id, tier, score FROM marts.lead_scores "
            "WHERE market_code = ? AND list_contains(?, tier)",
            [market_code, list(tiers)]).fetchall()
    except duckdb.CatalogException as error:
        raise EnrollmentError("the warehouse has no marts.lead_scores yet: materialize the "
                              "market first (job materialize_market)") from error
    return [_Lead(str(parcel_id), str(tier), float(score)) for parcel_id, tier, score in rows]


def _suppressed_values(session: Session, hashes: set[str]) -> dict[str, set[str]]:
    """Channels (`sms`, `email`, `all`) on which each contact value hash is suppressed."""
    found: dict[str, set[str]] = {}
    ordered = sorted(hashes)
    for start in range(0, len(ordered), 5_000):
        for value_hash, channel in session.execute(
                select(Suppression.value_hash, Suppression.channel).where(
                    Suppression.value_hash.in_(ordered[start:start + 5_000]),
                    Suppression.lifted_at.is_(None))):
            found.setdefault(value_hash, set()).add(channel)
    return found


def sendable_channels_by_owner(session: Session, market_code: str) -> dict[int, set[str]]:
    """For each owner of the market: the campaign channels (`sms`, `email`) on which it has at
    least one sendable contact (see the module docstring, rule 3)."""
    rows = session.execute(
        select(Contact.owner_id, Contact.contact_id, Contact.channel, Contact.value_hash,
               Contact.email_domain_status)
        .join(Owner, Owner.owner_id == Contact.owner_id)
        .where(Owner.market_code == market_code, Contact.is_valid.is_(True),
               Contact.is_wrong_number.is_(False))).all()
    scrubs = latest_scrubs(session, [row.contact_id for row in rows if row.channel == "phone"])
    suppressed = _suppressed_values(session, {row.value_hash for row in rows})
    channels: dict[int, set[str]] = {}
    for owner_id, contact_id, contact_channel, value_hash, domain_status in rows:
        if contact_channel == "email":
            channel = "email"
            if domain_status not in SENDABLE_EMAIL_DOMAIN_STATUSES:
                continue
        else:
            channel = "sms"
            scrub = scrubs.get(contact_id)
            if scrub is None or scrub.is_sms_blocked:
                continue
        if suppressed.get(value_hash, set()) & {channel, "all"}:
            continue
        channels.setdefault(owner_id, set()).add(channel)
    return channels


def campaign_channels(campaign: Campaign) -> set[str]:
    return {touch.channel for touch in campaign.touches}


def enroll(engine: Engine, warehouse_conn: duckdb.DuckDBPyConnection, campaign: Campaign,
           market: Market, today: date, daily_cap: int | None = None,
           actor: str = "enrollment") -> EnrollReport:
    """Enroll the campaign's new leads of one market for `today` (module docstring); returns
    the counts. Idempotent within a day."""
    if market.code not in campaign.markets:
        raise EnrollmentError(f"campaign {campaign.name} does not name market {market.code} "
                              f"(its markets: {', '.join(campaign.markets)})")
    cap = daily_cap if daily_cap is not None else market_daily_cap(campaign)
    report = EnrollReport(campaign=campaign.name, market=market.code, enrolled_on=today,
                          daily_cap=cap, by_tier={})
    leads = _target_leads(warehouse_conn, market.code, campaign.target_tiers)
    report.leads = len(leads)
    lead_by_parcel = {lead.parcel_id: lead for lead in leads}
    channels = campaign_channels(campaign)
    with ledger_session(engine) as session:
        record = sync_campaigns(session, [campaign])[campaign.name]
        if record.is_paused:
            report.paused = True
            return report
        # Each owner's best lead parcel.
        best: dict[int, _Lead] = {}
        for owner_id, parcel_id in session.execute(
                select(OwnerParcel.owner_id, OwnerParcel.parcel_id)
                .join(Owner, Owner.owner_id == OwnerParcel.owner_id)
                .where(Owner.market_code == market.code)):
            lead = lead_by_parcel.get(parcel_id)
            if lead is None:
                continue
            current = best.get(owner_id)
            if current is None or _lead_order(lead) < _lead_order(current):
                best[owner_id] = lead
        report.linked_owners = len(best)
        enrolled_before = set(session.scalars(
            select(Enrollment.owner_id).where(Enrollment.campaign_id == record.campaign_id)))
        suppressed_owners = set(session.scalars(
            select(Suppression.owner_id).where(
                Suppression.owner_id.is_not(None), Suppression.lifted_at.is_(None),
                Suppression.channel.in_(sorted(channels | {"all"})))))
        sendable = sendable_channels_by_owner(session, market.code)
        eligible: list[tuple[int, _Lead]] = []
        for owner_id, lead in best.items():
            if owner_id in enrolled_before:
                report.already_enrolled += 1
            elif owner_id in suppressed_owners:
                report.suppressed += 1
            elif not sendable.get(owner_id, set()) & channels:
                report.without_sendable_contact += 1
            else:
                eligible.append((owner_id, lead))
        report.eligible = len(eligible)
        report.enrolled_today_before = session.scalar(
            select(func.count()).select_from(Enrollment).where(
                Enrollment.campaign_id == record.campaign_id,
                Enrollment.market_code == market.code,
                Enrollment.enrolled_on == today)) or 0
        room = max(0, cap - report.enrolled_today_before)
        eligible.sort(key=lambda item: (_lead_order(item[1]), item[0]))
        chosen, report.waiting_for_cap = eligible[:room], max(0, len(eligible) - room)
        with_status = set(session.scalars(
            select(LeadStatusChange.owner_id).where(
                LeadStatusChange.owner_id.in_([owner_id for owner_id, _ in chosen]))))
        now = utc_now()
        for owner_id, lead in chosen:
            session.add(Enrollment(
                campaign_id=record.campaign_id, owner_id=owner_id, market_code=market.code,
                parcel_id=lead.parcel_id, tier=lead.tier, score=lead.score, status=NOT_STARTED,
                touches_sent=0, enrolled_on=today))
            report.by_tier[lead.tier] = report.by_tier.get(lead.tier, 0) + 1
            if owner_id not in with_status:
                session.add(LeadStatusChange(
                    owner_id=owner_id, market_code=market.code, status=LEAD_STATUS_NEW,
                    changed_by=f"{actor}:{campaign.name}", changed_at=now,
                    note=f"enrolled in {campaign.name} with parcel {lead.parcel_id} "
                         f"(tier {lead.tier}, score {lead.score:g})"))
                report.new_lead_statuses += 1
        report.enrolled = len(chosen)
    return report


def _lead_order(lead: _Lead) -> tuple[float, int, str]:
    return (-lead.score, TIER_RANK.get(lead.tier, 9), lead.parcel_id)


def campaign_status(engine: Engine, campaign: Campaign, now: datetime | None = None,
                    time_zone: str | None = None) -> dict[str, Any]:
    """Where a campaign stands (read-only): paused or not (by whom, when), enrollments per
    state (`touch_2_sent`, `stopped:reply`, …), its outbound messages per status, and the
    messages attempted today (in `time_zone`, default the first market's zone of the
    campaign, else America/New_York) against the daily volume cap."""
    from zoneinfo import ZoneInfo

    from outreach.ledger.models import Message

    now = now or utc_now()
    zone = ZoneInfo(time_zone or _campaign_zone(campaign))
    local_midnight = datetime.combine(now.astimezone(zone).date(), datetime.min.time(),
                                      tzinfo=zone)
    with ledger_session(engine) as session:
        record = session.scalar(select(CampaignRecord).where(CampaignRecord.name == campaign.name))
        if record is None:
            return {"campaign": campaign.name, "registered": False, "paused": False,
                    "enrollments": {}, "messages": {}, "sends_today": 0,
                    "daily_volume_cap": campaign.daily_volume_cap}
        states: dict[str, int] = {}
        for status, touches_sent, stop_reason, count in session.execute(
                select(Enrollment.status, Enrollment.touches_sent, Enrollment.stop_reason,
                       func.count())
                .where(Enrollment.campaign_id == record.campaign_id)
                .group_by(Enrollment.status, Enrollment.touches_sent, Enrollment.stop_reason)):
            state = _state_name(status, touches_sent, stop_reason)
            states[state] = states.get(state, 0) + count
        campaign_messages = (select(Message.status, func.count())
                             .join(Enrollment, Enrollment.enrollment_id == Message.enrollment_id)
                             .where(Enrollment.campaign_id == record.campaign_id,
                                    Message.direction == "outbound"))
        messages = dict(session.execute(campaign_messages.group_by(Message.status)).all())
        today = dict(session.execute(
            campaign_messages.where(Message.attempted_at >= local_midnight)
            .group_by(Message.status)).all())
        return {"campaign": campaign.name, "registered": True, "paused": record.is_paused,
                "paused_by": record.paused_by, "paused_at": record.paused_at,
                "definition_sha256": record.definition_sha256,
                "definition_changed": record.definition_sha256 != definition_sha256(campaign),
                "enrollments": dict(sorted(states.items())),
                "enrollments_total": sum(states.values()),
                "messages": dict(sorted(messages.items())),
                "today": local_midnight.date().isoformat(), "time_zone": zone.key,
                "sends_today": sum(today.values()), "sends_today_by_status": today,
                "daily_volume_cap": campaign.daily_volume_cap}


def _state_name(status: str, touches_sent: int, stop_reason: str | None) -> str:
    """The state as the state machine names it (outreach/campaigns/enrollment.py)."""
    if status == "in_progress":
        return f"touch_{touches_sent}_sent"
    if status == "stopped":
        return f"stopped:{stop_reason}"
    return status


def _campaign_zone(campaign: Campaign) -> str:
    from markets.loader import load_markets

    for market in load_markets():
        if market.code in campaign.markets and market.time_zones:
            return market.time_zones[0]
    return "America/New_York"
