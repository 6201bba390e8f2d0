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
from datetime import date, timedelta
from itertools import islice

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from outreach.ledger.models import Contact, DncList, DncNumber, DncScrub
from outreach.ledger.pii import current_keyring

REGISTRY_MAX_AGE_DAYS = 31
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
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DncNumber).values(rows)
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
    """True when there is no registry copy or it is older than 31 days."""
    return downloaded_on is None or today - downloaded_on > timedelta(days=REGISTRY_MAX_AGE_DAYS)


def lists_holding(session: Session, e164: str) -> list[str]:
    """The list keys (`national`, `state_fl`, `internal`, `litigator`) holding `e164`."""
    phone_hash = current_keyring().lookup_hash("phone", e164)
    return sorted(session.scalars(
        select(DncNumber.list_key).where(DncNumber.phone_hash == phone_hash)))


def scrub_contact(session: Session, contact: Contact, today: date,
                  state: str = "FL") -> DncScrub:
    """Check one phone contact against every list and record the result with the dates of
    the copies used. SMS is blocked when the number is listed or the registry copy covering
    its area code is missing or stale."""
    if contact.channel != "phone":
        raise ValueError("only phone contacts are scrubbed against do-not-call lists")
    phone_hash = contact.value_hash
    listed = sorted(session.scalars(
        select(DncNumber.list_key).where(DncNumber.phone_hash == phone_hash)))
    area_code = _area_code(contact.value)
    national_on = registry_downloaded_on(session, area_code)
    state_on = state_list_downloaded_on(session, state)
    reasons = []
    if listed:
        reasons.append(f"on {', '.join(listed)}")
    if registry_is_stale(national_on, today):
        reasons.append("no national registry copy for area code "
                       f"{area_code}" if national_on is None else
                       f"national registry copy from {national_on} is older than "
                       f"{REGISTRY_MAX_AGE_DAYS} days")
    scrub = DncScrub(contact_id=contact.contact_id, is_listed=bool(listed), listed_on=listed,
                     national_downloaded_on=national_on, state_downloaded_on=state_on,
                     is_sms_blocked=bool(reasons), reason="; ".join(reasons) or "clear")
    session.add(scrub)
    return scrub
