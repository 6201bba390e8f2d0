"""Do-not-call files into typed lists, and the registry staleness rule.

Kinds (``DncKind``): the FTC National DNC registry download (``ftc_national``), the Florida
state list (``florida``), our internal suppression list (``internal``) and an optional
litigator list (``litigator``).

Line formats accepted (one number per line; blank lines and ``#`` comments skipped; one header
line without digits, e.g. ``phone``, skipped):

- ``3055550123`` (the FTC full list, flat text: ten digits), ``305,5550123`` (area code and
  number, comma-separated), an optional leading ``1`` / ``+1``, and formatted numbers such as
  ``(305) 555-0123`` in internal lists.
- CSV with a header naming a phone column (``phone``, ``phone_number``, ``number``,
  ``telephone``, ``e164``, ``mobile``, ``wireless``): the other columns are ignored.
- FTC change lists. The registry's change-list download holds the numbers added to *and*
  deleted from the registry since the organisation's last download; its flat text file has
  several comma-separated items per record. We found the FTC's descriptions of it (full vs
  change list, one file per area code) but not its exact field layout, so the parser takes a
  change indicator in any field after the number: ``A``/``ADD``/``ADDED``/``ADDITION`` or
  ``D``/``DEL``/``DELETE``/``DELETED``/``DELETION`` (case-insensitive), with optional further
  fields such as a date (``305,5550123,A,2026-11-01`` or ``3055550123,D``). A change list
  delivered as two files whose names say ``add``/``del`` without an indicator per line is
  read as all additions / all deletions. A change-list line without an indicator is a bad line.

Every list carries its kind, source file and download date, and says where the date came from
(``date_source``): the ``downloaded_on`` argument, else a date in the file name
(``2026-11-15``, ``20261115``, ``2026_11_15``), else the file's modification time.

Bad lines are kept in ``DncList.bad_lines`` with file, line number, text and reason; nothing is
dropped silently. Numbers are normalised to E.164 (+1 and ten digits with a valid-looking area
code and exchange, first digits 2-9); they are not run through ``phonenumbers``: a registry
entry must be honoured whatever numbering metadata says.

``registry_age_blocks_sms(downloaded_on, today)``: a registry copy more than 31 days old blocks
SMS sends (the TSR safe harbour and FCC rule require a list no older than 31 days).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class DncKind(StrEnum):
    """Which list a file is."""

    FTC_NATIONAL = "ftc_national"
    FLORIDA = "florida"
    INTERNAL = "internal"
    LITIGATOR = "litigator"


class DateSource(StrEnum):
    """Where a list's download date came from."""

    ARGUMENT = "argument"
    FILE_NAME = "file_name"
    FILE_MTIME = "file_mtime"


