"""Vendor skip-trace CSV reading (contacts.vendor_csv): header aliases, rejects with line
numbers, ragged rows, duplicates, encodings, and the rejects file."""

import csv

import pytest

from contacts.vendor_csv import fold_header, read_vendor_csv, read_vendor_text

BATCH_STYLE = (
    "APN,Owner Name,Mailing Address,Mailing City,Mailing State,Mailing Zip,"
    "Phone 1,Phone 1 Type,Phone 1 DNC,Phone 2,Phone 2 Type,Phone 2 DNC,Email 1,Email 2\n"
    "302311363601001,ROWANBERG GERALD E,5223 LARKFALL TRL,JACKSONVILLE,FL,32207,"
    "(407) 555-0123,Wireless,Y,407.555.0124,Landline,N,g@example.com,\n"
    ",,,,,,(407) 555-0125,,,,,,,\n"                                                # 3: no key
    "302311363601002,X,1 A ST,ORLANDO,FL,32801,,,,,,,,\n"                          # 4: no contact
    '"302311363601003","SMITH, JOHN",1 B ST,ORLANDO,FL,32801,4075550126,,,,,,,\n'  # 5: good
    "302311363601004,SMITH, JOHN,1 B ST,ORLANDO,FL,32801,4075550127,,,,,,,\n"      # 6: ragged
    "302311363601001,ROWANBERG GERALD E,5223 LARKFALL TRL,JACKSONVILLE,FL,32207,"
    "(407) 555-0123,Wireless,Y,407.555.0124,Landline,N,g@example.com,\n"          # 7: duplicate
    ",Gerald E Rowanberg,5223 Larkfall Trl,Jacksonville,FL,32207,321-555-0101\n"  # 8: short row
)


def test_fold_header():
    assert fold_header("Phone 1 Type") == fold_header("Phone1_Type") == "phone1type"
    assert fold_header("\ufeffParcel ID") == "parcelid"


def test_rows_rejects_duplicates_and_warnings_with_line_numbers(tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text(BATCH_STYLE)
    vf = read_vendor_csv(path)
    assert [r.line for r in vf.rows] == [2, 5, 8]
    assert [(r.line, r.reason_code) for r in vf.rejects] == [
        (3, "no_key"), (4, "no_contact"), (6, "ragged_row")]
    assert [(d.line, d.first_line) for d in vf.duplicates] == [(7, 2)]
    assert [w.line for w in vf.warnings] == [8]
    first = vf.rows[0]
    assert first.parcel_id == "302311363601001" and first.owner_name == "ROWANBERG GERALD E"
    assert [(p.raw, p.position, p.vendor_type, p.vendor_dnc) for p in first.phones] == [
        ("(407) 555-0123", 1, "mobile", True), ("407.555.0124", 2, "landline", False)]
    assert [e.raw for e in first.emails] == ["g@example.com"]
    assert vf.rows[1].owner_name == "SMITH, JOHN"
    name_keyed = vf.rows[2]
    assert name_keyed.parcel_id is None and name_keyed.mailing.zip == "32207"
    assert vf.columns["parcel"] == "APN" and vf.columns["phone2_dnc"] == "Phone 2 DNC"


def test_write_rejects_file(tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text(BATCH_STYLE)
    vf = read_vendor_csv(path)
    out = vf.write_rejects(tmp_path / "out" / "rejects.csv")
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["reason_code"]) for r in rows] == [
        ("3", "no_key"), ("4", "no_contact"), ("6", "ragged_row")]
    assert all(r["source_file"] == str(path) and r["reason"] for r in rows)


@pytest.mark.parametrize("header", [
    "Folio,Mobile 1,Landline 1,Email",
    "PARCEL_ID,Mobile1,Landline1,EmailAddress1",
    "Parcel Number,Mobile Phone 1,Landline Phone 1,Email Address",
])
def test_vendor_aliases(header):
    vf = read_vendor_text(f"{header}\n123,4075550101,4075550102,a@example.com\n".encode(), "f")
    row = vf.rows[0]
    assert row.parcel_id == "123"
    assert [(p.raw, p.vendor_type) for p in row.phones] == [
        ("4075550101", "mobile"), ("4075550102", "landline")]
    assert [e.raw for e in row.emails] == ["a@example.com"]


def test_first_and_last_name_columns_make_the_owner_name():
    text = ("First Name,Last Name,Mailing Address,Mailing Zip,Phone1\n"
            "Gerald,Rowanberg,5223 Larkfall Trl,32207,4075550101\n")
    vf = read_vendor_text(text.encode(), "f")
    assert vf.rows[0].owner_name == "Gerald Rowanberg" and vf.rows[0].parcel_id is None


def test_non_utf8_lines_are_decoded_and_reported():
    data = (b"Parcel ID,Owner Name,Phone1\n1,ANN,4075550101\n"
            + "2,MUÑOZ ANA,4075550102\n".encode("cp1252"))
    vf = read_vendor_text(data, "vendor.csv")
    assert [r.owner_name for r in vf.rows] == ["ANN", "MUÑOZ ANA"]
    assert [w.line for w in vf.warnings] == [3] and "Windows-1252" in vf.warnings[0].message


def test_unusable_header_raises_with_file_name():
    with pytest.raises(ValueError, match=r"f\.csv"):
        read_vendor_text(b"foo,bar\n1,2\n", "f.csv")
    with pytest.raises(ValueError, match="no phone or email"):
        read_vendor_text(b"Parcel ID,Owner\n1,2\n", "f.csv")
