"""Shared seeding for the send-path tests (test_sending.py, test_delivery_faults.py): owners,
contacts, DNC lists and scrubs, consents, a campaign record and enrollments written straight
through the ledger models (no warehouse needed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from markets.loader import load_market
from markets.schema import Market
from outreach.campaigns.schema import CAMPAIGNS_DIR, Campaign, load_campaign
from outreach.compliance.store import record_consent
from outreach.ledger import pii
from outreach.ledger.db import ledger_session
from outreach.ledger.dnc_store import DncListLoad, load_dnc_list, scrub_contact
from outreach.ledger.models import CampaignRecord, Contact, Enrollment, Owner, OwnerParcel

MESSAGING_SERVICE_SID = "MG" + "0123456789abcdef" * 2
# 2026-11-23 is a Monday. Orlando (407) is Eastern: 15:00 UTC is 10:00 local, 11:00 UTC is 06:00.
INSIDE_WINDOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
OUTSIDE_WINDOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)


def orange() -> Market:
    return load_market("orange_fl")


def drip() -> Campaign:
    return load_campaign(CAMPAIGNS_DIR / "fl_cash_offer_v1.yaml")


@dataclass
class Lead:
    owner_id: int
    enrollment_id: int
    phone_ids: list[int] = field(default_factory=list)
    email_ids: list[int] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def load_lists(engine: Engine, downloaded_on: date = TODAY - timedelta(days=3),
               listed: list[str] | None = None) -> None:
    """A fresh national registry copy and the Florida state list."""
    with ledger_session(engine) as session:
        load_dnc_list(session, DncListLoad(kind="national", source_file="national.txt",
                                           file_sha256="a" * 64, downloaded_on=downloaded_on,
                                           downloaded_on_basis="argument",
                                           numbers_added=listed or []))
        load_dnc_list(session, DncListLoad(kind="state", state="FL", source_file="fl.txt",
                                           file_sha256="b" * 64, downloaded_on=downloaded_on,
                                           downloaded_on_basis="argument", numbers_added=[]))


def campaign_record(engine: Engine, name: str = "fl_cash_offer_v1") -> int:
    with ledger_session(engine) as session:
        existing = session.query(CampaignRecord).filter_by(name=name).one_or_none()
        if existing is not None:
            return existing.campaign_id
        record = CampaignRecord(name=name, definition_sha256="0" * 64)
        session.add(record)
        session.flush()
        return record.campaign_id


def add_lead(engine: Engine, *, phones: list[str] = (), emails: list[str] = (),  # type: ignore[assignment]
             score: float = 50.0, consent: bool = True, scrub: bool = True,
             owner_name: str = "SMITH PAT A", enrolled_on: date = TODAY,
             touches_sent: int = 0, last_sent_on: date | None = None,
             campaign: str = "fl_cash_offer_v1") -> Lead:
    """One owner with contacts, scrubbed and consented as asked, enrolled in the campaign."""
    campaign_id = campaign_record(engine, campaign)
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        owner = Owner(market_code="orange_fl", owner_key=f"{owner_name}|{uuid.uuid4().hex}",
                      owner_name=owner_name, mailing_address="1 Main St", mailing_city="Orlando",
                      mailing_state="FL", mailing_zip="32801")
        session.add(owner)
        session.flush()
        parcel_id = f"P{owner.owner_id:06d}"
        session.add(OwnerParcel(owner_id=owner.owner_id, parcel_id=parcel_id,
                                market_code="orange_fl", linked_by="parcel_id"))
        lead = Lead(owner.owner_id, 0, phones=list(phones), emails=list(emails))
        for position, phone in enumerate(phones):
            contact = Contact(owner_id=owner.owner_id, channel="phone", value=phone,
                              value_hash=keyring.lookup_hash("phone", phone),
                              value_hint=pii.mask_phone(phone), number_type="mobile",
                              is_valid=True, confidence=0.9 - position * 0.1)
            session.add(contact)
            session.flush()
            lead.phone_ids.append(contact.contact_id)
            if scrub:
                scrub_contact(session, contact, TODAY - timedelta(days=1))
            if consent:
                record_consent(session, contact.contact_id, "sms", "web form /sell",
                               "Yes, text me about my property", datetime(2026, 11, 1,
                                                                          tzinfo=UTC))
        for position, address in enumerate(emails):
            normalised = address.lower()
            contact = Contact(owner_id=owner.owner_id, channel="email", value=address,
                              value_hash=keyring.lookup_hash("email", normalised),
                              value_hint=pii.mask_email(address), email_domain_status="mx",
                              is_valid=True, confidence=0.8 - position * 0.1)
            session.add(contact)
            session.flush()
            lead.email_ids.append(contact.contact_id)
        enrollment = Enrollment(campaign_id=campaign_id, owner_id=owner.owner_id,
                                market_code="orange_fl", parcel_id=parcel_id, tier="A",
                                score=score, status="in_progress" if touches_sent else
                                "not_started", touches_sent=touches_sent,
                                enrolled_on=enrolled_on, last_sent_on=last_sent_on)
        session.add(enrollment)
        session.flush()
        lead.enrollment_id = enrollment.enrollment_id
    return lead
