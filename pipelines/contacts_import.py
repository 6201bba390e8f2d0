"""Owner contacts into the ledger: vendor files validated, linked to the roll's parcels,
deduplicated, stored, then scrubbed against the do-not-call lists; and the coverage of the
leads outreach wants.

Used by `wholesaler contacts import` (one file) and by the contacts assets (every source a
market's YAML names). The contacts library (`contacts/`) does the validation and merging and
knows no database; the ledger (`outreach/ledger/`) stores; this module joins them with the
warehouse (the roll's owners, the lead tiers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePath

import duckdb
from sqlalchemy import Engine

from contacts.dedupe import (
    ContactBuilder,
    Fiduciary,
    ParcelOwner,
    Source,
    SourceKind,
    normalize_parcel_id,
    owner_key,
)
from contacts.dnc import BadLine, DncKind, parse_dnc_file
from contacts.emails import DomainChecker, EmailValidator
from contacts.phones import DEMO, STRICT, PhoneValidator
from contacts.vendor_csv import MailingAddress, read_vendor_csv, write_rejects
from markets.schema import Market
from outreach.ledger.contacts_store import store_contacts
from outreach.ledger.db import ledger_session
from outreach.ledger.dnc_store import (
    DncListLoad,
    ScrubReport,
    load_dnc_list,
    scrub_market_phones,
    sendable_parcel_ids,
)
from outreach.ledger.models import ContactImport
from pipelines import settings
from scrapers.appraiser.records import ParcelRecord

# The parser's list kinds (contacts.dnc.DncKind) -> the ledger's kind and state.
DNC_KINDS: dict[str, tuple[str, str | None]] = {
    "ftc_national": ("national", None), "florida": ("state", "FL"),
    "internal": ("internal", None), "litigator": ("litigator", None)}


class ContactImportError(RuntimeError):
    """A contact file or the roll it links to cannot be read."""


@dataclass(frozen=True)
class ImportSummary:
    """What one file's import did (printed as JSON by `wholesaler contacts import`)."""

    source: str
    file: str
    imported: int
    rejected: int
    duplicates: int
    rejects_file: str | None
    contacts_added: int
    contacts_updated: int
    owners_added: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Coverage:
    """Tier A and B+ leads of a market, and how many have at least one sendable contact."""

    leads: int
    covered: int

    @property
    def share(self) -> float:
        return self.covered / self.leads if self.leads else 0.0


def roll_owners(warehouse: duckdb.DuckDBPyConnection, market_code: str) -> list[ParcelOwner]:
    """Every parcel of the market with its owner of record and mailing address, and its
    fiduciary (name and address) when the roll names one."""
    try:
        rows = warehouse.execute(
            "SELECT parcel_id, coalesce(owner_name, ''), coalesce(owner_address_line_1, ''), "
            "coalesce(owner_address_line_2, ''), coalesce(owner_city, ''), "
            "coalesce(owner_state, ''), coalesce(owner_zip, ''), fiduciary_name, "
            "coalesce(fiduciary_address_line_1, ''), coalesce(fiduciary_address_line_2, ''), "
            "coalesce(fiduciary_city, ''), coalesce(fiduciary_state, ''), "
            "coalesce(fiduciary_zip, '') "
            "FROM marts.properties WHERE market_code = ?", [market_code]).fetchall()
    except duckdb.CatalogException as error:
        raise ContactImportError(
            "the warehouse has no marts.properties yet: materialize the market first "
            "(wholesaler demo, or the Dagster job materialize_market)") from error
    if not rows:
        raise ContactImportError(f"the warehouse holds no parcels of market {market_code!r}: "
                                 "materialize it first")
    return [ParcelOwner(pid, name, MailingAddress(line1, line2, city, state, zip_code[:5]),
                        Fiduciary(fidu_name, MailingAddress(*fidu_address[:4],
                                                            fidu_address[4][:5]))
                        if fidu_name else None)
            for pid, name, line1, line2, city, state, zip_code, fidu_name, *fidu_address
            in rows]


@contextlib.contextmanager
def domain_checker_for(market: Market) -> Iterator[DomainChecker]:
    """The DNS checker for a market's emails: the system resolver, or for sample data a DNS
    server on loopback serving the sample zone (never the internet)."""
    if market.contacts.sample_data:
        from contacts.local_dns import LocalDnsServer

        with LocalDnsServer() as server:
            yield DomainChecker(server.resolver())
    else:
        yield DomainChecker()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rejects_path(market_code: str, source_name: str, file: Path) -> Path:
    return settings.rejects_dir() / "contacts" / market_code / f"{source_name}__{file.stem}.csv"


