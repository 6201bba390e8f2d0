"""The bulk helpers (contacts.bulk) and the bulk paths built on them: owner keys computed with
polars equal the scalar functions, vendor-file decoding and duplicate keys equal the simple
line-by-line rules, and contacts come out in key order even when a key holds NUL."""

import gc
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.bulk import gc_paused, slot_factory
from contacts.dedupe import (
    Contact,
    ContactBuilder,
    ParcelOwner,
    Sighting,
    Source,
    SourceKind,
    normalize_parcel_id,
    owner_key,
    owner_keys,
)
from contacts.emails import EmailValidator
from contacts.phones import DEMO, PhoneValidator
from contacts.vendor_csv import (
    FileWarning,
    MailingAddress,
    VendorPhone,
    VendorRow,
    _decode,
    read_vendor_text,
)

# --------------------------------------------------------------------------------------------
# slot_factory and gc_paused


def test_slot_factory_builds_equal_frozen_objects():
    source = Source(SourceKind.VENDOR_FILE, "v")
    values = (source, "f.csv", 7, "phone1", "(407) 555-0101", 1, "mobile", True, None)
    made = slot_factory(Sighting)(*values)
    assert made == Sighting(*values) and hash(made) == hash(Sighting(*values))
    assert type(made) is Sighting
    with pytest.raises(AttributeError):
        made.line = 8  # still frozen
    phone = slot_factory(VendorPhone)("4075550101", 2, "phone2", None, None, False)
    assert phone == VendorPhone("4075550101", 2, "phone2", None, None, False)
    with pytest.raises(TypeError):
        slot_factory(BuildStatsLike)


class BuildStatsLike:
    """Not a dataclass."""


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves the outer pause alone
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # was off before, stays off
    finally:
        gc.enable()


def test_gc_paused_leaves_someone_elses_freeze_alone():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            junk = [[] for _ in range(100)]
        assert gc.get_freeze_count() == frozen
        del junk
    finally:
        gc.unfreeze()


# --------------------------------------------------------------------------------------------
# owner keys in bulk

TRICKY_NAMES = [
    "ROWANBERG GERALD E", "Gerald E. Rowanberg", "Smith John & Mary Etal", "THE SMITH TRUST",
    "  SMITH   JOHN  ", "SMITH, JOHN JR", "O'NEIL SEAN III", "MUÑOZ ANA", "ÉLODIE  DÜRR",
    "ﬁsher ﬂo", "ＡＢＣ", "AND THE ET AL", "ETALIA ANDREW", "A&B", "a\tb", "x\x1fy", "", "  ",
    "1234 LLC", "ST JOHN", "IV IVY", "Ⅳ", "SMITH\u00a0JOHN", "smith-jones mary",
]
TRICKY_STREETS = [
    "5223 LARKFALL POINTE TRL", "5223 Larkfall Pointe Trail", "P.O. Box 12", "PO BOX 12",
    "P O BOX 12", "POST OFFICE BOX 9", "POBOX 3", "12 Main Street, Apt 4", "12 MAIN ST #4",
    "1 NORTH WEST AVENUE", "1 NORTHWEST AV", "#", "  ", "", "100  S.  ORANGE   AVE  STE 200",
    "1 ST STREET", "BOX P O", "XP O BOX 1", "1 Camino Núñez", "1 MAIN\tST", "1 main st\n",
    "UNIT UNIT APT", "1 WAY WAY", "1 COURT CT", "1 Street Street Street", "P  O  BOX 5",
]
TRICKY_PLACES = [
    ("ORLANDO", "FL", "32801"), ("Orlando", "fl", "32801-1234"), ("", "", ""),
    ("JACKSONVILLE", "FL", "3220"), (" Miami ", " FL ", ""), ("São Paulo", "SP", ""),
    ("X", "FL\x00\x00", ""), ("A B", "C", "３２２０７"), ("A", "B", "32 207"), ("a\x1fb", "c", ""),
]
TRICKY_PIDS = ["302311363601001", "30-23-11-3636-01-001", "r 12-34 a", "", "Ａ1", "x\x00y", "ab"]


def _scalar(parcel: ParcelOwner) -> tuple[str, str]:
    return normalize_parcel_id(parcel.parcel_id), owner_key(parcel.owner_name, parcel.mailing)


def test_owner_keys_equal_the_scalar_rules_on_tricky_values():
    rng = random.Random(3)
    parcels = []
    for name in TRICKY_NAMES:
        for street in TRICKY_STREETS:
            city, state, zip_code = rng.choice(TRICKY_PLACES)
            parcels.append(ParcelOwner(rng.choice(TRICKY_PIDS), name,
                                       MailingAddress(street, "", city, state, zip_code)))
    parcels.append(ParcelOwner("1", "NO MAILING", None))  # type: ignore[arg-type]
    pids, keys = owner_keys(parcels)
    assert list(zip(pids, keys, strict=True)) == [_scalar(p) for p in parcels]
    assert owner_keys([]) == ([], [])


