"""Skip-trace vendor CSV files into typed rows, with every bad row in a rejects list.

Vendors (BatchSkipTracing / BatchData, REISkip, PropStream and the like) deliver a CSV per
order: the key the customer sent (a parcel id, or owner name plus mailing address), then up to
several phones with a type and a DNC flag each, and several emails. Their column names differ,
so headers are matched after *folding*: lower case, everything but letters and digits removed
(``"Phone 1 Type"``, ``"Phone1_Type"`` and ``"PHONE1TYPE"`` all fold to ``phone1type``).

Accepted headers (folded), by field:

- parcel id: parcelid, parcel, parcelnumber, parcelno, apn, apnnumber, folio, folionumber,
  foliono, pin, propertyid.
- owner name: ownername, owner, ownerfullname, owner1fullname, fullname, name, inputname;
  or first + last: firstname/lastname, ownerfirstname/ownerlastname,
  owner1firstname/owner1lastname, inputfirstname/inputlastname.
- mailing address: mailingaddress, mailingaddress1, mailingstreet, mailaddress, owneraddress,
  inputmailingaddress (and ...city, ...state, ...zip / zipcode / postalcode the same way).
- phones N = 1, 2, ...: phoneN, phoneNnumber, phonenumberN, mobileN, mobilephoneN, cellN,
  cellphoneN, wirelessN (type mobile), landlineN, landlinephoneN, residentialN (type
  landline); a lone ``phone`` is phone 1. Per phone: phoneNtype / phoneNlinetype,
  phoneNdnc / phoneNisdnc / phoneNdonotcall, phoneNlitigator (``mobile1dnc`` etc. too).
- emails N: emailN, emailaddressN, emailN address; a lone ``email`` is email 1.
- a row-level litigator flag: litigator, islitigator, tcpalitigator.

A row needs a key (a parcel id, or an owner name plus a mailing street and either a ZIP or a
city) and at least one phone or email value; otherwise it is rejected (``no_key``,
``no_contact``). A row with more fields than the header is rejected (``ragged_row``: an
unquoted comma shifts every later field, so its values cannot be trusted); a row with fewer
fields is read with the missing ones empty and a
warning. An exact repeat of an earlier row is not a reject: it lands in ``duplicates`` with the
line of its first occurrence. Lines that are not UTF-8 are decoded as Windows-1252 and listed
in ``warnings`` (the row itself is kept). Phone and email *validity* is not checked here:
``contacts.dedupe.build_contacts`` does that and reports bad values with the same line numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contacts.bulk import gc_paused, slot_factory

_FOLD = re.compile(r"[^a-z0-9]+")

_PARCEL = ("parcelid", "parcel", "parcelnumber", "parcelno", "apn", "apnnumber", "folio",
           "folionumber", "foliono", "pin", "propertyid")
_OWNER = ("ownername", "owner", "ownerfullname", "owner1fullname", "fullname", "name",
          "inputname")
_FIRST_LAST = (("firstname", "lastname"), ("ownerfirstname", "ownerlastname"),
               ("owner1firstname", "owner1lastname"), ("inputfirstname", "inputlastname"))
_MAIL_PREFIXES = ("mailingaddress", "mailing", "mail", "mailaddress", "owneraddress",
                  "inputmailingaddress", "inputmailing", "owner")
_STREET = ("mailingaddress", "mailingaddress1", "mailingstreet", "mailaddress", "mailstreet",
           "owneraddress", "owneraddress1", "inputmailingaddress")
_LINE2 = ("mailingaddress2", "mailaddress2", "owneraddress2")
_CITY = tuple(f"{p}city" for p in _MAIL_PREFIXES)
_STATE = tuple(f"{p}state" for p in _MAIL_PREFIXES)
_ZIP = tuple(f"{p}{z}" for p in _MAIL_PREFIXES for z in ("zip", "zipcode", "postalcode", "zip5"))
_LITIGATOR = ("litigator", "islitigator", "tcpalitigator", "knownlitigator")

_PHONE_KINDS = {"phone": None, "phonenumber": None, "mobile": "mobile", "mobilephone": "mobile",
                "cell": "mobile", "cellphone": "mobile", "wireless": "mobile",
                "landline": "landline", "landlinephone": "landline", "residential": "landline"}
_FAMILY = {"phone": "phone", "phonenumber": "phone", "mobile": "mobile",
           "mobilephone": "mobile", "cell": "mobile", "cellphone": "mobile",
           "wireless": "mobile", "landline": "landline", "landlinephone": "landline",
           "residential": "landline"}
_PHONE_COL = re.compile(r"^(phonenumber|phone|mobilephone|mobile|cellphone|cell|wireless|"
                        r"landlinephone|landline|residential)(\d+)(number)?$")
_PHONE_ATTR = re.compile(r"^(phone|mobile|cell|wireless|landline)(\d+)"
                         r"(type|linetype|dnc|isdnc|donotcall|litigator)$")
_EMAIL_COL = re.compile(r"^(email|emailaddress)(\d+)(address)?$")

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_TRUE = frozenset({"y", "yes", "true", "t", "1", "dnc", "x"})
_FALSE = frozenset({"n", "no", "false", "f", "0", "clean", "ok"})
_TYPES = {"mobile": "mobile", "wireless": "mobile", "cell": "mobile", "cellular": "mobile",
          "landline": "landline", "land line": "landline", "residential": "landline",
          "fixed": "landline", "wired": "landline", "voip": "voip", "voice over ip": "voip"}


def fold_header(name: str) -> str:
    """``"Phone 1 Type"`` -> ``"phone1type"``."""
    return _FOLD.sub("", name.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True, slots=True)
class MailingAddress:
    line1: str
    line2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""


@dataclass(frozen=True, slots=True)
class VendorPhone:
    """One phone value of a row, as the vendor wrote it, with its position (1 = Phone1)."""

    raw: str
    position: int
    column: str
    vendor_type: str | None = None  # "mobile", "landline", "voip", "other" or None
    vendor_dnc: bool | None = None
    litigator: bool | None = None


@dataclass(frozen=True, slots=True)
class VendorEmail:
    raw: str
    position: int
    column: str


@dataclass(frozen=True, slots=True)
class VendorRow:
    """A good row: where it is, its key, and its contact values (not yet validated)."""

    source_file: str
    line: int
    parcel_id: str | None
    owner_name: str
    mailing: MailingAddress | None
    phones: tuple[VendorPhone, ...]
    emails: tuple[VendorEmail, ...]
    litigator: bool = False


@dataclass(frozen=True, slots=True)
class RowReject:
    """A rejected row (or, with ``column`` set, one rejected value of a row)."""

    source_file: str
    line: int
    reason_code: str
    reason: str
    column: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class FileWarning:
    source_file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    source_file: str
    line: int
    first_line: int


REJECT_COLUMNS = ("source_file", "line", "column", "reason_code", "reason", "text")


def write_rejects(path: Path | str, rejects: list[RowReject] | tuple[RowReject, ...]) -> Path:
    """Write rejects as CSV (``REJECT_COLUMNS``), sorted by file and line; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_COLUMNS)
        for r in sorted(rejects, key=lambda r: (r.source_file, r.line, r.column)):
            writer.writerow((r.source_file, r.line, r.column, r.reason_code, r.reason, r.text))
    return path


