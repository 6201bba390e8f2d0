"""Contacts per owner: validate raw values, link them to parcels and owners, merge duplicates.

One owner can have several parcels and several contacts. A contact is identified by
``(owner_key, channel, value)`` where value is the E.164 number or the normalised email: the
same phone from two sources (two vendor files, a vendor file and an API) is one contact with
two sightings, and the same phone on every parcel row of one owner is one contact linked to
all those parcels.

Linking. A row with a parcel id links to that parcel (ids compared after removing everything
but letters and digits and upper-casing, so ``30-23-11-3636-01-001`` matches
``302311363601001``) and through it to the parcel's owner. A row without a parcel id links to
every parcel whose owner has the same *owner key*. An id that is not on the roll, or a key no
owner has, makes the row a reject (``unknown_parcel``, ``no_matching_owner``).

Owner key (``owner_key``) = normalised name ``|`` normalised street ``|`` ZIP5 (or city and
state when the ZIP is missing):

- name: Unicode folded to ASCII, upper case, ``&`` read as AND, punctuation removed, tokens
  *sorted* (the roll writes "ROWANBERG GERALD E", vendors "Gerald E Rowanberg"), single-letter
  middle initials kept, and filler tokens dropped (AND, THE, ETAL, ET, AL, JR, SR, II, III).
- street: upper case ASCII, punctuation removed, "P O BOX" / "POST OFFICE BOX" -> "PO BOX",
  the USPS suffix and direction abbreviations (STREET -> ST, AVENUE -> AVE, NORTH -> N, ...),
  unit designators (APT, UNIT, STE, #) -> "UNIT".
- ZIP: the first five digits.

A phone or email that fails validation becomes a value reject (file, line, column, reason);
a row none of whose values is valid is also rejected as a whole (``no_valid_contact``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from contacts.confidence import Evidence, score
from contacts.emails import EmailValidator
from contacts.phones import PhoneValidator
from contacts.vendor_csv import MailingAddress, RowReject, VendorFile, VendorRow


class SourceKind(StrEnum):
    """Kinds of contact source; their base quality is ``confidence.SOURCE_QUALITY``."""

    ROLL_MAILING_ADDRESS = "roll_mailing_address"
    APPRAISER_PAGE = "appraiser_page"
    VENDOR_FILE = "vendor_file"
    PAID_API = "paid_api"


@dataclass(frozen=True, slots=True)
class Source:
    """Where contacts came from: its kind, a name (e.g. "batchskip-2026-11") and when."""

    kind: SourceKind
    name: str
    observed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ParcelOwner:
    """A parcel and its owner of record, as the roll has them (the linking side)."""

    parcel_id: str
    owner_name: str
    mailing: MailingAddress


@dataclass(frozen=True, slots=True)
class Sighting:
    """One observation of a contact: which source, file and line, and what the vendor said."""

    source: Source
    source_file: str
    line: int
    column: str
    raw: str
    position: int = 1
    vendor_type: str | None = None
    vendor_dnc: bool | None = None
    litigator: bool | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A deduplicated contact of one owner (``channel``: "phone" or "email")."""

    owner_key: str
    channel: str
    value: str
    parcel_ids: tuple[str, ...]
    sightings: tuple[Sighting, ...]
    number_type: str | None
    extensions: tuple[str, ...]
    fictional: bool
    domain_status: str | None
    vendor_dnc: bool
    litigator: bool
    confidence: float
    confidence_reason: str

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({s.source.name for s in self.sightings}))


@dataclass
class BuildStats:
    rows: int = 0
    rows_linked: int = 0
    rows_rejected: int = 0
    values_rejected: int = 0
    sightings: int = 0
    sightings_merged: int = 0
    duplicate_rows: int = 0


# --------------------------------------------------------------------------------------------
# Normalisation


