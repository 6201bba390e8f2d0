"""The ledger's tables (SQLAlchemy 2 declarative models): every person-facing fact.

Owners, their parcels and postal addresses, their contacts (phones and emails, encrypted,
with a keyed lookup hash) and where each came from, contact imports, do-not-call lists and
scrubs, consents, suppressions, compliance decisions, campaigns, enrollments, every message in
and out with its status history, lead statuses, conversation states, handoffs to a closer,
LLM calls, deals, and the audit log. Each schema change is an Alembic migration
(`outreach/ledger/migrations/versions/`).

Conventions: `<object>_id` integer keys, `_at` timestamps in UTC, `_on` dates, `is_`/`has_`
booleans, constraint names from one naming convention so migrations are stable on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from outreach.ledger.pii import current_keyring

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored without zone and always read back as UTC (SQLite has no zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class EncryptedString(TypeDecorator[str]):
    """Plain text in Python, Fernet ciphertext in the database (see `outreach.ledger.pii`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else current_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else current_keyring().decrypt(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Owner(Base):
    """A property owner in one market, keyed by a normalised name + mailing address."""

    __tablename__ = "owners"
    __table_args__ = (UniqueConstraint("market_code", "owner_key"),)

    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    market_code: Mapped[str] = mapped_column(String(40))
    owner_key: Mapped[str] = mapped_column(String(400))
    owner_name: Mapped[str] = mapped_column(String(300))
    mailing_address: Mapped[str | None] = mapped_column(String(300))
    mailing_city: Mapped[str | None] = mapped_column(String(100))
    mailing_state: Mapped[str | None] = mapped_column(String(40))
    mailing_zip: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class OwnerParcel(Base):
    """A parcel an owner holds, and how the link was made (parcel id or name + address)."""

    __tablename__ = "owner_parcels"
    __table_args__ = (Index("ix_owner_parcels_market_parcel", "market_code", "parcel_id"),)

    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), primary_key=True)
    parcel_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    market_code: Mapped[str] = mapped_column(String(40))
    linked_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Contact(Base):
    """One phone or email of one owner, validated, with a confidence and its DNC state."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("owner_id", "channel", "value_hash"),)

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # phone | email
    value: Mapped[str] = mapped_column(EncryptedString)
    value_hash: Mapped[str] = mapped_column(String(64), index=True)
    value_hint: Mapped[str] = mapped_column(String(80))
    number_type: Mapped[str | None] = mapped_column(String(30))
    line_type: Mapped[str | None] = mapped_column(String(30))
    email_domain_status: Mapped[str | None] = mapped_column(String(30))
    is_valid: Mapped[bool] = mapped_column(Boolean)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float)
    confidence_reason: Mapped[str] = mapped_column(Text, default="")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    is_wrong_number: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class ContactSource(Base):
    """Where a contact was seen: the source's name, the file line or URL, and when."""

    __tablename__ = "contact_sources"
    __table_args__ = (UniqueConstraint("contact_id", "source_name", "source_ref"),)

    contact_source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.contact_id"), index=True)
    source_name: Mapped[str] = mapped_column(String(100))
    source_kind: Mapped[str] = mapped_column(String(30))
    source_ref: Mapped[str] = mapped_column(String(500))
    vendor_phone_type: Mapped[str | None] = mapped_column(String(30))
    is_vendor_dnc: Mapped[bool | None] = mapped_column(Boolean)
    is_vendor_litigator: Mapped[bool | None] = mapped_column(Boolean)
    contact_import_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_imports.contact_import_id"))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ContactImport(Base):
    """One run of `wholesaler contacts import` (or a provider batch): what it did."""

    __tablename__ = "contact_imports"

    contact_import_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(100))
    market_code: Mapped[str | None] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejects_file: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DncList(Base):
    """One loaded do-not-call file: which list, which area code, and its download date."""

    __tablename__ = "dnc_lists"

    dnc_list_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # national | state | internal | litigator
    state: Mapped[str | None] = mapped_column(String(2))
    area_code: Mapped[str | None] = mapped_column(String(3))
    is_change_list: Mapped[bool] = mapped_column(Boolean, default=False)
    source_file: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    downloaded_on: Mapped[date] = mapped_column(Date)
    downloaded_on_basis: Mapped[str] = mapped_column(String(20))
    numbers_added: Mapped[int] = mapped_column(Integer, default=0)
    numbers_removed: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class DncNumber(Base):
    """A number on a do-not-call list, stored only as its keyed lookup hash."""

    __tablename__ = "dnc_numbers"

    list_key: Mapped[str] = mapped_column(String(20), primary_key=True)  # national, state_fl, …
    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_code: Mapped[str | None] = mapped_column(String(3))
    dnc_list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.dnc_list_id"))