_PIECES = [*"ABCabc019 .,&#-'\tÉñ\x00", "AND", "ST", "STREET", "P O", "PO", "BOX", "APT",
           " NORTH", "THE ", "JR", "POST OFFICE", "  "]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT), min_size=1, max_size=20))
def test_owner_keys_equal_the_scalar_rules_property(rows):
    parcels = [ParcelOwner(pid, name, MailingAddress(street, "", city, state, zip_code))
               for pid, name, street, city, state, zip_code in rows]
    pids, keys = owner_keys(parcels)
    assert list(zip(pids, keys, strict=True)) == [_scalar(p) for p in parcels]


# --------------------------------------------------------------------------------------------
# vendor files: decoding and duplicates


def _decode_line_by_line(data: bytes, source_file: str) -> tuple[str, list[FileWarning]]:
    """The simple rule the one-pass decoder must match: each line on its own."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    warnings, parts = [], []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError as error:
            parts.append(line.decode("cp1252", errors="replace"))
            warnings.append(FileWarning(source_file, number, f"not UTF-8 (byte "
                                        f"{line[error.start]:#04x} at column {error.start + 1});"
                                        f" decoded as Windows-1252"))
    return "".join(parts), warnings


@pytest.mark.parametrize("data", [
    b"a,b\r\n1,\xd1\r\n2,x\r\n",
    b"a,b\r1,\xd1\r2,x\r",
    b"a,b\n\xd1\xd1,\xe9\n\xff\n\nok\n\x81",
    b"\xef\xbb\xbfa,b\n1,M\xc3\xbcller\n2,M\xfcller\r\n\r\n3,\xc3\n",
    b"\xe9\n" * 5,
    "a,\u00e9\r\n".encode() + b"b,\xe9\r" + "c,\u00e9\n".encode() + b"\r\n\xe9",
])
def test_one_pass_decoding_matches_line_by_line(data):
    assert _decode(data, "f.csv") == _decode_line_by_line(data, "f.csv")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b"\r\n", b"\xe9", b"\xc3\xa9",
                                 b"\xc3", b"\xff", b"\xe2\x82\xac", b" "]), max_size=40))
def test_one_pass_decoding_matches_line_by_line_property(chunks):
    data = b"".join(chunks)
    assert _decode(data, "f.csv") == _decode_line_by_line(data, "f.csv")


def test_duplicate_rows_holding_nul_are_still_exact():
    text = ("Parcel ID,Owner Name,Phone1\n"
            "1,A\x00B,4075550101\n"
            "1,A\x00B,4075550101\n"     # a repeat of line 2
            "1,A,\x00B4075550101\n"     # not a repeat: other fields
            "1,A\x00B, 4075550101 \n")  # a repeat once stripped
    vendor = read_vendor_text(text.encode(), "nul.csv")
    assert [(d.line, d.first_line) for d in vendor.duplicates] == [(3, 2), (5, 2)]
    assert [r.line for r in vendor.rows] == [2, 4]


def test_vendor_rows_share_repeated_values():
    text = ("Parcel ID,Owner Name,Mailing City,Phone1\n"
            "1,A,ORLANDO,(407) 555-0101\n2,B,ORLANDO,(407) 555-0101\n")
    first, second = read_vendor_text(text.encode(), "f.csv").rows
    assert first.phones[0].raw is second.phones[0].raw
    assert isinstance(first, VendorRow)


# --------------------------------------------------------------------------------------------
# contacts come out in key order


def test_contacts_order_is_the_key_tuple_order_even_with_nul_in_a_key():
    # The second owner key extends the first with NUL characters: a joined-string sort would
    # put it first, the tuple order puts it second.
    parcels = [ParcelOwner("1", "A", MailingAddress("1 MAIN ST", "", "X", "FL", "")),
               ParcelOwner("2", "A", MailingAddress("1 MAIN ST", "", "X", "FL\x00\x00", ""))]
    text = "Parcel ID,Phone1,Email1\n1,4075550101,b@example.com\n2,4075550102,a@example.com\n"
    builder = ContactBuilder(parcels, PhoneValidator(DEMO), EmailValidator())
    builder.add_vendor_file(read_vendor_text(text.encode(), "f.csv"),
                            Source(SourceKind.VENDOR_FILE, "v"))
    contacts = builder.contacts()
    keys = [(c.owner_key, c.channel, c.value) for c in contacts]
    assert keys == sorted(keys) and len(keys) == 4
    assert keys[0][0] == "A|1 MAIN ST|X FL"
    assert all(isinstance(c, Contact) for c in contacts)