_NON_ALNUM = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")
_NAME_FILLER = frozenset({"AND", "THE", "ETAL", "ET", "AL", "JR", "SR", "II", "III", "IV"})
_STREET_WORDS = {
    "STREET": "ST", "AVENUE": "AVE", "AV": "AVE", "ROAD": "RD", "DRIVE": "DR", "BOULEVARD": "BLVD",
    "LANE": "LN", "COURT": "CT", "CIRCLE": "CIR", "PLACE": "PL", "TERRACE": "TER", "TRAIL": "TRL",
    "PARKWAY": "PKWY", "HIGHWAY": "HWY", "POINTE": "PT", "POINT": "PT", "COVE": "CV",
    "HEIGHTS": "HTS", "SQUARE": "SQ", "WAY": "WAY", "LOOP": "LOOP", "RUN": "RUN", "PATH": "PATH",
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
    "SOUTHEAST": "SE", "SOUTHWEST": "SW", "APARTMENT": "UNIT", "APT": "UNIT", "SUITE": "UNIT",
    "STE": "UNIT", "UNIT": "UNIT", "RIDGE": "RDG", "GROVE": "GRV",
}
_PO_BOX = re.compile(r"\b(P\s*O|POST\s+OFFICE)\s+BOX\b")


def _ascii_upper(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return folded.upper()


def normalize_owner_name(name: str) -> str:
    text = _ascii_upper(name).replace("&", " AND ")
    tokens = _NON_ALNUM.sub(" ", text).split()
    return " ".join(sorted(t for t in tokens if t not in _NAME_FILLER))


def normalize_street(line: str) -> str:
    text = _NON_ALNUM.sub(" ", _ascii_upper(line).replace("#", " UNIT "))
    tokens = _PO_BOX.sub("PO BOX", " ".join(text.split())).split()
    return " ".join(_STREET_WORDS.get(t, t) for t in tokens)


def normalize_parcel_id(parcel_id: str) -> str:
    return _NON_ALNUM.sub("", _ascii_upper(parcel_id).replace(" ", ""))


def owner_key(name: str, mailing: MailingAddress | None) -> str:
    """The owner key (see module docs). Without a mailing address it is the name alone."""
    key = normalize_owner_name(name)
    if mailing is None:
        return key
    zip5 = re.sub(r"\D", "", mailing.zip)[:5]
    place = zip5 if len(zip5) == 5 else (
        f"{_ascii_upper(mailing.city).strip()} {_ascii_upper(mailing.state).strip()}")
    return f"{key}|{normalize_street(mailing.line1)}|{place}"


# --------------------------------------------------------------------------------------------
# Building contacts


@dataclass
class _Accumulator:
    parcel_ids: set[str] = field(default_factory=set)
    sightings: list[Sighting] = field(default_factory=list)
    number_type: str | None = None
    extensions: set[str] = field(default_factory=set)
    fictional: bool = False
    domain_status: str | None = None


class ContactBuilder:
    """Collects validated sightings from any number of sources and yields merged contacts.

    ``parcels``: the roll's parcels (id, owner name, mailing address) for linking.
    ``phones`` / ``emails``: the validators (their rules decide, e.g., whether the fictional
    555-01xx range is accepted). Use one builder per market.
    """

    def __init__(self, parcels: Iterable[ParcelOwner], phones: PhoneValidator,
                 emails: EmailValidator) -> None:
        self.phones = phones
        self.emails = emails
        self.parcel_owner: dict[str, str] = {}
        self.owner_parcels: dict[str, list[str]] = {}
        key_cache: dict[tuple[str, MailingAddress], str] = {}
        for parcel in parcels:
            cache_key = (parcel.owner_name, parcel.mailing)
            key = key_cache.get(cache_key)
            if key is None:
                key = key_cache[cache_key] = owner_key(parcel.owner_name, parcel.mailing)
            pid = normalize_parcel_id(parcel.parcel_id)
            self.parcel_owner[pid] = key
            self.owner_parcels.setdefault(key, []).append(pid)
        self._contacts: dict[tuple[str, str, str], _Accumulator] = {}
        self.rejects: list[RowReject] = []
        self.stats = BuildStats()

    def _link(self, row: VendorRow) -> tuple[str, tuple[str, ...]] | RowReject:
        if row.parcel_id:
            pid = normalize_parcel_id(row.parcel_id)
            key = self.parcel_owner.get(pid)
            if key is None:
                return RowReject(row.source_file, row.line, "unknown_parcel",
                                 f"parcel id {row.parcel_id!r} is not on the roll")
            return key, (pid,)
        key = owner_key(row.owner_name, row.mailing)
        parcels = self.owner_parcels.get(key)
        if not parcels:
            return RowReject(row.source_file, row.line, "no_matching_owner",
                             f"no parcel owner matches name and mailing address (key {key!r})")
        return key, tuple(parcels)

    def add_vendor_file(self, vendor_file: VendorFile, source: Source) -> None:
        """Validate and merge every row of a read vendor file; its rejects are kept too."""
        self.rejects.extend(vendor_file.rejects)
        self.stats.rows_rejected += len(vendor_file.rejects)
        self.stats.duplicate_rows += len(vendor_file.duplicates)
        for row in vendor_file.rows:
            self.add_row(row, source)

    def add_row(self, row: VendorRow, source: Source) -> bool:
        """Validate and merge one row; False when the row was rejected."""
        stats = self.stats
        stats.rows += 1
        linked = self._link(row)
        if isinstance(linked, RowReject):
            self.rejects.append(linked)
            stats.rows_rejected += 1
            return False
        key, parcel_ids = linked
        good = 0
        contacts = self._contacts
        for phone in row.phones:
            check = self.phones.check(phone.raw)
            if not check.ok:
                self.rejects.append(RowReject(row.source_file, row.line, check.reason_code or "",
                                              check.reason or "", phone.column, phone.raw))
                stats.values_rejected += 1
                continue
            good += 1
            acc = contacts.get((key, "phone", check.e164))  # type: ignore[arg-type]
            if acc is None:
                acc = contacts[(key, "phone", check.e164)] = _Accumulator(  # type: ignore[index]
                    number_type=check.number_type, fictional=check.fictional)
            else:
                stats.sightings_merged += 1
            acc.parcel_ids.update(parcel_ids)
            if check.extension:
                acc.extensions.add(check.extension)
            acc.sightings.append(Sighting(
                source, row.source_file, row.line, phone.column, phone.raw, phone.position,
                phone.vendor_type, phone.vendor_dnc,
                phone.litigator if phone.litigator is not None else (row.litigator or None)))
        for email in row.emails:
            check = self.emails.check(email.raw)
            if not check.ok:
                self.rejects.append(RowReject(row.source_file, row.line, check.reason_code or "",
                                              check.reason or "", email.column, email.raw))
                stats.values_rejected += 1
                continue
            good += 1
            ekey = (key, "email", check.normalized or "")
            acc = contacts.get(ekey)
            if acc is None:
                acc = contacts[ekey] = _Accumulator(domain_status=check.domain_status)
            else:
                stats.sightings_merged += 1
            acc.parcel_ids.update(parcel_ids)
            acc.sightings.append(Sighting(source, row.source_file, row.line, email.column,
                                          email.raw, email.position))
        stats.sightings += good
        if not good:
            self.rejects.append(RowReject(row.source_file, row.line, "no_valid_contact",
                                          "no phone or email of the row passed validation"))
            stats.rows_rejected += 1
            return False
        stats.rows_linked += 1
        return True

    def contacts(self) -> list[Contact]:
        """Every merged contact with its confidence, ordered by owner, channel, value."""
        out = []
        scores: dict[tuple, tuple[float, str]] = {}
        for (key, channel, value), acc in sorted(self._contacts.items()):
            evidence = tuple(sorted({(s.source.kind.value, s.source.name, s.position,
                                      s.vendor_type) for s in acc.sightings},
                                    key=lambda e: (e[1], e[2], e[0], e[3] or "")))
            signature = (channel, acc.number_type, acc.domain_status, evidence)
            found = scores.get(signature)
            if found is None:
                result = score((Evidence(*e) for e in evidence), channel, acc.number_type,
                               acc.domain_status)
                found = scores[signature] = (result.score, result.reason)
            out.append(Contact(
                key, channel, value, tuple(sorted(acc.parcel_ids)), tuple(acc.sightings),
                acc.number_type, tuple(sorted(acc.extensions)), acc.fictional,
                acc.domain_status, any(s.vendor_dnc for s in acc.sightings),
                any(s.litigator for s in acc.sightings), found[0], found[1]))
        return out