class DncScrub(Base):
    """The result of checking one contact against every DNC list, with the lists' dates."""

    __tablename__ = "dnc_scrubs"

    dnc_scrub_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.contact_id"), index=True)
    scrubbed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    is_listed: Mapped[bool] = mapped_column(Boolean)
    listed_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    national_downloaded_on: Mapped[date | None] = mapped_column(Date)
    state_downloaded_on: Mapped[date | None] = mapped_column(Date)
    is_sms_blocked: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")


class PhoneLookup(Base):
    """One paid line-type lookup of a phone (Twilio Lookup v2 `line_type_intelligence`), kept
    by the phone's keyed lookup hash, never the number. The newest row of a phone is reused
    until it is older than the configured age; every row is one billed lookup, so the table
    is also the lookup cost ledger."""

    __tablename__ = "phone_lookups"
    __table_args__ = (Index("ix_phone_lookups_hash_at", "phone_hash", "looked_up_at"),)

    phone_lookup_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(30), default="twilio_lookup_v2")
    is_valid: Mapped[bool | None] = mapped_column(Boolean)
    line_type: Mapped[str | None] = mapped_column(String(30))
    carrier_name: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    looked_up_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class AuditEntry(Base):
    """Who did what to which record, and when; append-only."""

    __tablename__ = "audit_log"

    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Consent(Base):
    """Consent of one contact to messages on one channel: where and how it was given, the
    wording shown, when; `revoked_at` once withdrawn (a new consent is a new row)."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_contact_channel", "contact_id", "channel"),)

    consent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.contact_id"))
    channel: Mapped[str] = mapped_column(String(10))  # sms | email
    source: Mapped[str] = mapped_column(String(200))
    wording: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Suppression(Base):
    """A permanent stop (opt-out, complaint, bounce, operator): for a person (owner), a
    contact value (its keyed hash, so the same number is stopped under every owner), or both;
    on one channel or all. Never deleted."""

    __tablename__ = "suppressions"

    suppression_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    value_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms | email | all
    reason: Mapped[str] = mapped_column(String(50))  # opt_out | complaint | bounce | operator
    detail: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(Integer)  # the message that caused it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # A person who texts START / UNSTOP after an opt-out re-subscribes: the row stays (the
    # history is kept forever) and is marked lifted, with the message that lifted it.
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_by_message_id: Mapped[int | None] = mapped_column(Integer)
    lifted_reason: Mapped[str | None] = mapped_column(Text)


class ComplianceDecision(Base):
    """One answer of the compliance gate: allowed or refused, every check with its reason,
    and the version of the rules that decided."""

    __tablename__ = "compliance_decisions"
    # The gate's decision history reads (owner, planned time); nothing looks decisions up by
    # contact or reference (migration 0009 dropped those indexes: one entry less per touch).
    __table_args__ = (
        Index("ix_compliance_decisions_owner_planned", "owner_id", "planned_at"),
    )

    compliance_decision_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.contact_id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"))
    market_code: Mapped[str] = mapped_column(String(40))
    is_allowed: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    refusal_codes: Mapped[str] = mapped_column(String(500), default="")
    rule_set_version: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200))


class CampaignRecord(Base):
    """A campaign the ledger knows (its definition lives in campaigns/<name>.yaml); pausing is
    recorded here so every send run sees it."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Enrollment(Base):
    """One owner (lead) in one campaign, and where its drip stands (see
    outreach/campaigns/enrollment.py for the state machine)."""

    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("campaign_id", "owner_id"),
                      Index("ix_enrollments_status", "campaign_id", "status"))

    enrollment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.campaign_id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    market_code: Mapped[str] = mapped_column(String(40))
    parcel_id: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(2))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    touches_sent: Mapped[int] = mapped_column(Integer, default=0)
    enrolled_on: Mapped[date] = mapped_column(Date)
    last_sent_on: Mapped[date | None] = mapped_column(Date)
    stop_reason: Mapped[str | None] = mapped_column(String(30))
    paused_status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class Message(Base):
    """Every message in and out. An outbound touch is written (status `sending`) with its
    idempotency key BEFORE the provider is called; the provider id and status follow. A row
    left `sending` by a crash is reconciled, never re-sent blindly."""

    __tablename__ = "messages"
    # Provider ids and threading are looked up by value only: partial indexes, so the touches
    # written without them (every touch, until the provider answers) add no entry.
    __table_args__ = (Index("ix_messages_owner_created", "owner_id", "created_at"),
                      Index("ix_messages_status", "status"),
                      Index("ix_messages_provider_message_id", "provider_message_id",
                            sqlite_where=text("provider_message_id IS NOT NULL"),
                            postgresql_where=text("provider_message_id IS NOT NULL")),
                      Index("ix_messages_in_reply_to_id", "in_reply_to_id",
                            sqlite_where=text("in_reply_to_id IS NOT NULL"),
                            postgresql_where=text("in_reply_to_id IS NOT NULL")))

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(10))  # outbound | inbound
    channel: Mapped[str] = mapped_column(String(10))  # sms | email
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.enrollment_id"),
                                                      index=True)
    touch_number: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.owner_id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.contact_id"))
    counterpart_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    counterpart: Mapped[str | None] = mapped_column(EncryptedString)
    template: Mapped[str | None] = mapped_column(String(60))
    template_version: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)  # purged after the retention period
    segments: Mapped[int | None] = mapped_column(Integer)
    encoding: Mapped[str | None] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))  # twilio | smtp | outbox
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_message: Mapped[str | None] = mapped_column(Text)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    compliance_decision_id: Mapped[int | None] = mapped_column(
        ForeignKey("compliance_decisions.compliance_decision_id"))
    planned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    body_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What an outbound message is for: a campaign `touch`, or a message the replies side sends
    # (`opt_out_confirmation`, `resubscribe_confirmation`, `help`, `auto_reply`,
    # `handoff_notice` to the closer). Inbound rows leave it NULL.
    purpose: Mapped[str | None] = mapped_column(String(30))
    # Threading: the message this one answers (an inbound reply -> our outbound touch; an
    # auto-reply -> the inbound question).
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.message_id"))
    # Inbound only: the classifier's answer (intent, opt_out, sentiment, confidence, method…)
    # and the decision taken, written when the reply has been processed; a row with
    # `processed_at` NULL is picked up again after a crash.
    classification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decision: Mapped[str | None] = mapped_column(String(30))
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Inbound email only: the thread it continues, Message-IDs oldest first, space-separated
    # (its References header, else its In-Reply-To); our answer's References is this plus the
    # inbound Message-ID.
    email_references: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class MessageEvent(Base):
    """The status history of a message: each change, from where, with the provider's detail."""

    __tablename__ = "message_events"

    message_event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.message_id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(30))  # send | callback | reconcile | operator
    error_code: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class LeadStatusChange(Base):
    """A lead's pipeline status over time (new -> contacted -> replied -> interested ->
    negotiating -> under_contract -> closed / dead / opted_out), with who and when; the
    newest row is the current status."""

    __tablename__ = "lead_status_changes"
    __table_args__ = (Index("ix_lead_status_changes_owner_at", "owner_id", "changed_at"),)

    lead_status_change_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"))
    market_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ConversationState(Base):
    """Where the conversation with one owner stands (replies, issue 6): the state, whether a
    human has taken over, and when it last changed."""

    __tablename__ = "conversation_states"

    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(30))
    is_human_takeover: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class OwnerAddress(Base):
    """A postal address seen for an owner, with where and when it was seen: the roll's
    mailing address, the roll's fiduciary (kind `fiduciary`), a property-appraiser page. The
    owner row keeps the roll's address for linking; this table keeps every source."""

    __tablename__ = "owner_addresses"
    __table_args__ = (UniqueConstraint("owner_id", "kind", "source_name", "address_key"),)

    owner_address_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # mailing | fiduciary
    source_name: Mapped[str] = mapped_column(String(100))
    source_kind: Mapped[str] = mapped_column(String(30))  # contacts.dedupe.SourceKind values
    source_ref: Mapped[str] = mapped_column(String(500))
    address_key: Mapped[str] = mapped_column(String(300))
    line1: Mapped[str] = mapped_column(String(300))
    line2: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(40))
    zip: Mapped[str | None] = mapped_column(String(10))
    # whom to address there when not the owner of record: the roll's fiduciary (migration 0008)
    addressee: Mapped[str | None] = mapped_column(String(300))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The statuses of an open handoff (one per owner at most: `uq_handoffs_open_owner`).