@dataclass(frozen=True, slots=True)
class DncEntry:
    """One number of a list. ``deleted`` is True for a change-list deletion."""

    e164: str
    line: int
    deleted: bool = False
    change_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be read, with where it is and why."""

    file: str
    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class DncList:
    """One parsed DNC file."""

    kind: DncKind
    source_file: str
    downloaded_on: dt.date
    date_source: DateSource
    is_change_list: bool
    entries: tuple[DncEntry, ...]
    bad_lines: tuple[BadLine, ...]

    @property
    def additions(self) -> frozenset[str]:
        """Numbers on the list (for a full list, every number)."""
        return frozenset(e.e164 for e in self.entries if not e.deleted)

    @property
    def deletions(self) -> frozenset[str]:
        """Numbers a change list removes from the registry."""
        return frozenset(e.e164 for e in self.entries if e.deleted)

    @property
    def area_codes(self) -> tuple[str, ...]:
        return tuple(sorted({e.e164[2:5] for e in self.entries}))


_ADD_WORDS = frozenset({"A", "ADD", "ADDED", "ADDITION", "ADDITIONS", "I", "INSERT"})
_DEL_WORDS = frozenset({"D", "DEL", "DELETE", "DELETED", "DELETION", "DELETIONS", "R", "REMOVE",
                        "REMOVED"})
_PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "number", "telephone", "e164",
                  "mobile", "wireless", "phone1", "tn")
_NAME_ADD = re.compile(r"(?<![a-z])(add|adds|added|additions?)(?![a-z])")
_NAME_DEL = re.compile(r"(?<![a-z])(del|dels|deleted|deletes|deletions?)(?![a-z])")
_NON_DIGITS = re.compile(r"\D+")
_NANP = re.compile(r"[2-9]\d\d[2-9]\d{6}")
_NAME_DATES = (
    (re.compile(r"(?<!\d)(20\d\d)[-_.](\d\d)[-_.](\d\d)(?!\d)"), (1, 2, 3)),
    (re.compile(r"(?<!\d)(20\d\d)(\d\d)(\d\d)(?!\d)"), (1, 2, 3)),
    (re.compile(r"(?<!\d)(\d\d)[-_.](\d\d)[-_.](20\d\d)(?!\d)"), (3, 1, 2)),
)


def normalize_nanp(text: str) -> str | None:
    """``"305,5550123"``, ``"(305) 555-0123"``, ``"13055550123"`` -> ``"+13055550123"``;
    None when the digits are not a ten-digit NANP number."""
    digits = _NON_DIGITS.sub("", text)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return f"+1{digits}" if _NANP.fullmatch(digits) else None


def date_from_file_name(name: str) -> dt.date | None:
    """The first valid calendar date written in a file name, else None."""
    for pattern, (y, m, d) in _NAME_DATES:
        for match in pattern.finditer(name):
            try:
                return dt.date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                continue
    return None


def _download_date(path: Path, downloaded_on: dt.date | None) -> tuple[dt.date, DateSource]:
    if downloaded_on is not None:
        return downloaded_on, DateSource.ARGUMENT
    from_name = date_from_file_name(path.name)
    if from_name is not None:
        return from_name, DateSource.FILE_NAME
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date()
    return mtime, DateSource.FILE_MTIME


def _parse_change_date(fields: Iterable[str]) -> dt.date | None:
    for text in fields:
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
            try:
                return dt.datetime.strptime(text.strip(), fmt).date()
            except ValueError:
                continue
    return None


def _split_number(fields: list[str]) -> tuple[str | None, list[str]]:
    """The number at the start of a record (``AAANNNNNNN`` or ``AAA,NNNNNNN``) and the rest."""
    first = fields[0].strip()
    if len(fields) >= 2 and re.fullmatch(r"\d{3}", first) and re.fullmatch(
            r"\d{7}", fields[1].strip().replace("-", "")):
        return normalize_nanp(first + fields[1]), fields[2:]
    return normalize_nanp(first), fields[1:]


def parse_dnc_text(text: str, kind: DncKind, source_file: str, downloaded_on: dt.date,
                   date_source: DateSource = DateSource.ARGUMENT,
                   change_list: bool | None = None) -> DncList:
    """Parse the text of a DNC file (see the module docstring for the formats).

    ``change_list``: True / False to say what the file is; None to decide from the file name
    (``change``, ``add``, ``del`` in it) or from indicator fields on its lines.
    """
    lower_name = Path(source_file).name.lower()
    name_says_add = bool(_NAME_ADD.search(lower_name))
    name_says_del = bool(_NAME_DEL.search(lower_name))
    is_change = change_list if change_list is not None else (
        "change" in lower_name or name_says_add or name_says_del)
    entries: list[DncEntry] = []
    bad: list[BadLine] = []
    rows = list(csv.reader(io.StringIO(text)))
    phone_column: int | None = None
    start = 0
    first_data = next((i for i, r in enumerate(rows) if any(f.strip() for f in r)), None)
    if first_data is not None and not any(c.isdigit() for c in ",".join(rows[first_data])):
        header = [re.sub(r"[^a-z0-9]+", "_", f.strip().lower()).strip("_")
                  for f in rows[first_data]]
        for name in _PHONE_COLUMNS:
            if name in header:
                phone_column = header.index(name)
                break
        if phone_column is None and len(header) > 1:
            bad.append(BadLine(source_file, first_data + 1, ",".join(rows[first_data]),
                               f"header names no phone column (expected one of "
                               f"{', '.join(_PHONE_COLUMNS)})"))
            return DncList(kind, source_file, downloaded_on, date_source, is_change, (),
                           tuple(bad))
        start = first_data + 1
    saw_indicator = False
    for index in range(start, len(rows)):
        fields = rows[index]
        line = index + 1  # csv rows are lines here: DNC files have no quoted newlines
        raw = ",".join(fields)
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if phone_column is not None:
            if phone_column >= len(fields):
                bad.append(BadLine(source_file, line, raw, "row has no value in the phone column"))
                continue
            number, rest = normalize_nanp(fields[phone_column]), []
        else:
            number, rest = _split_number(fields)
        if number is None:
            bad.append(BadLine(source_file, line, raw,
                               "not a ten-digit US number (area code and exchange start 2-9)"))
            continue
        words = {f.strip().upper() for f in rest if f.strip()}
        is_add, is_del = bool(words & _ADD_WORDS), bool(words & _DEL_WORDS)
        if is_add and is_del:
            bad.append(BadLine(source_file, line, raw, "both an addition and a deletion flag"))
            continue
        if is_add or is_del:
            saw_indicator = True
        deleted = is_del
        if not (is_add or is_del):
            if is_change and name_says_del and not name_says_add:
                deleted = True
            elif is_change and not (name_says_add or name_says_del):
                bad.append(BadLine(source_file, line, raw, "change-list line without an "
                                   "addition/deletion indicator (A/ADD or D/DELETE)"))
                continue
        entries.append(DncEntry(number, line, deleted, _parse_change_date(rest) if rest else None))
    return DncList(kind, source_file, downloaded_on, date_source, is_change or saw_indicator,
                   tuple(entries), tuple(bad))


def parse_dnc_file(path: Path | str, kind: DncKind | str, downloaded_on: dt.date | None = None,
                   change_list: bool | None = None, encoding: str = "utf-8") -> DncList:
    """Read and parse one DNC file. Undecodable bytes are replaced and the lines holding them
    come out as bad lines if their number cannot be read."""
    path = Path(path)
    date, source = _download_date(path, downloaded_on)
    text = path.read_bytes().decode(encoding, errors="replace").lstrip("\ufeff")
    return parse_dnc_text(text, DncKind(kind), str(path), date, source, change_list)


def apply_change_list(numbers: Iterable[str], change: DncList) -> frozenset[str]:
    """A registry's numbers after a change list: its additions in, its deletions out."""
    if not change.is_change_list:
        raise ValueError(f"{change.source_file} is a full list, not a change list")
    return (frozenset(numbers) | change.additions) - change.deletions


def registry_age_days(downloaded_on: dt.date, today: dt.date) -> int:
    return (today - downloaded_on).days


def registry_age_blocks_sms(downloaded_on: dt.date, today: dt.date,
                            max_age_days: int = 31) -> bool:
    """True when a registry copy downloaded on ``downloaded_on`` is too old on ``today``: more
    than ``max_age_days`` days (day 31 is still allowed, day 32 blocks). A copy dated in the
    future also blocks (a clock or data error must not look fresh)."""
    age = registry_age_days(downloaded_on, today)
    return age < 0 or age > max_age_days
