"""Do-not-call lists in the ledger: loading them, and scrubbing contacts against them.

Each loaded file becomes a `dnc_lists` row with its kind (national registry, a state list,
our internal suppression list, a litigator list), its area code when the registry delivers
one file per area code, and its download date. Numbers are stored only as their keyed lookup
hash (`outreach.ledger.pii`), so the ledger holds no plain phone number even for lists.

A full list replaces what that list (and area code) held before; a change list adds and
removes. A scrub records, for each contact, the lists it is on and the download dates of the
registry copies it was checked against; a national copy older than `REGISTRY_MAX_AGE_DAYS`
(or none at all for the number's area code) blocks SMS until the registry is refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contacts.dnc import registry_age_blocks_sms
from contacts.emails import SENDABLE_STATUSES
from outreach.ledger.models import (
    Contact,
    ContactSource,
    DncList,
    DncNumber,
    DncScrub,
    Owner,
    OwnerParcel,
    utc_now,
)
from outreach.ledger.pii import current_keyring

REGISTRY_MAX_AGE_DAYS = 31
# An email counts as sendable only when its domain was checked and takes mail.
SENDABLE_EMAIL_DOMAIN_STATUSES = SENDABLE_STATUSES - {"not_checked"}
LIST_KINDS = ("national", "state", "internal", "litigator")
_BATCH = 5_000


def list_key(kind: str, state: str | None = None) -> str:
    """The key a list's numbers are stored under: `national`, `state_fl`, `internal`, …"""
    if kind not in LIST_KINDS:
        raise ValueError(f"unknown do-not-call list kind {kind!r}; known: {LIST_KINDS}")
    if kind == "state":
        if not state:
            raise ValueError("a state do-not-call list needs its state (e.g. FL)")
        return f"state_{state.lower()}"
    return kind


def _area_code(e164: str) -> str | None:
    return e164[2:5] if e164.startswith("+1") and len(e164) == 12 else None


def _batches(values: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(values)
    while batch := list(islice(iterator, _BATCH)):
        yield batch


@dataclass(frozen=True)
class DncListLoad:
    """One do-not-call file to load. `numbers_added` / `numbers_removed` are E.164 strings;
    a full list (`is_change_list=False`) replaces the list's earlier numbers for its area
    code (or all of them when the file is not per area code)."""

    kind: str
    source_file: str
    file_sha256: str
    downloaded_on: date
    downloaded_on_basis: str
    numbers_added: Iterable[str]
    numbers_removed: Iterable[str] = ()
    state: str | None = None
    area_code: str | None = None
    is_change_list: bool = False


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, object]]) -> None:
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = dialect_insert(DncNumber).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["list_key", "phone_hash"],
        set_={"dnc_list_id": statement.excluded.dnc_list_id},
    )
    session.execute(statement)


def load_dnc_list(session: Session, load: DncListLoad) -> DncList:
    """Record one list file and its numbers; returns the `dnc_lists` row."""
    key = list_key(load.kind, load.state)
    keyring = current_keyring()
    row = DncList(kind=load.kind, state=load.state, area_code=load.area_code,
                  is_change_list=load.is_change_list, source_file=load.source_file,
                  file_sha256=load.file_sha256, downloaded_on=load.downloaded_on,
                  downloaded_on_basis=load.downloaded_on_basis)
    session.add(row)
    session.flush()
    if not load.is_change_list:
        replaced = delete(DncNumber).where(DncNumber.list_key == key)
        if load.area_code:
            replaced = replaced.where(DncNumber.area_code == load.area_code)
        session.execute(replaced)
    added = 0
    for batch in _batches(load.numbers_added):
        _insert_ignoring_duplicates(session, [
            {"list_key": key, "phone_hash": keyring.lookup_hash("phone", number),
             "area_code": _area_code(number), "dnc_list_id": row.dnc_list_id}
            for number in batch])
        added += len(batch)
    removed = 0
    for batch in _batches(load.numbers_removed):
        hashes = [keyring.lookup_hash("phone", number) for number in batch]
        result = session.execute(delete(DncNumber).where(
            DncNumber.list_key == key, DncNumber.phone_hash.in_(hashes)))
        removed += result.rowcount or 0
    row.numbers_added, row.numbers_removed = added, removed
    return row