HANDOFF_OPEN_STATUSES = ("waiting", "claimed")
HANDOFF_OPEN_CONDITION = "status IN ('waiting', 'claimed')"


class Handoff(Base):
    """An interested seller handed to a human closer: why, which reply, who was notified and
    how, and where it stands (`waiting` -> `claimed` -> `closed`). At most one open
    (`waiting` or `claimed`) handoff per owner: a partial unique index."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_created", "status", "created_at"),
                      Index("uq_handoffs_open_owner", "owner_id", unique=True,
                            sqlite_where=text(HANDOFF_OPEN_CONDITION),
                            postgresql_where=text(HANDOFF_OPEN_CONDITION)))

    handoff_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    market_code: Mapped[str] = mapped_column(String(40))
    trigger_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.message_id"))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    closer: Mapped[str | None] = mapped_column(String(100))
    notified_sms_message_id: Mapped[int | None] = mapped_column(Integer)
    notified_email_message_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class LlmCall(Base):
    """One call to a language model (intent, a written touch, an auto-reply): the raw prompt,
    the raw response, the parsed JSON, whether it passed validation and the checks, and
    which text was finally used. Prompts and responses hold personal data: the retention
    purge clears them with message bodies."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_purpose_created", "purpose", "created_at"),)

    llm_call_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30))  # intent | touch | auto_reply
    provider: Mapped[str] = mapped_column(String(20))  # ollama | openai | none
    model: Mapped[str | None] = mapped_column(String(100))
    prompt_name: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.message_id"))
    prompt: Mapped[str | None] = mapped_column(Text)
    raw_response: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_checks: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    used: Mapped[str] = mapped_column(String(20))  # model | fallback
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Deal(Base):
    """A deal with an owner: under contract, then closed (with the assignment fee earned) or
    cancelled. Recorded by `wholesaler deals record` or the dashboard; the marts attribute it
    to the campaign and touch that drew the first reply."""

    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_market_status", "market_code", "status"),)

    deal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.owner_id"), index=True)
    market_code: Mapped[str] = mapped_column(String(40))
    parcel_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # under_contract | closed | cancelled
    contract_price_usd: Mapped[float | None] = mapped_column(Float)
    assignment_fee_usd: Mapped[float | None] = mapped_column(Float)
    contracted_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class MailboxCursor(Base):
    """How far the IMAP poller has read one mailbox folder: the folder's UIDVALIDITY and the
    highest UID processed (a changed UIDVALIDITY means the folder was rebuilt: read it again;
    duplicates are caught by the Message-ID)."""

    __tablename__ = "mailbox_cursors"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    mailbox_cursor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(300))
    folder: Mapped[str] = mapped_column(String(200))
    # IMAP UIDs and UIDVALIDITY are unsigned 32-bit: BIGINT holds them as they are.
    uid_validity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
