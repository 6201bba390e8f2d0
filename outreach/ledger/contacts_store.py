"""Storing validated, deduplicated contacts (`contacts.dedupe.Contact`) in the ledger.

Idempotent by construction: an owner is found by (market, owner key), a contact by (owner,
channel, keyed hash of the value), a sighting by (contact, source name, file:line:column).
Storing the same contacts again adds nothing; a new source for a known phone adds one
`contact_sources` row to the existing contact and keeps the higher confidence. Every owner
stored also gets the roll's addresses in `owner_addresses` (`roll_addresses`: the mailing
address and the fiduciary's, each its own source), once.

Writes are batched Core inserts (executemany) rather than one ORM object per row, so a county's
contacts land in seconds; values are encrypted on the way in by the `EncryptedString` type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from contacts.dedupe import Contact as ValidatedContact
from contacts.dedupe import ParcelOwner, SourceKind
from outreach.ledger.models import Contact, ContactSource, Owner, OwnerParcel, utc_now
from outreach.ledger.owner_addresses import SeenAddress, record_owner_addresses
from outreach.ledger.pii import current_keyring, mask_email, mask_phone

_BATCH = 2_000


@dataclass(frozen=True)
class StoreReport:
    owners_added: int
    parcel_links_added: int
    contacts_added: int
    contacts_updated: int
    sources_added: int
    sightings_already_stored: int
    new_rows: frozenset[tuple[str, int]]
    """(file name, line) of every input row that added at least one new sighting."""


def source_ref(source_file: str, line: int, column: str) -> str:
    """How a sighting is named: the file's name (not its folder, so a moved file is the same
    file), the line and the column."""
    return f"{PurePath(source_file).name}:{line}:{column}"


ROLL_SOURCE = "fl_dor_roll"
ROLL_FIDUCIARY_SOURCE = "fl_dor_roll_fiduciary"


def roll_addresses(owner_id: int, market_code: str, parcel: ParcelOwner,
                   seen_at: datetime) -> list[SeenAddress]:
    """The postal addresses the roll gives for an owner, each as its own source with the roll
    record (`<market>:<parcel id>`) as reference: the owner's mailing address (source
    `fl_dor_roll`) and the parcel's fiduciary (trustee, personal representative; source
    `fl_dor_roll_fiduciary`, kind `fiduciary`, the fiduciary's name as addressee). A fiduciary
    address that is the owner's mailing address (same street and ZIP) is not a second
    address and is left out."""
    reference = f"{market_code}:{parcel.parcel_id}"
    mailing = SeenAddress(
        owner_id=owner_id, kind="mailing", source_name=ROLL_SOURCE,
        source_kind=SourceKind.ROLL_MAILING_ADDRESS.value, source_ref=reference,
        seen_at=seen_at, line1=parcel.mailing.line1, line2=parcel.mailing.line2,
        city=parcel.mailing.city, state=parcel.mailing.state, zip=parcel.mailing.zip)
    found = [mailing]
    fiduciary = parcel.fiduciary
    if fiduciary is not None and fiduciary.address.line1.strip():
        address = fiduciary.address
        seen = SeenAddress(
            owner_id=owner_id, kind="fiduciary", source_name=ROLL_FIDUCIARY_SOURCE,
            source_kind=SourceKind.ROLL_FIDUCIARY_ADDRESS.value, source_ref=reference,
            seen_at=seen_at, line1=address.line1, line2=address.line2, city=address.city,
            state=address.state, zip=address.zip, addressee=fiduciary.name)
        if seen.address_key != mailing.address_key:
            found.append(seen)
    return found


def _chunks(rows: Sequence[dict[str, object]]) -> Iterable[Sequence[dict[str, object]]]:
    for start in range(0, len(rows), _BATCH):
        yield rows[start:start + _BATCH]


def store_contacts(
    session: Session,
    market_code: str,
    contacts: Sequence[ValidatedContact],
    owners: Mapping[str, ParcelOwner],
    owner_parcels: Mapping[str, Sequence[str]],
    contact_import_id: int | None = None,
) -> StoreReport:
    """Store `contacts` of one market. `owners` maps each owner key to one of its parcels (for
    the owner's name and the roll's addresses, `roll_addresses`) and `owner_parcels` to all
    of its parcel ids."""
    keyring = current_keyring()
    now = utc_now()

    wanted_keys = sorted({contact.owner_key for contact in contacts})
    owner_ids: dict[str, int] = {}
    for start in range(0, len(wanted_keys), _BATCH):
        owner_ids.update(session.execute(
            select(Owner.owner_key, Owner.owner_id).where(
                Owner.market_code == market_code,
                Owner.owner_key.in_(wanted_keys[start:start + _BATCH]))).tuples().all())
    new_owner_rows = []
    for key in wanted_keys:
        if key in owner_ids:
            continue
        parcel = owners[key]
        new_owner_rows.append({
            "market_code": market_code, "owner_key": key, "owner_name": parcel.owner_name,
            "mailing_address": parcel.mailing.line1 or None,
            "mailing_city": parcel.mailing.city or None,
            "mailing_state": parcel.mailing.state or None,
            "mailing_zip": parcel.mailing.zip or None, "created_at": now})
    for chunk in _chunks(new_owner_rows):
        session.execute(insert(Owner), chunk)
    if new_owner_rows:
        for start in range(0, len(wanted_keys), _BATCH):
            owner_ids.update(session.execute(
                select(Owner.owner_key, Owner.owner_id).where(
                    Owner.market_code == market_code,
                    Owner.owner_key.in_(wanted_keys[start:start + _BATCH]))).tuples().all())
    record_owner_addresses(session, [
        address for key in wanted_keys
        for address in roll_addresses(owner_ids[key], market_code, owners[key], now)])

    ids = list(owner_ids.values())
    linked: set[tuple[int, str]] = set()
    existing: dict[tuple[int, str, str], tuple[int, float]] = {}
    for start in range(0, len(ids), _BATCH):
        chunk_ids = ids[start:start + _BATCH]
        linked.update(session.execute(select(OwnerParcel.owner_id, OwnerParcel.parcel_id).where(
            OwnerParcel.owner_id.in_(chunk_ids))).tuples().all())
        for contact_id, owner_id, channel, value_hash, confidence in session.execute(
                select(Contact.contact_id, Contact.owner_id, Contact.channel,
                       Contact.value_hash, Contact.confidence).where(
                    Contact.owner_id.in_(chunk_ids))):
            existing[(owner_id, channel, value_hash)] = (contact_id, confidence)

    link_rows = []
    for key in wanted_keys:
        owner_id = owner_ids[key]
        for parcel_id in owner_parcels.get(key, ()):
            if (owner_id, parcel_id) not in linked:
                linked.add((owner_id, parcel_id))
                link_rows.append({"owner_id": owner_id, "parcel_id": parcel_id,
                                  "market_code": market_code, "linked_by": "roll_owner",
                                  "created_at": now})
    for chunk in _chunks(link_rows):
        session.execute(insert(OwnerParcel), chunk)

    new_contact_rows, raised = [], []
    keyed: list[tuple[ValidatedContact, tuple[int, str, str]]] = []
    for contact in contacts:
        value_hash = keyring.lookup_hash(contact.channel, contact.value)
        identity = (owner_ids[contact.owner_key], contact.channel, value_hash)
        keyed.append((contact, identity))
        known = existing.get(identity)
        if known is not None:
            if contact.confidence > known[1]:
                raised.append({"contact_id": known[0], "confidence": contact.confidence,
                               "confidence_reason": contact.confidence_reason,
                               "updated_at": now})
            continue
        existing[identity] = (-1, contact.confidence)
        is_phone = contact.channel == "phone"
        new_contact_rows.append({
            "owner_id": identity[0], "channel": contact.channel, "value": contact.value,
            "value_hash": value_hash,
            "value_hint": mask_phone(contact.value) if is_phone else mask_email(contact.value),
            "number_type": contact.number_type if is_phone else None, "line_type": None,
            "email_domain_status": None if is_phone else contact.domain_status,
            "is_valid": True, "is_verified": False, "confidence": contact.confidence,
            "confidence_reason": contact.confidence_reason, "rejection_reason": None,
            "is_wrong_number": False, "created_at": now, "updated_at": now})
    for chunk in _chunks(new_contact_rows):
        session.execute(insert(Contact), chunk)
    if raised:
        session.execute(update(Contact), raised)

    contact_ids: dict[tuple[int, str, str], int] = {}
    for start in range(0, len(ids), _BATCH):
        for contact_id, owner_id, channel, value_hash in session.execute(
                select(Contact.contact_id, Contact.owner_id, Contact.channel,
                       Contact.value_hash).where(Contact.owner_id.in_(ids[start:start + _BATCH]))):
            contact_ids[(owner_id, channel, value_hash)] = contact_id

    known_sources: set[tuple[int, str, str]] = set()
    wanted_contact_ids = sorted({contact_ids[identity] for _, identity in keyed})
    for start in range(0, len(wanted_contact_ids), _BATCH):
        batch = wanted_contact_ids[start:start + _BATCH]
        known_sources.update(session.execute(
            select(ContactSource.contact_id, ContactSource.source_name,
                   ContactSource.source_ref).where(
                ContactSource.contact_id.in_(batch))).tuples().all())
    source_rows, already, new_rows = [], 0, set()
    for contact, identity in keyed:
        contact_id = contact_ids[identity]
        for sighting in contact.sightings:
            ref = source_ref(sighting.source_file, sighting.line, sighting.column)
            marker = (contact_id, sighting.source.name, ref)
            if marker in known_sources:
                already += 1
                continue
            known_sources.add(marker)
            new_rows.add((PurePath(sighting.source_file).name, sighting.line))
            source_rows.append({
                "contact_id": contact_id, "source_name": sighting.source.name,
                "source_kind": sighting.source.kind.value, "source_ref": ref,
                "vendor_phone_type": sighting.vendor_type, "is_vendor_dnc": sighting.vendor_dnc,
                "is_vendor_litigator": sighting.litigator,
                "contact_import_id": contact_import_id,
                "seen_at": sighting.source.observed_at or now})
    for chunk in _chunks(source_rows):
        session.execute(insert(ContactSource), chunk)

    return StoreReport(
        owners_added=len(new_owner_rows), parcel_links_added=len(link_rows),
        contacts_added=len(new_contact_rows), contacts_updated=len(raised),
        sources_added=len(source_rows), sightings_already_stored=already,
        new_rows=frozenset(new_rows))