def import_contact_files(
    engine: Engine,
    market: Market,
    files: Sequence[tuple[Path, str]],
    parcels: Sequence[ParcelOwner],
    checker: DomainChecker,
) -> list[ImportSummary]:
    """Import vendor files (path, source name) of one market in one pass, so contacts seen in
    several files are merged and scored together. Returns one summary per file."""
    phones = PhoneValidator(DEMO if market.contacts.sample_data else STRICT)
    builder = ContactBuilder(parcels, phones, EmailValidator(checker))
    read = []
    for path, source_name in files:
        if not path.is_file():
            raise ContactImportError(f"{path}: no such contact file (source {source_name})")
        vendor_file = read_vendor_csv(path)
        observed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        rejects_before = len(builder.rejects)
        builder.add_vendor_file(vendor_file, Source(SourceKind.VENDOR_FILE, source_name,
                                                    observed))
        read.append((path, source_name, vendor_file, builder.rejects[rejects_before:]))
    contacts = builder.contacts()

    # The builder compares normalised parcel ids; the ledger keeps the roll's own spelling,
    # which is what the warehouse's lead tables join on.
    by_key: dict[str, ParcelOwner] = {}
    roll_spelling: dict[str, str] = {}
    wanted = {contact.owner_key for contact in contacts}
    for parcel in parcels:
        normalised = normalize_parcel_id(parcel.parcel_id)
        roll_spelling[normalised] = parcel.parcel_id
        key = builder.parcel_owner.get(normalised) or owner_key(parcel.owner_name,
                                                                 parcel.mailing)
        if key in wanted and key not in by_key:
            by_key[key] = parcel
    owner_parcels = {key: [roll_spelling[pid] for pid in builder.owner_parcels.get(key, [])]
                     for key in wanted}

    summaries = []
    with ledger_session(engine) as session:
        imports = []
        for path, source_name, _, _ in read:
            record = ContactImport(source_name=source_name, market_code=market.code,
                                   file_name=str(path), file_sha256=file_sha256(path))
            session.add(record)
            imports.append(record)
        session.flush()
        report = store_contacts(session, market.code, contacts, by_key, owner_parcels,
                                imports[0].contact_import_id if len(imports) == 1 else None)
        for record, (path, source_name, vendor_file, rejects) in zip(imports, read,
                                                                     strict=True):
            name = PurePath(path).name
            good_lines = {row.line for row in vendor_file.rows}
            rejected_rows = {r.line for r in rejects if not r.column}
            landed = {line for file_name, line in report.new_rows if file_name == name}
            imported = len(landed & good_lines)
            already = len(good_lines - rejected_rows - landed)
            destination = None
            if rejects:
                destination = write_rejects(rejects_path(market.code, source_name, path),
                                            rejects)
            record.rows_read = len(good_lines) + len(vendor_file.duplicates) + len(
                {r.line for r in vendor_file.rejects})
            record.imported, record.rejected = imported, len(rejects)
            record.duplicates = len(vendor_file.duplicates) + already
            record.rejects_file = str(destination) if destination else None
            record.finished_at = datetime.now(UTC)
            summaries.append(ImportSummary(
                source=source_name, file=str(path), imported=imported, rejected=len(rejects),
                duplicates=record.duplicates, rejects_file=record.rejects_file,
                contacts_added=report.contacts_added, contacts_updated=report.contacts_updated,
                owners_added=report.owners_added))
    return summaries


def scrub_market(engine: Engine, market: Market, today: date | None = None) -> ScrubReport:
    """Scrub every phone contact of the market against the do-not-call lists."""
    with ledger_session(engine) as session:
        return scrub_market_phones(session, market.code, today or date.today(),
                                   state=market.state)


OUTREACH_TIERS = ("A", "B+")
"""The lead tiers outreach works: contact coverage, line-type lookups and skip tracing."""


def lead_parcel_ids(warehouse: duckdb.DuckDBPyConnection, market_code: str,
                    tiers: Sequence[str] = OUTREACH_TIERS) -> set[str]:
    """Parcel ids of the market's leads in `tiers` (`marts.lead_scores`)."""
    return {row[0] for row in warehouse.execute(
        "SELECT parcel_id FROM marts.lead_scores WHERE market_code = ? "
        "AND tier IN (SELECT unnest(?))", [market_code, list(tiers)]).fetchall()}