def registry_downloaded_on(session: Session, area_code: str | None) -> date | None:
    """Download date of the freshest national-registry copy covering `area_code` (a file for
    that area code, or a file covering every area code)."""
    query = select(func.max(DncList.downloaded_on)).where(DncList.kind == "national")
    if area_code:
        query = query.where((DncList.area_code == area_code) | DncList.area_code.is_(None))
    return session.scalar(query)


def state_list_downloaded_on(session: Session, state: str) -> date | None:
    return session.scalar(select(func.max(DncList.downloaded_on)).where(
        DncList.kind == "state", DncList.state == state))


def registry_is_stale(downloaded_on: date | None, today: date) -> bool:
    """True when there is no registry copy, or it is older than 31 days (or dated in the
    future); the rule itself is `contacts.dnc.registry_age_blocks_sms`."""
    return downloaded_on is None or registry_age_blocks_sms(downloaded_on, today,
                                                            REGISTRY_MAX_AGE_DAYS)


def lists_holding(session: Session, e164: str) -> list[str]:
    """The list keys (`national`, `state_fl`, `internal`, `litigator`) holding `e164`."""
    phone_hash = current_keyring().lookup_hash("phone", e164)
    return sorted(session.scalars(
        select(DncNumber.list_key).where(DncNumber.phone_hash == phone_hash)))


@dataclass(frozen=True)
class ScrubReport:
    phones: int
    listed: int
    sms_blocked: int
    national_downloaded_on: date | None
    """The oldest registry copy any scrubbed number was checked against."""


def _scrub_rows(session: Session, contacts: list[Contact], today: date,
                state: str) -> list[dict[str, object]]:
    """One scrub row per phone contact: lists holding it (including a vendor's DNC or
    litigator flag), the registry and state-list dates, and whether SMS is blocked."""
    if any(contact.channel != "phone" for contact in contacts):
        raise ValueError("only phone contacts are scrubbed against do-not-call lists")
    listed: dict[str, set[str]] = {}
    hashes = sorted({contact.value_hash for contact in contacts})
    for start in range(0, len(hashes), _BATCH):
        for key, phone_hash in session.execute(select(DncNumber.list_key, DncNumber.phone_hash)
                                               .where(DncNumber.phone_hash.in_(
                                                   hashes[start:start + _BATCH]))):
            listed.setdefault(phone_hash, set()).add(key)
    flagged: dict[int, set[str]] = {}
    ids = [contact.contact_id for contact in contacts]
    for start in range(0, len(ids), _BATCH):
        for contact_id, is_dnc, is_litigator in session.execute(
                select(ContactSource.contact_id, ContactSource.is_vendor_dnc,
                       ContactSource.is_vendor_litigator).where(
                    ContactSource.contact_id.in_(ids[start:start + _BATCH]),
                    (ContactSource.is_vendor_dnc.is_(True))
                    | (ContactSource.is_vendor_litigator.is_(True)))):
            flags = flagged.setdefault(contact_id, set())
            if is_dnc:
                flags.add("vendor_dnc")
            if is_litigator:
                flags.add("vendor_litigator")
    national_by_area: dict[str | None, date | None] = {}
    state_on = state_list_downloaded_on(session, state)
    now = utc_now()
    rows = []
    for contact in contacts:
        area_code = _area_code(contact.value)
        if area_code not in national_by_area:
            national_by_area[area_code] = registry_downloaded_on(session, area_code)
        national_on = national_by_area[area_code]
        on = sorted(listed.get(contact.value_hash, set()) | flagged.get(contact.contact_id,
                                                                         set()))
        reasons = []
        if on:
            reasons.append(f"on {', '.join(on)}")
        if national_on is None:
            reasons.append(f"no national registry copy for area code {area_code}")
        elif registry_is_stale(national_on, today):
            reasons.append(f"national registry copy from {national_on} is older than "
                           f"{REGISTRY_MAX_AGE_DAYS} days")
        rows.append({"contact_id": contact.contact_id, "scrubbed_at": now,
                     "is_listed": bool(on), "listed_on": on,
                     "national_downloaded_on": national_on, "state_downloaded_on": state_on,
                     "is_sms_blocked": bool(reasons), "reason": "; ".join(reasons) or "clear"})
    return rows


