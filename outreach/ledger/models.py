"""The ledger's tables (SQLAlchemy 2 declarative models): every person-facing fact.

This first slice holds owners, their parcels, their contacts (phones and emails, encrypted,
with a keyed lookup hash), where each contact came from, contact imports, do-not-call lists
and numbers, the DNC scrub of each contact, and the audit log. Campaigns, enrollments,
messages, consent, suppressions and conversations arrive with the outreach issue, each as a
new Alembic migration (`outreach/ledger/migrations/versions/`).

Conventions: `<object>_id` integer keys, `_at` timestamps in UTC, `_on` dates, `is_`/`has_`
booleans, constraint names from one naming convention so migrations are stable on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
