"""Deals: a seller's property under contract, then closed (with the assignment fee earned) or
cancelled. The one place that writes the ledger's `deals` table; `wholesaler deals record|list`
(outreach/deals_cli.py) and, later, the dashboard call it.

`record_deal(engine, DealInput(...)) -> DealRecord`:

- the owner is named by `owner_id`, or by `market_code` + `parcel_id` (through the parcels the
  ledger links to owners: owner_parcels, enrollments); the parcel defaults to the owner's only
  (or enrolled) parcel;
- one open deal per owner and parcel: a new `under_contract` or `closed` creates it; a later
  `closed` or `cancelled` moves the open deal on; a closed or cancelled deal is final (a new
  contract on the same parcel after a cancellation is a new deal);
- `closed` needs the assignment fee; amounts are dollars, not negative; the date may not lie
  in the future;
- in the same transaction: the lead's status (`under_contract`, `closed`, or `negotiating`
  after a cancellation, through outreach.sending.set_lead_status) and an audit-log entry.

Every refusal is a `DealError` whose message says what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.ledger.db import ledger_session
from outreach.ledger.models import AuditEntry, Deal, Enrollment, Owner, OwnerParcel
from outreach.sending import set_lead_status

DEAL_STATUSES = ("under_contract", "closed", "cancelled")
OPEN_STATUS = "under_contract"
LEAD_STATUS_AFTER = {"under_contract": "under_contract", "closed": "closed",
                     "cancelled": "negotiating"}


class DealError(ValueError):
    """A deal cannot be recorded as asked; the message says why and what to change."""


@dataclass(frozen=True)
class DealInput:
    status: str
    recorded_by: str
    owner_id: int | None = None
    parcel_id: str | None = None
    market_code: str | None = None
    assignment_fee_usd: float | None = None
    contract_price_usd: float | None = None
    on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class DealRecord:
    deal_id: int
    owner_id: int
    market_code: str
    parcel_id: str
    status: str
    contract_price_usd: float | None
    assignment_fee_usd: float | None
    contracted_on: date | None
    closed_on: date | None
    recorded_by: str
    note: str
    created: bool = False

    @classmethod
    def of(cls, deal: Deal, created: bool = False) -> DealRecord:
        return cls(deal.deal_id, deal.owner_id, deal.market_code, deal.parcel_id, deal.status,
                   deal.contract_price_usd, deal.assignment_fee_usd, deal.contracted_on,
                   deal.closed_on, deal.recorded_by, deal.note, created)


def _validate(request: DealInput, today: date) -> None:
    if request.status not in DEAL_STATUSES:
        raise DealError(f"status {request.status!r}: must be one of {', '.join(DEAL_STATUSES)}")
    if not request.recorded_by.strip():
        raise DealError("recorded by: name the person recording the deal (--by)")
    if request.owner_id is None and not (request.market_code and request.parcel_id):
        raise DealError("name the owner: --owner-id, or --market with --parcel-id")
    for label, amount in (("assignment fee", request.assignment_fee_usd),
                          ("contract price", request.contract_price_usd)):
        if amount is not None and (amount != amount or amount < 0):  # NaN or negative
            raise DealError(f"{label} {amount}: must be a dollar amount of 0 or more")
    if request.status == "closed" and request.assignment_fee_usd is None:
        raise DealError("a closed deal needs its assignment fee (--assignment-fee, dollars)")
    if request.on is not None and request.on > today:
        raise DealError(f"date {request.on.isoformat()} lies in the future (today is "
                        f"{today.isoformat()} UTC)")


def _owner_parcels(session: Session, owner_id: int) -> list[str]:
    linked = set(session.scalars(select(OwnerParcel.parcel_id)
                                 .where(OwnerParcel.owner_id == owner_id)))
    enrolled = set(session.scalars(select(Enrollment.parcel_id)
                                   .where(Enrollment.owner_id == owner_id)))
    return sorted(linked | enrolled)


def _resolve_owner(session: Session, request: DealInput) -> tuple[Owner, str]:
    if request.owner_id is not None:
        owner = session.get(Owner, request.owner_id)
        if owner is None:
            raise DealError(f"owner {request.owner_id}: no such owner in the ledger")
        if request.market_code and request.market_code != owner.market_code:
            raise DealError(f"owner {owner.owner_id} is in market {owner.market_code}, not "
                            f"{request.market_code}")
        parcels = _owner_parcels(session, owner.owner_id)
        if request.parcel_id is not None:
            if parcels and request.parcel_id not in parcels:
                raise DealError(f"parcel {request.parcel_id} is not linked to owner "
                                f"{owner.owner_id} (their parcels: {', '.join(parcels)})")
            return owner, request.parcel_id
        enrolled = sorted(set(session.scalars(select(Enrollment.parcel_id)
                                              .where(Enrollment.owner_id == owner.owner_id))))
        if len(enrolled) == 1:
            return owner, enrolled[0]
        if len(parcels) == 1:
            return owner, parcels[0]
        raise DealError(f"owner {owner.owner_id} holds {len(parcels)} parcels"
                        + (f" ({', '.join(parcels[:10])})" if parcels else "")
                        + ": name the parcel with --parcel-id")
    assert request.market_code and request.parcel_id
    owner_ids = set(session.scalars(select(OwnerParcel.owner_id).where(
        OwnerParcel.market_code == request.market_code,
        OwnerParcel.parcel_id == request.parcel_id)))
    owner_ids |= set(session.scalars(select(Enrollment.owner_id).where(
        Enrollment.market_code == request.market_code,
        Enrollment.parcel_id == request.parcel_id)))
    if not owner_ids:
        raise DealError(f"parcel {request.parcel_id} in {request.market_code}: no owner in the "
                        "ledger holds it (check the market and parcel id)")
    if len(owner_ids) > 1:
        listed = ", ".join(map(str, sorted(owner_ids)))
        raise DealError(f"parcel {request.parcel_id} in {request.market_code} has "
                        f"{len(owner_ids)} owners in the ledger ({listed}): "
                        "name one with --owner-id")
    owner = session.get(Owner, owner_ids.pop())
    assert owner is not None
    return owner, request.parcel_id


def record_deal(engine: Engine, request: DealInput, now: datetime | None = None) -> DealRecord:
    """Create or move on the owner's deal for the parcel (module docstring)."""
    now = now or datetime.now(UTC)
    _validate(request, now.date())
    on = request.on or now.date()
    with ledger_session(engine) as session:
        owner, parcel_id = _resolve_owner(session, request)
        deals = list(session.scalars(select(Deal).where(
            Deal.owner_id == owner.owner_id, Deal.parcel_id == parcel_id)
            .order_by(Deal.deal_id)))
        open_deal = next((d for d in deals if d.status == OPEN_STATUS), None)
        created = open_deal is None
        if open_deal is None:
            if request.status == "cancelled":
                raise DealError(f"owner {owner.owner_id}, parcel {parcel_id}: no deal under "
                                "contract to cancel")
            closed = next((d for d in deals if d.status == "closed"), None)
            if closed is not None:
                raise DealError(f"owner {owner.owner_id}, parcel {parcel_id}: deal "
                                f"{closed.deal_id} already closed on {closed.closed_on}")
            deal = Deal(owner_id=owner.owner_id, market_code=owner.market_code,
                        parcel_id=parcel_id, status=request.status, recorded_by=request.recorded_by,
                        contracted_on=on, note=request.note, created_at=now, updated_at=now)
            session.add(deal)
        else:
            deal = open_deal
            if request.status == OPEN_STATUS:
                raise DealError(f"deal {deal.deal_id} (owner {owner.owner_id}, parcel "
                                f"{parcel_id}) is already under contract since "
                                f"{deal.contracted_on}; record it closed or cancelled")
            if deal.contracted_on is not None and on < deal.contracted_on:
                raise DealError(f"date {on.isoformat()} is before the contract date "
                                f"{deal.contracted_on.isoformat()} of deal {deal.deal_id}")
            deal.status = request.status
            deal.recorded_by = request.recorded_by
            deal.updated_at = now
            if request.note:
                deal.note = (deal.note + "\n" if deal.note else "") + request.note
        if request.contract_price_usd is not None:
            deal.contract_price_usd = request.contract_price_usd
        if request.assignment_fee_usd is not None:
            deal.assignment_fee_usd = request.assignment_fee_usd
        if request.status == "closed":
            deal.closed_on = on
        session.flush()
        set_lead_status(session, owner.owner_id, owner.market_code,
                        LEAD_STATUS_AFTER[request.status], request.recorded_by,
                        f"deal {deal.deal_id} {request.status}", now, only_from=None)
        session.add(AuditEntry(
            at=now, actor=request.recorded_by,
            action="deal_recorded" if created else f"deal_{request.status}",
            entity_type="deal", entity_id=str(deal.deal_id),
            detail={"owner_id": owner.owner_id, "market_code": owner.market_code,
                    "parcel_id": parcel_id, "status": request.status, "on": on.isoformat(),
                    "assignment_fee_usd": request.assignment_fee_usd,
                    "contract_price_usd": request.contract_price_usd}))
        return DealRecord.of(deal, created)


def list_deals(engine: Engine, market_code: str | None = None,
               status: str | None = None) -> list[DealRecord]:
    """Deals, newest first, optionally of one market and status."""
    if status is not None and status not in DEAL_STATUSES:
        raise DealError(f"status {status!r}: must be one of {', '.join(DEAL_STATUSES)}")
    query = select(Deal).order_by(Deal.deal_id.desc())
    if market_code:
        query = query.where(Deal.market_code == market_code)
    if status:
        query = query.where(Deal.status == status)
    with ledger_session(engine) as session:
        return [DealRecord.of(deal) for deal in session.scalars(query)]
