"""The sample skip-trace CSV (contacts.sample): same seed same bytes, fiction-only phones and
emails, the promised mess, and coverage above 70 % through validation and dedup."""

import csv
import re

import pytest

from contacts.dedupe import ContactBuilder, Source, SourceKind
from contacts.emails import DomainChecker, EmailValidator
from contacts.local_dns import LocalDnsServer
from contacts.phones import DEMO, PhoneValidator
from contacts.sample import EMAIL_DOMAINS, generate_skip_trace, read_nal_owners
from contacts.vendor_csv import read_vendor_csv
from scrapers.fl_dor.sample import SampleMarket, generate_market

ORANGE = SampleMarket("orange_fl", 58, "Orange")


@pytest.fixture(scope="module")
def nal(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("roll"), ORANGE, parcels=2000, seed=7).nal


def test_same_seed_same_bytes(nal, tmp_path):
    a = generate_skip_trace(nal, tmp_path / "a.csv", seed=3)
    b = generate_skip_trace(nal, tmp_path / "b.csv", seed=3)
    c = generate_skip_trace(nal, tmp_path / "c.csv", seed=4)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()


def test_fiction_only_and_the_mess_is_there(nal, tmp_path):
    sample = generate_skip_trace(nal, tmp_path / "s.csv", seed=3)
    assert 0.75 <= sample.traced_parcels / sample.parcels <= 0.85
    assert sample.name_keyed_rows and sample.duplicate_rows and sample.unknown_parcel_rows
    text = sample.path.read_bytes().decode("utf-8", errors="replace")
    records = [r for r in csv.DictReader(text.splitlines()) if None not in r]  # not ragged
    values = [r[f"Phone{k}"].split(" x")[0] for r in records for k in range(1, 5)]
    digits = [re.sub(r"\D", "", v) for v in values]
    phones = [d[-10:] for d in digits if len(d) in (10, 11) and d[-10] != "0"]
    assert len(phones) > 1000
    assert all(p[3:8] == "55501" and p[:3] in {"407", "321", "689"} for p in phones)
    domains = {d for d, _ in EMAIL_DOMAINS}
    emails = [r[f"Email{k}"] for r in records for k in (1, 2) if r[f"Email{k}"]]
    found = {e.rsplit("@", 1)[1] for e in emails if "@" in e and " " not in e}
    assert found - {"", "example", "example..com"} <= domains
    rows = list(csv.reader(text.splitlines()))
    assert any(re.fullmatch(r"555-01\d\d", f) for r in rows for f in r)  # missing area code
    assert any(" x" in f for r in rows for f in r)  # extensions


def test_validation_and_dedup_reach_the_coverage_goal(nal, tmp_path):
    sample = generate_skip_trace(nal, tmp_path / "s.csv", seed=3)
    vendor = read_vendor_csv(sample.path)
    assert {r.reason_code for r in vendor.rejects} >= {"ragged_row"}
    assert len(vendor.duplicates) == sample.duplicate_rows
    _, owners = read_nal_owners(nal)
    with LocalDnsServer() as server:
        builder = ContactBuilder(owners, PhoneValidator(DEMO),
                                 EmailValidator(DomainChecker(server.resolver())))
        builder.add_vendor_file(vendor, Source(SourceKind.VENDOR_FILE, "sample"))
        contacts = builder.contacts()
    codes = {r.reason_code for r in builder.rejects}
    assert codes >= {"missing_area_code", "invalid_syntax", "unknown_parcel", "null_mx",
                     "nxdomain", "no_mail_records"}
    covered = {p for c in contacts for p in c.parcel_ids}
    assert len(covered) / len(owners) > 0.70
    assert all(c.value.startswith("+1") and len(c.value) == 12
               for c in contacts if c.channel == "phone")
    keys = [(c.owner_key, c.channel, c.value) for c in contacts]
    assert len(keys) == len(set(keys))
