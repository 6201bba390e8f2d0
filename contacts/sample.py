"""A deterministic, vendor-style skip-trace CSV for the sample markets, with realistic mess.

``generate_skip_trace(nal_path, out_path, seed)`` reads a sample NAL file (``wholesaler
sample-data`` writes them; ``scrapers/fl_dor/sample.py``) and writes one row per traced parcel
in a BatchSkipTracing-like shape (``HEADER``): Parcel ID, owner name and mailing address, up
to four phones with ``PhoneN_Type`` / ``PhoneN_DNC``, two emails and a litigator flag.

Fiction only: every phone is NPA-555-0100..0199 (the NANP range reserved for fiction) with a
real area code of the county (``AREA_CODES``), and every email is at a reserved example domain
that ``contacts.local_dns.SAMPLE_ZONE`` answers for. An owner's phones and emails derive from a
hash of the seed and the owner's key, so an owner of several parcels has the same phones on
each row (phones repeated across rows), while the numbers also repeat across owners (a county
has only 100 fictional numbers per area code).

The mess, per traced row (rates are approximate): ``coverage`` (0.80) of parcels get a row;
8 % keyed by owner name + mailing address with no parcel id (name written first-name-first,
title case); 4 % of parcel ids written with dashes; phones in six formats (``(407) 555-0123``,
``407.555.0123``, ``+1 407-555-0123``, ``4075550123``, ``1-407-555-0123``, ``407-555-0123``),
2 % with an extension, 3 % missing the area code, 1 % junk; 5 % of emails with bad syntax and
7 % at domains without mail (null MX, no records, NXDOMAIN); 12 % of phones flagged DNC;
2 % exact duplicate rows; 1 % rows for parcels that do not exist; 0.2 % ragged rows (an
unquoted comma in the name); 0.1 % rows written in Windows-1252 instead of UTF-8.

Same (NAL file, seed, coverage) -> same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from contacts.dedupe import ParcelOwner, owner_key
from contacts.vendor_csv import MailingAddress

AREA_CODES: dict[int, tuple[str, ...]] = {
    58: ("407", "321", "689"),  # Orange
    59: ("407", "321", "689"),  # Osceola
    69: ("407", "321", "689"),  # Seminole
    45: ("352",),               # Lake
    74: ("386",),               # Volusia
}
"""Real area codes per DOR county number; other counties fall back to 407/321/689."""

HEADER = ("Parcel ID", "Owner Name", "Mailing Address", "Mailing City", "Mailing State",
          "Mailing Zip",
          "Phone1", "Phone1_Type", "Phone1_DNC", "Phone2", "Phone2_Type", "Phone2_DNC",
          "Phone3", "Phone3_Type", "Phone3_DNC", "Phone4", "Phone4_Type", "Phone4_DNC",
          "Email1", "Email2", "Litigator")

EMAIL_DOMAINS = (("example.com", 0.38), ("example.net", 0.25), ("example.org", 0.15),
                 ("mail.example.com", 0.15), ("nomail.example.net", 0.03),
                 ("parked.example.org", 0.02), ("gone.example.com", 0.02))
_NAL_COLUMNS = ["CO_NO", "PARCEL_ID", "OWN_NAME", "OWN_ADDR1", "OWN_ADDR2", "OWN_CITY",
                "OWN_STATE", "OWN_ZIPCD"]
_FORMATS = ("({a}) {x}-{l}", "{a}.{x}.{l}", "+1 {a}-{x}-{l}", "{a}{x}{l}", "1-{a}-{x}-{l}",
            "{a}-{x}-{l}")
_JUNK = ("N/A", "0000000000", "CALL OFFICE", "407-555", "unknown")
_BAD_EMAIL = ("{u} at example.com", "{u}@@example.com", "{u}@example", "{u}@example..com",
              "@example.com")
_TYPES = ("Mobile", "Landline", "VoIP", "")
_ENTITY = frozenset({"LLC", "INC", "TRUST", "CORP", "LP", "LTD", "CO", "BANK", "ASSN", "TR"})


@dataclass(frozen=True)
class SkipTraceSample:
    """What was written: the file and how many rows of each kind it holds."""

    path: Path
    parcels: int
    rows: int
    traced_parcels: int
    name_keyed_rows: int
    duplicate_rows: int
    unknown_parcel_rows: int
    ragged_rows: int
    cp1252_rows: int


def read_nal_owners(nal_path: Path | str) -> tuple[int, list[ParcelOwner]]:
    """The county number and (parcel id, owner name, mailing address) of every NAL row."""
    frame = pl.read_csv(nal_path, columns=_NAL_COLUMNS, infer_schema_length=0,
                        encoding="utf8-lossy")
    frame = frame.with_columns(pl.all().fill_null(""))
    co_no = int(frame["CO_NO"][0]) if frame.height else 0
    shared = {}.setdefault  # one string per distinct city, state, ZIP, second line
    owners = [ParcelOwner(pid, name, MailingAddress(a1, shared(a2, a2), shared(city, city),
                                                    shared(state, state),
                                                    shared(zipcode, zipcode)))
              for pid, name, a1, a2, city, state, zipcode in frame.select(
                  _NAL_COLUMNS[1:]).iter_rows()]
    return co_no, owners


def _digest(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=16).digest()


def _owner_phones(seed: int, key: str, area_codes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Four (area code, line) pairs for an owner, from a hash: stable across the owner's rows."""
    digest = _digest(seed, key)
    return [(area_codes[digest[2 * k] % len(area_codes)], f"01{digest[2 * k + 1] % 100:02d}")
            for k in range(4)]


