"""Owners' postal addresses as seen by each source (the roll's mailing address, the roll's
fiduciary, an appraiser page …), with the source's name, a reference (roll parcel, page URL)
and the time it was seen.

One row per (owner, kind, source, address): seeing the same address from the same source
again adds nothing; a different address from another source is kept beside it, so an
operator can tell a stale roll address from a newer appraiser one. Addresses are compared by
the same street normalisation the contact linking uses (`contacts.dedupe.normalize_street`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.dedupe import normalize_street
from outreach.ledger.models import OwnerAddress


@dataclass(frozen=True)
class SeenAddress:
    owner_id: int
    kind: str  # mailing | fiduciary
    source_name: str
    source_kind: str
    source_ref: str
    seen_at: datetime
    line1: str
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    addressee: str | None = None
    """Whom to address there when not the owner of record (the roll's fiduciary)."""

    @property
    def address_key(self) -> str:
        return f"{normalize_street(self.line1)}|{(self.zip or '')[:5]}"[:300]


def record_owner_addresses(session: Session, addresses: Iterable[SeenAddress]) -> int:
    """Store the addresses not stored before; returns how many were added."""
    wanted = [address for address in addresses if address.line1.strip()]
    owner_ids = sorted({address.owner_id for address in wanted})
    known: set[tuple[int, str, str, str]] = set()
    for start in range(0, len(owner_ids), 2_000):
        known.update(session.execute(
            select(OwnerAddress.owner_id, OwnerAddress.kind, OwnerAddress.source_name,
                   OwnerAddress.address_key).where(
                OwnerAddress.owner_id.in_(owner_ids[start:start + 2_000]))).tuples().all())
    added = 0
    for address in wanted:
        identity = (address.owner_id, address.kind, address.source_name, address.address_key)
        if identity in known:
            continue
        known.add(identity)
        session.add(OwnerAddress(
            owner_id=address.owner_id, kind=address.kind, source_name=address.source_name,
            source_kind=address.source_kind, source_ref=address.source_ref[:500],
            address_key=address.address_key, line1=address.line1, line2=address.line2 or None,
            city=address.city or None, state=address.state or None,
            zip=(address.zip or "")[:10] or None, addressee=address.addressee or None,
            seen_at=address.seen_at))
        added += 1
    return added