def scrub_contact(session: Session, contact: Contact, today: date,
                  state: str = "FL") -> DncScrub:
    """Check one phone contact against every list and record the result with the dates of
    the copies used. SMS is blocked when the number is listed (on a list, or flagged DNC or
    litigator by a vendor) or the registry copy covering its area code is missing or stale."""
    scrub = DncScrub(**_scrub_rows(session, [contact], today, state)[0])
    session.add(scrub)
    return scrub


def scrub_market_phones(session: Session, market_code: str, today: date,
                        state: str = "FL") -> ScrubReport:
    """Scrub every phone contact of a market's owners; one `dnc_scrubs` row each."""
    contacts = list(session.scalars(
        select(Contact).join(Owner, Owner.owner_id == Contact.owner_id).where(
            Owner.market_code == market_code, Contact.channel == "phone")))
    rows = []
    for start in range(0, len(contacts), _BATCH):
        rows.extend(_scrub_rows(session, contacts[start:start + _BATCH], today, state))
    for start in range(0, len(rows), _BATCH):
        session.execute(insert(DncScrub), rows[start:start + _BATCH])
    dates = [row["national_downloaded_on"] for row in rows
             if row["national_downloaded_on"] is not None]
    return ScrubReport(phones=len(rows), listed=sum(bool(row["is_listed"]) for row in rows),
                       sms_blocked=sum(bool(row["is_sms_blocked"]) for row in rows),
                       national_downloaded_on=min(dates) if dates else None)  # type: ignore[type-var]


def latest_scrubs(session: Session, contact_ids: Iterable[int]) -> dict[int, DncScrub]:
    """The newest scrub of each contact."""
    ids = sorted(set(contact_ids))
    newest: dict[int, DncScrub] = {}
    for start in range(0, len(ids), _BATCH):
        for scrub in session.scalars(select(DncScrub).where(
                DncScrub.contact_id.in_(ids[start:start + _BATCH])).order_by(
                DncScrub.scrubbed_at, DncScrub.dnc_scrub_id)):
            newest[scrub.contact_id] = scrub
    return newest


def sendable_parcel_ids(session: Session, market_code: str) -> set[str]:
    """Parcels of the market whose owner has at least one sendable contact: a valid phone
    that is not a wrong number and whose newest scrub does not block SMS, or a valid email
    whose domain takes mail. (Consent and quiet hours are the compliance gate's, at send
    time.)"""
    rows = session.execute(
        select(OwnerParcel.parcel_id, Contact.contact_id, Contact.channel,
               Contact.email_domain_status)
        .join(Owner, Owner.owner_id == OwnerParcel.owner_id)
        .join(Contact, Contact.owner_id == Owner.owner_id)
        .where(Owner.market_code == market_code, Contact.is_valid.is_(True),
               Contact.is_wrong_number.is_(False))).all()
    scrubs = latest_scrubs(session, [row.contact_id for row in rows if row.channel == "phone"])
    sendable = set()
    for parcel_id, contact_id, channel, domain_status in rows:
        if channel == "email":
            if domain_status in SENDABLE_EMAIL_DOMAIN_STATUSES:
                sendable.add(parcel_id)
        else:
            scrub = scrubs.get(contact_id)
            if scrub is not None and not scrub.is_sms_blocked:
                sendable.add(parcel_id)
    return sendable