@dataclass
class VendorFile:
    """What ``read_vendor_csv`` found in one file."""

    source_file: str
    rows: list[VendorRow]
    rejects: list[RowReject]
    duplicates: list[DuplicateRow]
    warnings: list[FileWarning]
    columns: dict[str, str]  # field -> the header it was read from

    def write_rejects(self, path: Path | str) -> Path:
        return write_rejects(path, self.rejects)


@dataclass(frozen=True)
class _Layout:
    parcel: int | None
    owner: int | None
    first_last: tuple[int, int] | None
    street: int | None
    line2: int | None
    city: int | None
    state: int | None
    zip: int | None
    litigator: int | None
    phones: tuple[tuple[int, int, str | None, int | None, int | None, int | None], ...]
    emails: tuple[tuple[int, int], ...]


def _first(folded: dict[str, int], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in folded:
            return folded[name]
    return None


def _layout(header: list[str]) -> tuple[_Layout, dict[str, str]]:
    folded: dict[str, int] = {}
    for index, name in enumerate(header):
        folded.setdefault(fold_header(name), index)
    phones: dict[tuple[str, int], tuple[int, str | None]] = {}
    attrs: dict[tuple[str, int, str], int] = {}
    emails: dict[int, int] = {}
    for name, index in folded.items():
        if match := _PHONE_COL.match(name):
            kind = _PHONE_KINDS[match.group(1)]
            phones.setdefault((_FAMILY[match.group(1)], int(match.group(2))), (index, kind))
        elif match := _PHONE_ATTR.match(name):
            attr = {"linetype": "type", "isdnc": "dnc", "donotcall": "dnc"}.get(
                match.group(3), match.group(3))
            attrs.setdefault((_FAMILY[match.group(1)], int(match.group(2)), attr), index)
        elif match := _EMAIL_COL.match(name):
            emails.setdefault(int(match.group(2)), index)
    if not phones:
        single = _first(folded, ("phone", "phonenumber", "mobile", "cell"))
        if single is not None:
            phones[("phone", 1)] = (single, None)
    # positions 1, 2, ... in order of the vendor's number, then of the header
    ordered = sorted(phones.items(), key=lambda item: (item[0][1], item[1][0]))
    if not emails:
        single = _first(folded, ("email", "emailaddress"))
        if single is not None:
            emails[1] = single
    first_last = None
    for first, last in _FIRST_LAST:
        if first in folded and last in folded:
            first_last = (folded[first], folded[last])
            break
    layout = _Layout(
        parcel=_first(folded, _PARCEL), owner=_first(folded, _OWNER), first_last=first_last,
        street=_first(folded, _STREET), line2=_first(folded, _LINE2),
        city=_first(folded, _CITY), state=_first(folded, _STATE), zip=_first(folded, _ZIP),
        litigator=_first(folded, _LITIGATOR),
        phones=tuple((position, idx, kind, attrs.get((family, n, "type")),
                      attrs.get((family, n, "dnc")), attrs.get((family, n, "litigator")))
                     for position, ((family, n), (idx, kind)) in enumerate(ordered, start=1)),
        emails=tuple(sorted(emails.items())))
    columns = {}
    for field_name in ("parcel", "owner", "street", "line2", "city", "state", "zip",
                       "litigator"):
        index = getattr(layout, field_name)
        if index is not None:
            columns[field_name] = header[index]
    for n, idx, _kind, type_idx, dnc_idx, _lit in layout.phones:
        columns[f"phone{n}"] = header[idx]  # n: the phone's position in the row
        if type_idx is not None:
            columns[f"phone{n}_type"] = header[type_idx]
        if dnc_idx is not None:
            columns[f"phone{n}_dnc"] = header[dnc_idx]
    for n, idx in layout.emails:
        columns[f"email{n}"] = header[idx]
    return layout, columns


def _flag(value: str) -> bool | None:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _line_breaks(text: str, start: int, end: int) -> int:
    """Line breaks in ``text[start:end]`` as ``bytes.splitlines`` counts them (\\n, \\r, \\r\\n)."""
    return (text.count("\n", start, end) + text.count("\r", start, end)
            - text.count("\r\n", start, end))


def _line_end(text: str, index: int) -> int:
    """The end of the line holding ``text[index]``, its line break included."""
    newline = text.find("\n", index)
    limit = newline if newline >= 0 else len(text)
    carriage = text.find("\r", index, limit)
    if carriage >= 0:
        return carriage + (2 if text.startswith("\n", carriage + 1) else 1)
    return limit + 1 if newline >= 0 else len(text)


def _decode(data: bytes, source_file: str) -> tuple[str, list[FileWarning]]:
    """UTF-8 text; lines that are not UTF-8 decoded as Windows-1252, each with a warning
    (line numbers as ``bytes.splitlines`` counts lines)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    # One pass: bytes that are not UTF-8 come back as lone surrogates U+DC80..U+DCFF (which
    # valid UTF-8 cannot hold), so the bad lines are found without decoding line by line.
    text = data.decode("utf-8", "surrogateescape")
    warnings: list[FileWarning] = []
    parts = []
    position, number = 0, 1  # the first text not yet copied, always at a line start
    for match in _ESCAPED_BYTE.finditer(text):
        bad = match.start()
        if bad < position:
            continue  # another bad byte of a line already decoded
        newline = text.rfind("\n", position, bad)
        carriage = text.rfind("\r", max(position, newline + 1), bad)
        start = max(newline, carriage) + 1 if max(newline, carriage) >= 0 else position
        number += _line_breaks(text, position, start)
        end = _line_end(text, bad)
        parts.append(text[position:start])
        line = text[start:end].encode("utf-8", "surrogateescape")
        column = len(text[start:bad].encode("utf-8"))
        parts.append(line.decode("cp1252", errors="replace"))
        warnings.append(FileWarning(source_file, number, f"not UTF-8 (byte {line[column]:#04x}"
                                    f" at column {column + 1}); decoded as Windows-1252"))
        number += 1
        position = end
    parts.append(text[position:])
    return "".join(parts), warnings


def read_vendor_csv(path: Path | str) -> VendorFile:
    """Read one vendor CSV file (see the module docstring). Never raises for bad content;
    raises ``FileNotFoundError`` / ``ValueError`` only when the file or its header is unusable
    (no header, or neither a parcel-id nor an owner-name column, or no phone/email column)."""
    path = Path(path)
    return read_vendor_text(path.read_bytes(), str(path))


def read_vendor_text(data: bytes, source_file: str) -> VendorFile:
    """``read_vendor_csv`` on bytes already in memory; ``source_file`` names them."""
    text, warnings = _decode(data, source_file)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{source_file}: empty file, no header row") from None
    layout, columns = _layout(header)
    if layout.parcel is None and layout.owner is None and layout.first_last is None:
        raise ValueError(f"{source_file}: header has neither a parcel-id column ({_PARCEL}) nor "
                         f"an owner-name column ({_OWNER}): {header}")
    if not layout.phones and not layout.emails:
        raise ValueError(f"{source_file}: header has no phone or email column: {header}")
    width = len(header)
    rows: list[VendorRow] = []
    rejects: list[RowReject] = []
    duplicates: list[DuplicateRow] = []
    # Rows seen so far, keyed by their stripped fields joined with NUL (smaller than the tuple
    # of fields); a row whose fields hold NUL themselves is keyed by the tuple instead.
    seen: dict[str | tuple[str, ...], int] = {}
    separators = width - 1
    make_row = _row_builder(layout, source_file)
    strip = str.strip
    previous_end = reader.line_num
    with gc_paused():
        for fields in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            if not fields:
                continue
            key = tuple(map(strip, fields))
            if not any(key):
                continue
            count = len(fields)
            if count > width:
                rejects.append(RowReject(source_file, line, "ragged_row",
                                         f"row has {count} fields, the header {width}",
                                         text=",".join(fields)))
                continue
            if count < width:
                warnings.append(FileWarning(source_file, line, f"row has {count} fields, "
                                            f"the header {width}; missing ones read as empty"))
                key = key + ("",) * (width - count)
            joined = "\0".join(key)
            marker = joined if joined.count("\0") == separators else key
            first_line = seen.get(marker)
            if first_line is not None:
                duplicates.append(DuplicateRow(source_file, line, first_line))
                continue
            seen[marker] = line
            row = make_row(key, line)
            if isinstance(row, RowReject):
                rejects.append(row)
            else:
                rows.append(row)
    return VendorFile(source_file, rows, rejects, duplicates, warnings, columns)


_new_phone = slot_factory(VendorPhone)
_new_email = slot_factory(VendorEmail)
_new_mailing = slot_factory(MailingAddress)
_new_row = slot_factory(VendorRow)
_MISSING = object()
_FLAG_SPELLINGS: dict[str, bool | None] = {
    spelling: word in _TRUE for word in _TRUE | _FALSE
    for spelling in (word, word.upper(), word.title())}
_FLAG_SPELLINGS[""] = None


def _flag_of(value: str) -> bool | None:
    """``_flag`` of an already stripped value, the usual spellings looked up."""
    found = _FLAG_SPELLINGS.get(value, _MISSING)
    return _flag(value) if found is _MISSING else found  # type: ignore[return-value]


def _row_builder(layout: _Layout, source_file: str
                 ) -> Callable[[tuple[str, ...], int], VendorRow | RowReject]:
    """The function that turns one row's stripped fields into a ``VendorRow`` or a reject,
    with the layout's column indexes bound once."""
    parcel_idx, owner_idx, first_last = layout.parcel, layout.owner, layout.first_last
    street_idx, line2_idx, city_idx = layout.street, layout.line2, layout.city
    state_idx, zip_idx, litigator_idx = layout.state, layout.zip, layout.litigator
    # Per phone / email column: its layout and the records already made for it. Values repeat
    # across rows (an owner's phones on each of their parcels' rows), and the records are
    # frozen, so equal ones are made once and shared, as are repeated address parts.
    phones_layout = tuple((n, idx, kind, type_idx, dnc_idx, lit_idx, f"phone{n}", {})
                          for n, idx, kind, type_idx, dnc_idx, lit_idx in layout.phones)
    emails_layout = tuple((n, idx, f"email{n}", {}) for n, idx in layout.emails)
    types = _TYPES
    shared = {}.setdefault

    def make_row(f: tuple[str, ...], line: int) -> VendorRow | RowReject:
        parcel_id = f[parcel_idx] if parcel_idx is not None else ""
        owner = f[owner_idx] if owner_idx is not None else ""
        if not owner and first_last is not None:
            owner = " ".join(p for p in (f[first_last[0]], f[first_last[1]]) if p)
        street = f[street_idx] if street_idx is not None else ""
        mailing = None
        if street:
            line2 = f[line2_idx] if line2_idx is not None else ""
            city = f[city_idx] if city_idx is not None else ""
            state = f[state_idx] if state_idx is not None else ""
            zip_code = f[zip_idx] if zip_idx is not None else ""
            mailing = _new_mailing(street, shared(line2, line2), shared(city, city),
                                   shared(state, state), shared(zip_code, zip_code))
        if not parcel_id and not (owner and mailing and (mailing.zip or mailing.city)):
            return RowReject(source_file, line, "no_key", "row has no parcel id and no owner "
                             "name with a mailing address (street and ZIP or city)",
                             text=",".join(f))
        phones = []
        for n, idx, kind, type_idx, dnc_idx, lit_idx, column, made in phones_layout:
            raw = f[idx]
            if not raw:
                continue
            type_text = f[type_idx] if type_idx is not None else ""
            dnc_text = f[dnc_idx] if dnc_idx is not None else None
            lit_text = f[lit_idx] if lit_idx is not None else None
            phone_key = (raw, type_text, dnc_text, lit_text)
            phone = made.get(phone_key)
            if phone is None:
                vendor_type = types.get(type_text.lower(), "other") if type_text else kind
                phone = made[phone_key] = _new_phone(
                    raw, n, column, vendor_type,
                    _flag_of(dnc_text) if dnc_text is not None else None,
                    _flag_of(lit_text) if lit_text is not None else None)
            phones.append(phone)
        emails = []
        for n, idx, column, made in emails_layout:
            raw = f[idx]
            if raw:
                email = made.get(raw)
                if email is None:
                    email = made[raw] = _new_email(raw, n, column)
                emails.append(email)
        if not phones and not emails:
            return RowReject(source_file, line, "no_contact",
                             "row has no phone and no email value", text=",".join(f))
        litigator = bool(litigator_idx is not None and _flag_of(f[litigator_idx]))
        return _new_row(source_file, line, parcel_id or None, owner, mailing, tuple(phones),
                        tuple(emails), litigator)

    return make_row