def lead_coverage(warehouse: duckdb.DuckDBPyConnection, engine: Engine,
                  market: Market) -> Coverage:
    """Tier A and B+ leads with at least one sendable contact (docs/contacts.md)."""
    leads = lead_parcel_ids(warehouse, market.code)
    with ledger_session(engine) as session:
        covered = sendable_parcel_ids(session, market.code) & leads
    return Coverage(leads=len(leads), covered=len(covered))


@dataclass(frozen=True)
class DncFileLoad:
    """What loading one do-not-call file did."""

    file: str
    kind: str
    downloaded_on: date
    downloaded_on_from: str
    is_change_list: bool
    area_codes: tuple[str, ...]
    added: int
    removed: int
    bad_lines: tuple[BadLine, ...]

    def summary(self) -> dict[str, object]:
        return {"file": self.file, "kind": self.kind,
                "downloaded_on": self.downloaded_on.isoformat(),
                "downloaded_on_from": self.downloaded_on_from,
                "change_list": self.is_change_list, "area_codes": list(self.area_codes),
                "added": self.added, "removed": self.removed, "bad_lines": len(self.bad_lines)}


def load_dnc_file(engine: Engine, path: Path, kind: str, downloaded_on: date | None = None,
                  change_list: bool | None = None) -> DncFileLoad:
    """Parse one do-not-call file and record it in the ledger with its download date. The FTC
    delivers one file per area code; a national file holding several area codes is recorded
    as one list per area code, so each area code's copy date is known on its own."""
    ledger_kind, state = DNC_KINDS[kind]
    parsed = parse_dnc_file(path, DncKind(kind), downloaded_on, change_list)
    area_codes: tuple[str | None, ...] = (
        parsed.area_codes or (None,)) if ledger_kind == "national" else (None,)
    digest = file_sha256(path)
    with ledger_session(engine) as session:
        for area_code in area_codes:
            def in_area(number: str, area_code: str | None = area_code) -> bool:
                return area_code is None or number[2:5] == area_code

            load_dnc_list(session, DncListLoad(
                kind=ledger_kind, state=state, area_code=area_code,
                is_change_list=parsed.is_change_list, source_file=str(path),
                file_sha256=digest, downloaded_on=parsed.downloaded_on,
                downloaded_on_basis=parsed.date_source.value,
                numbers_added=sorted(n for n in parsed.additions if in_area(n)),
                numbers_removed=sorted(n for n in parsed.deletions if in_area(n))))
    return DncFileLoad(file=str(path), kind=kind, downloaded_on=parsed.downloaded_on,
                       downloaded_on_from=parsed.date_source.value,
                       is_change_list=parsed.is_change_list, area_codes=parsed.area_codes,
                       added=len(parsed.additions), removed=len(parsed.deletions),
                       bad_lines=parsed.bad_lines)


@dataclass(frozen=True)
class AppraiserAddressReport:
    records: int
    addresses_added: int
    unlinked_parcels: tuple[str, ...]
    """Parcels read from the appraiser that no owner in the ledger holds yet (import the
    market's contacts first)."""


def record_appraiser_addresses(engine: Engine, market_code: str,
                               records: Sequence[ParcelRecord]) -> AppraiserAddressReport:
    """Record the owner mailing address each appraiser page shows, on every ledger owner of
    that parcel, with the page's URL and the time it was read as the source."""
    from sqlalchemy import select

    from outreach.ledger.models import OwnerParcel
    from outreach.ledger.owner_addresses import SeenAddress, record_owner_addresses

    seen, unlinked = [], []
    with ledger_session(engine) as session:
        for record in records:
            owner_ids = session.scalars(select(OwnerParcel.owner_id).where(
                OwnerParcel.market_code == market_code,
                OwnerParcel.parcel_id == record.parcel_id)).all()
            if not owner_ids:
                unlinked.append(record.parcel_id)
                continue
            address = record.mailing_address
            lines = [line for line in address.lines if line.strip()]
            if not lines:
                continue
            seen.extend(SeenAddress(
                owner_id=owner_id, kind="mailing", source_name=f"appraiser:{market_code}",
                source_kind="appraiser_page", source_ref=record.source_url,
                seen_at=record.fetched_at, line1=lines[0], line2=" ".join(lines[1:]) or None,
                city=address.city, state=address.state, zip=address.zip)
                for owner_id in owner_ids)
        added = record_owner_addresses(session, seen)
    return AppraiserAddressReport(records=len(records), addresses_added=added,
                                  unlinked_parcels=tuple(unlinked))
