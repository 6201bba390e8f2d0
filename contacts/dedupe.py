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

Bulk speed (bench/contacts_validate.py, docs/benchmarks.md). ``owner_keys`` and
``normalize_parcel_ids`` compute the keys of a whole roll at once with ``polars`` for values of
printable ASCII (the scalar functions' rules written as column expressions) and with the scalar
functions for anything else, so the results are the same; the builder keeps one light record
per contact and builds the frozen ``Sighting`` / ``Contact`` records without their slow frozen
``__init__``, with the cyclic garbage collector paused (``contacts.bulk``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from contacts.bulk import gc_paused, slot_factory
from contacts.confidence import Evidence, score
from contacts.emails import EmailValidator
from contacts.phones import PhoneValidator
from contacts.vendor_csv import MailingAddress, RowReject, VendorFile, VendorRow


class SourceKind(StrEnum):
    """Kinds of contact source; their base quality is ``confidence.SOURCE_QUALITY``."""

    ROLL_MAILING_ADDRESS = "roll_mailing_address"
    ROLL_FIDUCIARY_ADDRESS = "roll_fiduciary_address"
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
class Fiduciary:
    """The roll's fiduciary of a parcel (a trustee, a personal representative: the NAL's
    FIDU_NAME and FIDU_ADDR1 / ADDR2 / CITY / STATE / ZIPCD): who can act for an estate or
    trust, and where the county mails them."""

    name: str
    address: MailingAddress


@dataclass(frozen=True, slots=True)
class ParcelOwner:
    """A parcel and its owner of record, as the roll has them (the linking side), and the
    parcel's fiduciary when the roll names one."""

    parcel_id: str
    owner_name: str
    mailing: MailingAddress
    fiduciary: Fiduciary | None = None


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
    if parcel_id.isalnum() and parcel_id.isascii():  # the usual case, nothing to remove
        return parcel_id.upper()
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


_PRINTABLE_ASCII = r"^[\x20-\x7E]*$"
_PO_BOX_RUST = r"\b(P\s*O|POST\s+OFFICE)\s+BOX\b"  # _PO_BOX, for polars' regex engine


def _upper_alnum_spaced(column: pl.Expr) -> pl.Expr:
    """``" ".join(_NON_ALNUM.sub(" ", text.upper()).split())`` for printable ASCII text."""
    return _collapse_spaces(column.str.to_uppercase().str.replace_all(r"[^A-Z0-9 ]+", " "))


def _collapse_spaces(column: pl.Expr) -> pl.Expr:
    """``" ".join(text.split())`` for text whose only whitespace is the space."""
    return column.str.replace_all(r" {2,}", " ").str.strip_chars(" ")


_NAME_FILLER_RUST = r"\b(?:" + "|".join(sorted(_NAME_FILLER)) + r")\b"
# Every token bracketed by its own spaces ("  A  B  " after doubling), so each street word
# is replaced as a whole token in one non-overlapping pass, as _STREET_WORDS.get(t, t) does.
_STREET_FROM = [f" {word} " for word in _STREET_WORDS]
_STREET_TO = [f" {short} " for short in _STREET_WORDS.values()]


def _owner_key_expressions() -> tuple[pl.Expr, pl.Expr]:
    """(parcel id, owner key) as polars expressions over the columns pid, name, line1, city,
    state, zip: the scalar rules of ``normalize_parcel_id`` and ``owner_key`` for printable
    ASCII values (upper-casing ASCII is ASCII; ``\\s`` and ``strip`` only meet spaces)."""
    pid = pl.col("pid").str.to_uppercase().str.replace_all(r"[^A-Z0-9]+", "")
    name_text = _upper_alnum_spaced(pl.col("name").str.replace_all("&", " AND ", literal=True))
    name = _collapse_spaces(name_text.str.replace_all(_NAME_FILLER_RUST, " ")).str.split(
        " ").list.eval(pl.element().sort()).list.join(" ")
    street_text = _upper_alnum_spaced(pl.col("line1").str.replace_all("#", " UNIT ",
                                                                      literal=True))
    street_text = street_text.str.replace_all(_PO_BOX_RUST, "PO BOX")
    bracketed = pl.concat_str(pl.lit(" "), street_text.str.replace_all(" ", "  ", literal=True),
                              pl.lit(" "))
    street = _collapse_spaces(bracketed.str.replace_many(_STREET_FROM, _STREET_TO))
    zip5 = pl.col("zip").str.replace_all(r"[^0-9]+", "").str.slice(0, 5)
    place = pl.when(zip5.str.len_chars() == 5).then(zip5).otherwise(pl.concat_str(
        pl.col("city").str.to_uppercase().str.strip_chars(" "), pl.lit(" "),
        pl.col("state").str.to_uppercase().str.strip_chars(" ")))
    return pid, pl.concat_str(name, pl.lit("|"), street, pl.lit("|"), place)


def owner_keys(parcels: Sequence[ParcelOwner]) -> tuple[list[str], list[str]]:
    """``normalize_parcel_id`` and ``owner_key`` of every parcel, in order, computed in bulk
    (see the module docs); identical to calling the two functions on each parcel."""
    columns: dict[str, list[str]] = {"pid": [], "name": [], "line1": [], "city": [],
                                     "state": [], "zip": []}
    odd: list[int] = []  # parcels without a mailing address: the scalar functions
    pid_col, name_col, line1_col = columns["pid"], columns["name"], columns["line1"]
    city_col, state_col, zip_col = columns["city"], columns["state"], columns["zip"]
    for index, parcel in enumerate(parcels):
        mailing = parcel.mailing
        if mailing is None:
            odd.append(index)
            mailing = MailingAddress("")
        pid_col.append(parcel.parcel_id)
        name_col.append(parcel.owner_name)
        line1_col.append(mailing.line1)
        city_col.append(mailing.city)
        state_col.append(mailing.state)
        zip_col.append(mailing.zip)
    if not pid_col:
        return [], []
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    plain = pl.all_horizontal(pl.col(name).str.contains(_PRINTABLE_ASCII).fill_null(False)
                              for name in columns)
    pid_expr, key_expr = _owner_key_expressions()
    result = frame.select(plain.alias("plain"), pid_expr.alias("pid"), key_expr.alias("key"))
    pids: list[str] = result["pid"].to_list()
    keys: list[str] = result["key"].to_list()
    for index in [*result["plain"].not_().arg_true().to_list(), *odd]:
        parcel = parcels[index]
        pids[index] = normalize_parcel_id(parcel.parcel_id)
        keys[index] = owner_key(parcel.owner_name, parcel.mailing)
    return pids, keys


# --------------------------------------------------------------------------------------------
# Building contacts


class _Accumulator:
    """The light running record of one contact while rows are added.

    ``first``: the first sighting; ``more``: the later ones, None while there are none.
    ``parcel_ids``: the first row's tuple, a set once another row adds other parcels.
    ``extensions``: None until one is seen. ``vendor_dnc`` / ``litigator``: any sighting said so.
    """

    __slots__ = ("domain_status", "extensions", "fictional", "first", "litigator", "more",
                 "number_type", "parcel_ids", "vendor_dnc")

    def __init__(self, parcel_ids: tuple[str, ...], first: Sighting, number_type: str | None,
                 fictional: bool, domain_status: str | None, vendor_dnc: bool,
                 litigator: bool) -> None:
        self.parcel_ids: tuple[str, ...] | set[str] = parcel_ids
        self.first = first
        self.more: list[Sighting] | None = None
        self.number_type = number_type
        self.extensions: set[str] | None = None
        self.fictional = fictional
        self.domain_status = domain_status
        self.vendor_dnc = vendor_dnc
        self.litigator = litigator

    def add(self, sighting: Sighting, parcel_ids: tuple[str, ...]) -> None:
        if self.more is None:
            self.more = [sighting]
        else:
            self.more.append(sighting)
        current = self.parcel_ids
        if current is parcel_ids:
            return
        if isinstance(current, tuple):
            if current != parcel_ids:
                self.parcel_ids = {*current, *parcel_ids}
        else:
            current.update(parcel_ids)


_new_sighting = slot_factory(Sighting)
_new_contact = slot_factory(Contact)


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
        parcel_list = parcels if isinstance(parcels, Sequence) else list(parcels)
        with gc_paused():
            pids, keys = owner_keys(parcel_list)
            parcel_owner = self.parcel_owner
            owner_parcels = self.owner_parcels
            for pid, key in zip(pids, keys, strict=True):
                parcel_owner[pid] = key
                listed = owner_parcels.get(key)
                if listed is None:
                    owner_parcels[key] = [pid]
                else:
                    listed.append(pid)
        self._contacts: dict[tuple[str, str, str], _Accumulator] = {}
        self._nul_in_keys = False  # a key part holding NUL: contacts() sorts the tuples
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
        with gc_paused():
            add_row = self.add_row
            for row in vendor_file.rows:
                add_row(row, source)

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
        good = merged = rejected = 0
        contacts = self._contacts
        source_file, line = row.source_file, row.line
        if row.phones:
            check_phone = self.phones.check
            row_litigator = row.litigator or None
            for phone in row.phones:
                check = check_phone(phone.raw)
                if not check.ok:
                    self.rejects.append(RowReject(source_file, line, check.reason_code or "",
                                                  check.reason or "", phone.column, phone.raw))
                    rejected += 1
                    continue
                good += 1
                litigator = phone.litigator if phone.litigator is not None else row_litigator
                sighting = _new_sighting(source, source_file, line, phone.column, phone.raw,
                                         phone.position, phone.vendor_type, phone.vendor_dnc,
                                         litigator)
                ckey = (key, "phone", check.e164 or "")
                acc = contacts.get(ckey)
                if acc is None:
                    acc = contacts[ckey] = _Accumulator(
                        parcel_ids, sighting, check.number_type, check.fictional, None,
                        bool(phone.vendor_dnc), bool(litigator))
                    if "\0" in key:
                        self._nul_in_keys = True
                else:
                    merged += 1
                    acc.add(sighting, parcel_ids)
                    if phone.vendor_dnc:
                        acc.vendor_dnc = True
                    if litigator:
                        acc.litigator = True
                if check.extension:
                    if acc.extensions is None:
                        acc.extensions = set()
                    acc.extensions.add(check.extension)
        if row.emails:
            check_email = self.emails.check
            for email in row.emails:
                echeck = check_email(email.raw)
                if not echeck.ok:
                    self.rejects.append(RowReject(source_file, line, echeck.reason_code or "",
                                                  echeck.reason or "", email.column, email.raw))
                    rejected += 1
                    continue
                good += 1
                sighting = _new_sighting(source, source_file, line, email.column, email.raw,
                                         email.position, None, None, None)
                ekey = (key, "email", echeck.normalized or "")
                acc = contacts.get(ekey)
                if acc is None:
                    contacts[ekey] = _Accumulator(parcel_ids, sighting, None, False,
                                                  echeck.domain_status, False, False)
                    if "\0" in key or "\0" in ekey[2]:
                        self._nul_in_keys = True
                else:
                    merged += 1
                    acc.add(sighting, parcel_ids)
        stats.sightings += good
        stats.sightings_merged += merged
        stats.values_rejected += rejected
        if not good:
            self.rejects.append(RowReject(source_file, line, "no_valid_contact",
                                          "no phone or email of the row passed validation"))
            stats.rows_rejected += 1
            return False
        stats.rows_linked += 1
        return True

    def contacts(self) -> list[Contact]:
        """Every merged contact with its confidence, ordered by owner, channel, value."""
        out: list[Contact] = []
        scores: dict[tuple, tuple[float, str]] = {}
        # (id(Source), position, vendor type, channel, number type, domain status) -> score
        single_scores: dict[tuple, tuple[float, str]] = {}
        with gc_paused():
            # Sorting on one string per contact is about 3x faster than on the key tuples,
            # and gives their order as long as no part of a key holds NUL. Sorted backwards
            # and popped from the end, so each (key, record) pair is freed once used.
            ordered = sorted(self._contacts.items(), reverse=True,
                             key=_tuple_order if self._nul_in_keys else _text_order)
            while ordered:
                (key, channel, value), acc = ordered.pop()
                first = acc.first
                if acc.more is None:  # one sighting, most contacts: a flat key finds the score
                    sightings: tuple[Sighting, ...] = (first,)
                    single = (id(first.source), first.position, first.vendor_type, channel,
                              acc.number_type, acc.domain_status)
                    found = single_scores.get(single)
                    if found is None:
                        source = first.source
                        evidence: tuple = ((source.kind.value, source.name, first.position,
                                            first.vendor_type),)
                        found = single_scores[single] = self._score(
                            scores, evidence, channel, acc.number_type, acc.domain_status)
                else:
                    sightings = (first, *acc.more)
                    evidence = tuple(sorted(
                        {(s.source.kind.value, s.source.name, s.position, s.vendor_type)
                         for s in sightings},
                        key=_evidence_order))
                    found = self._score(scores, evidence, channel, acc.number_type,
                                        acc.domain_status)
                parcel_ids = acc.parcel_ids
                if not isinstance(parcel_ids, tuple) or len(parcel_ids) != 1:
                    parcel_ids = tuple(sorted(set(parcel_ids)))
                out.append(_new_contact(
                    key, channel, value, parcel_ids, sightings, acc.number_type,
                    tuple(sorted(acc.extensions)) if acc.extensions else (), acc.fictional,
                    acc.domain_status, acc.vendor_dnc, acc.litigator, found[0], found[1]))
        return out

    @staticmethod
    def _score(scores: dict[tuple, tuple[float, str]], evidence: tuple, channel: str,
               number_type: str | None, domain_status: str | None) -> tuple[float, str]:
        """The (score, reason) of a contact's evidence, computed once per signature."""
        signature = (channel, number_type, domain_status, evidence)
        found = scores.get(signature)
        if found is None:
            result = score((Evidence(*e) for e in evidence), channel, number_type,
                           domain_status)
            found = scores[signature] = (result.score, result.reason)
        return found


def _evidence_order(evidence: tuple[str, str, int, str | None]) -> tuple[str, int, str, str]:
    return evidence[1], evidence[2], evidence[0], evidence[3] or ""


def _text_order(item: tuple[tuple[str, str, str], _Accumulator]) -> str:
    key, channel, value = item[0]
    return f"{key}\0{channel}\0{value}"


def _tuple_order(item: tuple[tuple[str, str, str], _Accumulator]) -> tuple[str, str, str]:
    return item[0]