def _email_user(name: str, digest: bytes) -> str:
    tokens = [t for t in "".join(c if c.isalnum() else " " for c in name.lower()).split() if t]
    if not tokens:
        return f"owner{digest[9]}"
    if set(tokens) & {t.lower() for t in _ENTITY}:
        return ("info", "office", "admin")[digest[10] % 3]
    last, first = tokens[0], tokens[1] if len(tokens) > 1 else ""
    style = digest[11] % 3
    if style == 0 and first:
        return f"{first}.{last}"
    if style == 1 and first:
        return f"{first[0]}{last}{digest[12] % 90 + 10}"
    return f"{last}{digest[12] % 900 + 100}"


def _vendor_name(name: str) -> str:
    """Roll "LAST FIRST M" -> vendor "First M Last" (title case)."""
    tokens = name.split()
    if len(tokens) < 2 or set(tokens) & _ENTITY or "&" in tokens:
        return name.title()
    return " ".join([*tokens[1:], tokens[0]]).title()


def _dashed(pid: str) -> str:
    if len(pid) == 15 and pid.isdigit():
        return f"{pid[0:2]}-{pid[2:4]}-{pid[4:6]}-{pid[6:10]}-{pid[10:12]}-{pid[12:15]}"
    return pid


def generate_skip_trace(nal_path: Path | str, out_path: Path | str, seed: int = 42,
                        coverage: float = 0.80) -> SkipTraceSample:
    """Write the skip-trace CSV for one market's NAL file (see the module docstring)."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    co_no, owners = read_nal_owners(nal_path)
    area_codes = AREA_CODES.get(co_no, AREA_CODES[58])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(co_no, 7)))
    n = len(owners)
    traced = rng.random(n) < coverage
    name_keyed = rng.random(n) < 0.08
    dashed = rng.random(n) < 0.04
    n_phones = rng.choice(5, size=n, p=(0.05, 0.30, 0.35, 0.20, 0.10))
    n_emails = rng.choice(3, size=n, p=(0.40, 0.45, 0.15))
    fmt = rng.integers(0, len(_FORMATS), size=(n, 4))
    mess = rng.random((n, 4))
    types = rng.choice(4, size=(n, 4), p=(0.55, 0.30, 0.10, 0.05))
    dnc = rng.random((n, 4)) < 0.12
    ext = rng.integers(1, 999, size=(n, 4))
    email_mess = rng.random((n, 2))
    domain_pick = rng.choice(len(EMAIL_DOMAINS), size=(n, 2), p=[w for _, w in EMAIL_DOMAINS])
    litigator = rng.random(n) < 0.005
    ragged = rng.random(n) < 0.002
    cp1252 = rng.random(n) < 0.001
    duplicate = rng.random(n) < 0.02
    unknown = rng.random(n) < 0.01
    known_ids = {o.parcel_id for o in owners}

    lines: list[bytes] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    lines.append(buffer.getvalue().encode())
    counts = {"name": 0, "dup": 0, "unknown": 0, "ragged": 0, "cp1252": 0, "traced": 0}
    pending_dups: list[tuple[int, bytes]] = []

    def render(fields: list[str], as_ragged: bool, as_cp1252: bool) -> bytes:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(fields)
        text = buffer.getvalue()
        if as_ragged:  # the name written unquoted with a comma in it
            name = fields[1]
            quoted = f'"{name}"' if ("," in name or '"' in name) else name
            text = text.replace(quoted, f"{name.replace(',', '')}, JR", 1)
        return text.encode("cp1252", errors="replace") if as_cp1252 else text.encode()

    for i, owner in enumerate(owners):
        make_unknown = bool(unknown[i])
        if not traced[i] and not make_unknown:
            continue
        key = owner_key(owner.owner_name, owner.mailing)
        digest = _digest(seed, key)
        if make_unknown:
            pid = f"{owner.parcel_id[:-3]}9{digest[0] % 100:02d}" if owner.parcel_id else "X"
            while pid in known_ids:
                pid = pid[:-1] + str((int(pid[-1]) + 1) % 10)
            counts["unknown"] += 1
        else:
            counts["traced"] += 1
            pid = owner.parcel_id
        phones = _owner_phones(seed, key, area_codes)
        fields = ["", owner.owner_name, owner.mailing.line1, owner.mailing.city,
                  owner.mailing.state, owner.mailing.zip]
        if name_keyed[i] and not make_unknown:
            counts["name"] += 1
            fields[1] = _vendor_name(owner.owner_name)
            fields[2] = owner.mailing.line1.title()
            fields[3] = owner.mailing.city.title()
        else:
            fields[0] = _dashed(pid) if dashed[i] else pid
        for k in range(4):
            if k >= n_phones[i]:
                fields += ["", "", ""]
                continue
            area, line = phones[k]
            roll = mess[i, k]
            if roll < 0.01:
                text = _JUNK[ext[i, k] % len(_JUNK)]
            elif roll < 0.04:
                text = f"555-{line}"
            else:
                text = _FORMATS[fmt[i, k]].format(a=area, x="555", l=line)
                if roll > 0.98:
                    text += f" x{ext[i, k]}"
            fields += [text, _TYPES[types[i, k]], "Y" if dnc[i, k] else "N"]
        user = _email_user(owner.owner_name, digest)
        for k in range(2):
            if k >= n_emails[i]:
                fields.append("")
                continue
            who = user if k == 0 else f"{user}{digest[13 + k] % 90 + 10}"
            if email_mess[i, k] < 0.05:
                fields.append(_BAD_EMAIL[digest[14] % len(_BAD_EMAIL)].format(u=who))
            else:
                fields.append(f"{who}@{EMAIL_DOMAINS[domain_pick[i, k]][0]}")
        fields.append("Y" if litigator[i] else "")
        if cp1252[i]:  # a vendor's non-UTF-8 export: the name holds a Windows-1252 letter
            fields[1] = fields[1].replace("N", "Ñ", 1) if "N" in fields[1] else f"{fields[1]} Ñ"
        row = render(fields, bool(ragged[i]), bool(cp1252[i]))
        counts["ragged"] += int(ragged[i])
        counts["cp1252"] += int(cp1252[i])
        lines.append(row)
        if duplicate[i]:
            pending_dups.append((len(lines) + 1 + digest[15] % 20, row))
            counts["dup"] += 1
        while pending_dups and pending_dups[0][0] <= len(lines):
            lines.append(pending_dups.pop(0)[1])
    lines.extend(row for _, row in pending_dups)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    temp.write_bytes(b"".join(lines))
    os.replace(temp, out_path)
    return SkipTraceSample(out_path, n, len(lines) - 1, counts["traced"], counts["name"],
                           counts["dup"], counts["unknown"], counts["ragged"], counts["cp1252"])
