"""Enrollment rules on a temporary ledger and a small DuckDB holding `marts.lead_scores`:
target tiers only, a sendable contact on a campaign channel, never twice, not suppressed, one
enrollment per owner with its best parcel, the daily cap, idempotent runs; pause and resume
recorded with who and when; `sync_campaigns` keeps the pause state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, func, select

from markets.loader import load_markets
from outreach.campaigns.schema import load_campaign
from outreach.compliance.store import record_suppression
from outreach.enrolling import (
    EnrollmentError,
    definition_sha256,
    enroll,
    pause_campaign,
    resume_campaign,
    sync_campaigns,
)
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import (
    AuditEntry,
    CampaignRecord,
    Contact,
    DncScrub,
    Enrollment,
    LeadStatusChange,
    Owner,
    OwnerParcel,
)

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
MARKET_CODE = "orange_fl"


@pytest.fixture
def ledger(tmp_path: Path, pii_keys: None) -> Engine:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    return engine


@pytest.fixture
def campaign():
    return load_campaign(ROOT / "campaigns" / "fl_cash_offer_v1.yaml")


@pytest.fixture
def market():
    return next(m for m in load_markets(ROOT / "markets") if m.code == MARKET_CODE)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    conn.execute("CREATE SCHEMA marts")
    conn.execute("CREATE TABLE marts.lead_scores (market_code VARCHAR, parcel_id VARCHAR, "
                 "tier VARCHAR, score DOUBLE)")
    yield conn
    conn.close()


def add_lead(conn: duckdb.DuckDBPyConnection, parcel_id: str, tier: str, score: float,
             market_code: str = MARKET_CODE) -> None:
    conn.execute("INSERT INTO marts.lead_scores VALUES (?, ?, ?, ?)",
                 [market_code, parcel_id, tier, score])


_phone_counter = iter(range(100, 10_000))


def add_owner(engine: Engine, parcels: list[str], *, phone: str | None = "clear",
              email: str | None = None, market_code: str = MARKET_CODE) -> int:
    """An owner of `parcels` with a phone (`clear`: scrubbed clean; `blocked`: scrub blocks
    SMS; `unscrubbed`; None: no phone) and an email (`mx`: domain takes mail; `no_mx`; None)."""
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        owner = Owner(market_code=market_code, owner_key=f"K|{uuid.uuid4().hex}",
                      owner_name="PAT OWNER")
        session.add(owner)
        session.flush()
        for parcel_id in parcels:
            session.add(OwnerParcel(owner_id=owner.owner_id, parcel_id=parcel_id,
                                    market_code=market_code, linked_by="parcel_id"))
        if phone is not None:
            number = f"+1407555{next(_phone_counter):04d}"
            contact = Contact(owner_id=owner.owner_id, channel="phone", value=number,
                              value_hash=keyring.lookup_hash("phone", number),
                              value_hint=pii.mask_phone(number), is_valid=True, confidence=0.9)
            session.add(contact)
            session.flush()
            if phone in ("clear", "blocked"):
                session.add(DncScrub(contact_id=contact.contact_id, is_listed=phone == "blocked",
                                     listed_on=["national"] if phone == "blocked" else [],
                                     national_downloaded_on=TODAY, state_downloaded_on=TODAY,
                                     is_sms_blocked=phone == "blocked", reason="test"))
        if email is not None:
            address = f"owner{uuid.uuid4().hex[:8]}@example.com"
            session.add(Contact(owner_id=owner.owner_id, channel="email", value=address,
                                value_hash=keyring.lookup_hash("email", address),
                                value_hint="o***@example.com", is_valid=True, confidence=0.8,
                                email_domain_status="mx" if email == "mx" else "no_mx"))
        return owner.owner_id


def enrolled_owners(engine: Engine) -> dict[int, Enrollment]:
    with ledger_session(engine) as session:
        return {row.owner_id: row for row in session.scalars(select(Enrollment))}


def test_enrolls_target_tiers_with_a_sendable_contact_once_per_owner(ledger, warehouse,
                                                                     campaign, market):
    add_lead(warehouse, "P-A", "A", 60)
    add_lead(warehouse, "P-BPLUS", "B+", 40)
    add_lead(warehouse, "P-B", "B", 32)
    add_lead(warehouse, "P-C", "C", 5)
    add_lead(warehouse, "P-OTHER-MARKET", "A", 70, market_code="lake_fl")
    add_lead(warehouse, "P-MULTI-1", "B+", 39)
    add_lead(warehouse, "P-MULTI-2", "A", 55)
    add_lead(warehouse, "P-BLOCKED", "A", 50)
    add_lead(warehouse, "P-UNSCRUBBED", "A", 50)
    add_lead(warehouse, "P-EMAIL-ONLY", "A", 45)
    add_lead(warehouse, "P-BAD-EMAIL", "A", 45)
    add_lead(warehouse, "P-NO-OWNER", "A", 80)
    owner_a = add_owner(ledger, ["P-A"])
    owner_bplus = add_owner(ledger, ["P-BPLUS"])
    add_owner(ledger, ["P-B"])
    add_owner(ledger, ["P-C"])
    owner_multi = add_owner(ledger, ["P-MULTI-1", "P-MULTI-2", "P-C-NOT-A-LEAD"])
    add_owner(ledger, ["P-BLOCKED"], phone="blocked")
    add_owner(ledger, ["P-UNSCRUBBED"], phone="unscrubbed")
    owner_email = add_owner(ledger, ["P-EMAIL-ONLY"], phone=None, email="mx")
    add_owner(ledger, ["P-BAD-EMAIL"], phone=None, email="no_mx")

    report = enroll(ledger, warehouse, campaign, market, TODAY)

    enrolled = enrolled_owners(ledger)
    assert set(enrolled) == {owner_a, owner_bplus, owner_multi, owner_email}
    assert report.enrolled == 4 and report.without_sendable_contact == 3
    assert report.leads == 9  # A and B+ of orange_fl, including the one with no owner
    assert enrolled[owner_multi].parcel_id == "P-MULTI-2"  # its best-scoring parcel
    assert enrolled[owner_multi].tier == "A" and enrolled[owner_multi].score == 55
    assert all(row.status == "not_started" and row.enrolled_on == TODAY
               and row.touches_sent == 0 for row in enrolled.values())
    assert report.by_tier == {"A": 3, "B+": 1}
    with ledger_session(ledger) as session:
        statuses = session.execute(select(LeadStatusChange.owner_id, LeadStatusChange.status)
                                   ).all()
    assert sorted(statuses) == sorted((owner, "new") for owner in enrolled)


def test_a_second_run_the_same_day_adds_nothing(ledger, warehouse, campaign, market):
    for index in range(3):
        add_lead(warehouse, f"P{index}", "A", 50 + index)
        add_owner(ledger, [f"P{index}"])
    first = enroll(ledger, warehouse, campaign, market, TODAY)
    second = enroll(ledger, warehouse, campaign, market, TODAY)
    assert first.enrolled == 3 and second.enrolled == 0
    assert second.already_enrolled == 3 and second.new_lead_statuses == 0
    with ledger_session(ledger) as session:
        assert session.scalar(select(func.count()).select_from(Enrollment)) == 3
        assert session.scalar(select(func.count()).select_from(LeadStatusChange)) == 3
        assert session.scalar(select(func.count()).select_from(CampaignRecord)) == 1


def test_never_enrolled_twice_even_after_the_enrollment_stopped(ledger, warehouse, campaign,
                                                                  market):
    add_lead(warehouse, "P1", "A", 50)
    owner = add_owner(ledger, ["P1"])
    assert enroll(ledger, warehouse, campaign, market, TODAY).enrolled == 1
    with ledger_session(ledger) as session:
        row = session.scalar(select(Enrollment).where(Enrollment.owner_id == owner))
        row.status, row.stop_reason = "stopped", "reply"
    later = enroll(ledger, warehouse, campaign, market, TODAY + timedelta(days=30))
    assert later.enrolled == 0 and later.already_enrolled == 1


def test_an_owner_with_a_status_keeps_it(ledger, warehouse, campaign, market):
    add_lead(warehouse, "P1", "A", 50)
    owner = add_owner(ledger, ["P1"])
    with ledger_session(ledger) as session:
        session.add(LeadStatusChange(owner_id=owner, market_code=MARKET_CODE,
                                     status="interested", changed_by="closer"))
    report = enroll(ledger, warehouse, campaign, market, TODAY)
    assert report.enrolled == 1 and report.new_lead_statuses == 0
    with ledger_session(ledger) as session:
        assert session.scalars(select(LeadStatusChange.status)).all() == ["interested"]


def test_suppressed_owners_and_values_are_not_enrolled(ledger, warehouse, campaign, market):
    for parcel in ("P-SMS-OPTOUT", "P-ALL", "P-VALUE", "P-OK"):
        add_lead(warehouse, parcel, "A", 50)
    sms_opt_out = add_owner(ledger, ["P-SMS-OPTOUT"], email="mx")
    all_channels = add_owner(ledger, ["P-ALL"])
    value_owner = add_owner(ledger, ["P-VALUE"])
    ok_owner = add_owner(ledger, ["P-OK"])
    with ledger_session(ledger) as session:
        record_suppression(session, "sms", "opt_out", owner_id=sms_opt_out)
        record_suppression(session, "all", "operator", owner_id=all_channels)
        phone = session.scalar(select(Contact.contact_id).where(Contact.owner_id == value_owner))
        record_suppression(session, "sms", "opt_out", contact_id=phone)
    report = enroll(ledger, warehouse, campaign, market, TODAY)
    assert set(enrolled_owners(ledger)) == {ok_owner}
    # An SMS opt-out of the person keeps them out of an SMS+email campaign; an opted-out
    # number leaves its owner with nothing sendable.
    assert report.suppressed == 2 and report.without_sendable_contact == 1


def test_daily_cap_takes_the_best_scores_first_and_the_rest_the_next_day(ledger, warehouse,
                                                                         campaign, market):
    owners = {}
    for index, score in enumerate([41, 70, 55, 48, 62]):
        add_lead(warehouse, f"P{index}", "A" if score >= 43 else "B+", score)
        owners[score] = add_owner(ledger, [f"P{index}"])
    day_one = enroll(ledger, warehouse, campaign, market, TODAY, daily_cap=2)
    assert day_one.enrolled == 2 and day_one.waiting_for_cap == 3
    assert set(enrolled_owners(ledger)) == {owners[70], owners[62]}
    again = enroll(ledger, warehouse, campaign, market, TODAY, daily_cap=2)
    assert again.enrolled == 0 and again.enrolled_today_before == 2
    day_two = enroll(ledger, warehouse, campaign, market, TODAY + timedelta(days=1), daily_cap=2)
    assert day_two.enrolled == 2
    assert set(enrolled_owners(ledger)) == {owners[70], owners[62], owners[55], owners[48]}


def test_default_cap_shares_the_campaign_cap_among_its_markets(ledger, warehouse, campaign,
                                                               market):
    assert campaign.daily_volume_cap == 250 and len(campaign.markets) == 5
    report = enroll(ledger, warehouse, campaign, market, TODAY)
    assert report.daily_cap == 50


def test_a_market_the_campaign_does_not_name_is_an_error(ledger, warehouse, campaign, market):
    other = campaign.model_copy(update={"markets": ["lake_fl"]})
    with pytest.raises(EnrollmentError, match="does not name market orange_fl"):
        enroll(ledger, warehouse, other, market, TODAY)


def test_missing_lead_scores_is_a_clear_error(ledger, tmp_path, campaign, market):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as conn, \
            pytest.raises(EnrollmentError, match=r"no marts\.lead_scores"):
        enroll(ledger, conn, campaign, market, TODAY)


def test_pause_and_resume_are_recorded_and_pause_stops_enrollment(ledger, warehouse, campaign,
                                                                   market):
    add_lead(warehouse, "P1", "A", 50)
    add_owner(ledger, ["P1"])
    with ledger_session(ledger) as session:
        sync_campaigns(session, [campaign])
        record = pause_campaign(session, campaign.name, actor="ops@example", reason="test")
        assert record.is_paused and record.paused_by == "ops@example"
        assert record.paused_at is not None
        pause_campaign(session, campaign.name, actor="someone else")  # no second entry
    report = enroll(ledger, warehouse, campaign, market, TODAY)
    assert report.paused and report.enrolled == 0 and not enrolled_owners(ledger)
    with ledger_session(ledger) as session:
        # A definition sync keeps the pause.
        changed = campaign.model_copy(update={"daily_volume_cap": 99})
        record = sync_campaigns(session, [changed])[campaign.name]
        assert record.is_paused and record.definition_sha256 == definition_sha256(changed)
        resume_campaign(session, campaign.name, actor="ops2@example")
    with ledger_session(ledger) as session:
        record = session.scalar(select(CampaignRecord))
        assert not record.is_paused and record.paused_by is None
        audit = session.execute(select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail)
                                .order_by(AuditEntry.audit_id)).all()
    actions = [(action, actor) for action, actor, _ in audit]
    assert actions == [("campaign_registered", "system"), ("campaign_paused", "ops@example"),
                       ("campaign_definition_changed", "system"),
                       ("campaign_resumed", "ops2@example")]
    assert audit[-1].detail["paused_by"] == "ops@example"
    assert enroll(ledger, warehouse, campaign, market, TODAY).enrolled == 1
