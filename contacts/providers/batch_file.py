"""Skip tracing by file: the request file vendors accept, and API answers kept as vendor CSV.

`write_trace_request_csv` writes one row per `TraceSubject` with the columns batch
skip-trace vendors take (their upload mappers accept these names): ``Parcel ID``,
``Owner Name``, ``Mailing Address``, ``Mailing City``, ``Mailing State``, ``Mailing Zip``,
``Property Address``. Vendors return the same rows with phone and email columns appended;
`contacts.vendor_csv.read_vendor_csv` reads that file (``wholesaler contacts import``).

`write_vendor_rows_csv` writes `VendorRow`s (e.g. an API's answers) in a layout that
`read_vendor_csv` reads back to the same rows: ``Phone1``, ``Phone1 Type``, ``Phone1 DNC``,
``Phone1 Litigator``, …, ``Email1``, ….
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from contacts.providers.base import TraceSubject
from contacts.vendor_csv import VendorRow

REQUEST_COLUMNS = ("Parcel ID", "Owner Name", "Mailing Address", "Mailing City",
                   "Mailing State", "Mailing Zip", "Property Address")


def _atomic_writer(path: Path) -> tuple[Path, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, path.with_name(path.name + ".part")


def write_trace_request_csv(subjects: Iterable[TraceSubject], path: Path | str) -> int:
    """Write the subjects as a vendor upload file; returns the number of rows. The file
    appears complete or not at all (written beside, then renamed)."""
    final, partial = _atomic_writer(Path(path))
    count = 0
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_COLUMNS)
        for subject in subjects:
            mailing = subject.mailing
            street = " ".join(part for part in (mailing.line1, mailing.line2) if part)
            writer.writerow((subject.parcel_id, subject.owner_name, street, mailing.city,
                             mailing.state, mailing.zip, subject.property_address))
            count += 1
    partial.replace(final)
    return count


def _flag(value: bool | None) -> str:
    return "" if value is None else ("Y" if value else "N")


def write_vendor_rows_csv(rows: Sequence[VendorRow], path: Path | str) -> Path:
    """Write `rows` as a vendor CSV that `read_vendor_csv` reads back to the same values."""
    final, partial = _atomic_writer(Path(path))
    phones = max((len(row.phones) for row in rows), default=0)
    emails = max((len(row.emails) for row in rows), default=0)
    header = ["Parcel ID", "Owner Name", "Mailing Address", "Mailing Address 2",
              "Mailing City", "Mailing State", "Mailing Zip", "Litigator"]
    for n in range(1, phones + 1):
        header += [f"Phone{n}", f"Phone{n} Type", f"Phone{n} DNC", f"Phone{n} Litigator"]
    header += [f"Email{n}" for n in range(1, max(emails, 1 if not phones else 0) + 1)]
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            mailing = row.mailing
            cells = [row.parcel_id or "", row.owner_name,
                     mailing.line1 if mailing else "", mailing.line2 if mailing else "",
                     mailing.city if mailing else "", mailing.state if mailing else "",
                     mailing.zip if mailing else "", "Y" if row.litigator else ""]
            for n in range(phones):
                if n < len(row.phones):
                    phone = row.phones[n]
                    cells += [phone.raw, phone.vendor_type or "", _flag(phone.vendor_dnc),
                              _flag(phone.litigator)]
                else:
                    cells += ["", "", "", ""]
            cells += [row.emails[n].raw if n < len(row.emails) else ""
                      for n in range(len(header) - len(cells))]
            writer.writerow(cells)
    partial.replace(final)
    return final
