"""Benchmark: validate and deduplicate ~1 M raw skip-trace rows (contacts library).

Generates a sample NAL (``scrapers.fl_dor.sample``) and the vendor-style skip-trace CSV from it
(``contacts.sample``), then times, in one run on the same file:

- figure: ``read_vendor_csv`` + ``ContactBuilder`` (phone and email validation with a cache
  per distinct raw string, linking to parcels, merging, confidence) -> contacts. DNS is
  excluded as the target says: domains are answered by the loopback server
  (``contacts.local_dns``) and cached per domain, a handful of lookups in all.
- floor: every raw phone string of the same rows through a bare ``phonenumbers.parse`` +
  ``format_number(E164)`` loop (no cache, no emails, no linking).

Peak memory: the process's resident-set high-water mark (``VmHWM``) over the figure alone,
reset just before it through ``/proc/self/clear_refs`` (Linux), so it counts what the figure
holds and builds, including the roll's parcel owners already in memory, but not the sample
generation; where that reset is not possible, the whole run's ``ru_maxrss``.

Usage: .venv/bin/python bench/contacts_validate.py [--parcels 1250000] [--seed 42]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import tempfile
import time
from pathlib import Path

import phonenumbers

from contacts.dedupe import ContactBuilder, Source, SourceKind
from contacts.emails import DomainChecker, EmailValidator
from contacts.local_dns import LocalDnsServer
from contacts.phones import DEMO, PhoneValidator
from contacts.sample import generate_skip_trace, read_nal_owners
from contacts.vendor_csv import read_vendor_csv
from scrapers.fl_dor.sample import SampleMarket, generate_market


def reset_peak_memory() -> bool:
    """Reset this process's RSS high-water mark (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mib() -> float:
    """The RSS high-water mark in MiB: ``VmHWM`` (since the last reset) or ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1_250_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate_market(Path(tmp), SampleMarket("orange_fl", 58, "Orange"),
                                args.parcels, args.seed)
        sample = generate_skip_trace(files.nal, Path(tmp) / "skip_trace.csv", args.seed)
        _, owners = read_nal_owners(files.nal)
        print(f"setup (NAL, skip-trace CSV, parcel owners): {time.perf_counter() - started:.1f}"
              f" s; {sample.rows:,} rows", flush=True)

        reset = reset_peak_memory()
        with LocalDnsServer() as server:
            started = time.perf_counter()
            vendor = read_vendor_csv(sample.path)
            read_s = time.perf_counter() - started
            phones = PhoneValidator(DEMO)
            checker = DomainChecker(server.resolver())
            builder = ContactBuilder(owners, phones, EmailValidator(checker))
            index_s = time.perf_counter() - started - read_s
            builder.add_vendor_file(vendor, Source(SourceKind.VENDOR_FILE, "bench"))
            add_s = time.perf_counter() - started - read_s - index_s
            contacts = builder.contacts()
            figure_s = time.perf_counter() - started
            peak_mib = peak_memory_mib()

        raw_phones = []
        with sample.path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for record in csv.DictReader(handle):
                raw_phones.extend(record[f"Phone{k}"] for k in range(1, 5)
                                  if record.get(f"Phone{k}"))
        started = time.perf_counter()
        for raw in raw_phones:
            try:  # noqa: SIM105 (plain try: the cheapest loop for a floor)
                phonenumbers.format_number(phonenumbers.parse(raw, "US"),
                                           phonenumbers.PhoneNumberFormat.E164)
            except phonenumbers.NumberParseException:
                pass
        floor_s = time.perf_counter() - started

    result = {
        "rows": sample.rows, "raw_phones": len(raw_phones),
        "distinct_phone_strings": phones.distinct_checked, "dns_lookups": checker.lookups,
        "contacts": len(contacts), "rejects": len(builder.rejects),
        "figure_s": round(figure_s, 1), "read_s": round(read_s, 1),
        "parcel_index_s": round(index_s, 1), "validate_merge_s": round(add_s, 1),
        "contacts_s": round(figure_s - read_s - index_s - add_s, 1),
        "rows_per_s": round(sample.rows / figure_s),
        "peak_rss_mib": round(peak_mib), "peak_scope": "figure" if reset else "whole run",
        "floor_s": round(floor_s, 1), "floor_rows_per_s": round(sample.rows / floor_s),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
