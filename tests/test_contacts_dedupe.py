"""Contacts per owner (contacts.dedupe) and their confidence (contacts.confidence): linking by
parcel id and by owner key, merging the same phone across rows and sources, value rejects."""

import pytest

from contacts.confidence import SOURCE_QUALITY, Evidence, score
from contacts.dedupe import (
    ContactBuilder,
    ParcelOwner,
    Source,
    SourceKind,
    normalize_owner_name,
    normalize_street,
    owner_key,
)
from contacts.emails import EmailValidator
from contacts.phones import DEMO, STRICT, PhoneValidator
from contacts.vendor_csv import MailingAddress, read_vendor_text

MAIL = MailingAddress("5223 LARKFALL POINTE TRL", "", "JACKSONVILLE", "FL", "32207")
PARCELS = [
    ParcelOwner("302311363601001", "ROWANBERG GERALD E", MAIL),
    ParcelOwner("302311363601002", "ROWANBERG GERALD E", MAIL),
    ParcelOwner("302311363601003", "SAGETON DEVELOPMENT LLC",
                MailingAddress("901 TIMBERPOINT LAKE CT", "", "HOUSTON", "TX", "77002")),
]
VENDOR_A = (
    "Parcel ID,Owner Name,Mailing Address,Mailing City,Mailing State,Mailing Zip,"
    "Phone1,Phone1_Type,Phone1_DNC,Phone2,Phone2_Type,Phone2_DNC,Email1\n"
    "302311363601001,ROWANBERG GERALD E,,,,,(407) 555-0123,Mobile,N,555-0199,,,g@example.com\n"
    "30-23-11-3636-01-002,ROWANBERG GERALD E,,,,,407.555.0123,Mobile,Y,,,,\n"
    "302311363699999,NOBODY,,,,,4075550150,,,,,,\n"
    ",Gerald E. Rowanberg,5223 Larkfall Pointe Trail,Jacksonville,FL,32207-1234,"
    "+1 321-555-0101 x7,Landline,,,,,\n"
    ",Somebody Else,1 Main St,Orlando,FL,32801,3215550102,,,,,,\n"
    "302311363601003,SAGETON DEVELOPMENT LLC,,,,,N/A,,,,,,bad@@example.com\n"
)
VENDOR_B = "APN,Phone 1,Phone 1 Type\n302311363601002,4075550123,Mobile\n"


def build(rules=DEMO):
    builder = ContactBuilder(PARCELS, PhoneValidator(rules), EmailValidator())
    builder.add_vendor_file(read_vendor_text(VENDOR_A.encode(), "a.csv"),
                            Source(SourceKind.VENDOR_FILE, "vendor-a"))
    return builder


def test_normalisation_rules():
    assert normalize_owner_name("Gerald E. Rowanberg") == normalize_owner_name(
        "ROWANBERG GERALD E") == "E GERALD ROWANBERG"
    assert normalize_owner_name("Smith John & Mary Etal") == "JOHN MARY SMITH"
    assert normalize_street("5223 Larkfall Pointe Trail") == "5223 LARKFALL PT TRL"
    assert normalize_street("P.O. Box 12") == normalize_street("PO BOX 12") == "PO BOX 12"
    assert normalize_street("12 Main Street, Apt 4") == normalize_street("12 MAIN ST #4")
    key = owner_key("Gerald E Rowanberg", MailingAddress("5223 Larkfall Pointe Trl", "", "",
                                                         "", "32207-1234"))
    assert key == owner_key("ROWANBERG GERALD E", MAIL)


def test_same_phone_on_two_parcels_of_one_owner_is_one_contact():
    builder = build()
    contacts = builder.contacts()
    phone = [c for c in contacts if c.value == "+14075550123"]
    assert len(phone) == 1
    assert phone[0].parcel_ids == ("302311363601001", "302311363601002")
    assert [s.line for s in phone[0].sightings] == [2, 3]
    assert phone[0].vendor_dnc  # one sighting said DNC
    assert phone[0].fictional


def test_name_and_address_rows_link_to_every_parcel_of_the_owner():
    contacts = build().contacts()
    linked = next(c for c in contacts if c.value == "+13215550101")
    assert linked.parcel_ids == ("302311363601001", "302311363601002")
    assert linked.extensions == ("7",)


def test_rejects_carry_file_line_column_and_reason():
    builder = build()
    got = sorted((r.line, r.column, r.reason_code) for r in builder.rejects)
    assert got == [
        (2, "phone2", "missing_area_code"),
        (4, "", "unknown_parcel"),
        (6, "", "no_matching_owner"),
        (7, "", "no_valid_contact"),
        (7, "email1", "invalid_syntax"),
        (7, "phone1", "not_a_number"),
    ]
    assert all(r.source_file == "a.csv" for r in builder.rejects)
    assert builder.stats.rows == 6 and builder.stats.rows_linked == 3


def test_strict_rules_reject_the_fictional_numbers():
    builder = build(STRICT)
    assert {c.channel for c in builder.contacts()} == {"email"}
    assert any(r.reason_code == "fictional_555" for r in builder.rejects)


def test_two_sources_merge_and_raise_confidence():
    builder = build()
    alone = {c.value: c for c in builder.contacts()}["+14075550123"]
    builder.add_vendor_file(read_vendor_text(VENDOR_B.encode(), "b.csv"),
                            Source(SourceKind.PAID_API, "api-b"))
    merged = {c.value: c for c in builder.contacts()}["+14075550123"]
    assert merged.sources == ("api-b", "vendor-a")
    assert len(merged.sightings) == 3
    assert merged.confidence > alone.confidence
    assert "2 sources agree" in merged.confidence_reason


def test_confidence_table_and_factors():
    vendor = Evidence("vendor_file", "v")
    assert score([vendor], "phone", "mobile").score == pytest.approx(0.55)
    assert score([vendor, Evidence("vendor_file", "w")], "phone", "mobile").score == (
        pytest.approx(0.798))
    same_source_twice = score([vendor, Evidence("vendor_file", "v", position=2)], "phone",
                              "mobile")
    assert same_source_twice.score == pytest.approx(0.55)
    assert score([Evidence("vendor_file", "v", 3)], "phone", "mobile").score == (
        pytest.approx(0.495))
    conflict = score([Evidence("vendor_file", "v", 1, "landline")], "phone", "mobile")
    assert conflict.score == pytest.approx(0.495) and "vs numbering" in conflict.reason
    assert score([vendor], "phone", "voip").score == pytest.approx(0.468)
    assert score([vendor], "email", domain_status="a_fallback").score == pytest.approx(0.468)
    assert score([Evidence("roll_mailing_address", "roll")], "postal").score == 0.9
    # the roll's fiduciary is a source of its own: the same address from both agrees
    fiduciary = Evidence("roll_fiduciary_address", "fl_dor_roll_fiduciary")
    assert score([fiduciary], "postal").score == 0.85
    assert score([Evidence("roll_mailing_address", "fl_dor_roll"), fiduciary],
                 "postal").score == pytest.approx(0.985)
    assert {kind.value for kind in SourceKind} <= SOURCE_QUALITY.keys()
    assert score([], "phone").score == 0.0
