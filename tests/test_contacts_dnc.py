"""DNC files (contacts.dnc): both FTC line formats, change lists, CSV and plain lists, bad lines
with file and line, download dates and where they came from, and the 31-day staleness rule."""

import datetime as dt
import os

import pytest

from contacts.dnc import (
    DateSource,
    DncKind,
    apply_change_list,
    date_from_file_name,
    parse_dnc_file,
    registry_age_blocks_sms,
)

DAY = dt.date(2026, 11, 1)


def test_ftc_full_list_accepts_both_line_formats(tmp_path):
    path = tmp_path / "407.txt"
    path.write_text("4075550101\n407,5550102\n\n407,555-0103\n14075550104\n")
    dnc = parse_dnc_file(path, DncKind.FTC_NATIONAL, downloaded_on=DAY)
    assert dnc.kind == "ftc_national" and not dnc.is_change_list
    assert dnc.additions == {"+14075550101", "+14075550102", "+14075550103", "+14075550104"}
    assert dnc.bad_lines == ()
    assert [e.line for e in dnc.entries] == [1, 2, 4, 5]
    assert dnc.area_codes == ("407",)


def test_bad_lines_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "305.txt"
    path.write_text("3055550101\n30555501\n305,55501\n0555550101\nhello 3055\n3055550102\n")
    dnc = parse_dnc_file(path, DncKind.FTC_NATIONAL, downloaded_on=DAY)
    assert dnc.additions == {"+13055550101", "+13055550102"}
    assert [(b.line, b.text) for b in dnc.bad_lines] == [
        (2, "30555501"), (3, "305,55501"), (4, "0555550101"), (5, "hello 3055")]
    assert all(b.file == str(path) and b.reason for b in dnc.bad_lines)


def test_change_list_additions_and_deletions(tmp_path):
    full = tmp_path / "ftc_407_2026-10-01.txt"
    full.write_text("4075550101\n4075550102\n")
    change = tmp_path / "ftc_407_change_2026-11-01.txt"
    change.write_text("407,5550101,D,2026-10-20\n407,5550103,A,2026-10-21\n"
                      "4075550104,ADD\n4075550105\n")
    registry = parse_dnc_file(full, DncKind.FTC_NATIONAL)
    delta = parse_dnc_file(change, DncKind.FTC_NATIONAL)
    assert delta.is_change_list
    assert delta.deletions == {"+14075550101"}
    assert delta.additions == {"+14075550103", "+14075550104"}
    assert delta.entries[0].change_date == dt.date(2026, 10, 20)
    assert [b.line for b in delta.bad_lines] == [4]  # no indicator on a change-list line
    assert apply_change_list(registry.additions, delta) == {
        "+14075550102", "+14075550103", "+14075550104"}
    with pytest.raises(ValueError):
        apply_change_list(registry.additions, registry)


def test_change_list_split_into_addition_and_deletion_files(tmp_path):
    (tmp_path / "407_del.txt").write_text("4075550101\n")
    (tmp_path / "407_add.txt").write_text("407,5550109\n")
    deleted = parse_dnc_file(tmp_path / "407_del.txt", DncKind.FTC_NATIONAL, DAY)
    added = parse_dnc_file(tmp_path / "407_add.txt", DncKind.FTC_NATIONAL, DAY)
    assert deleted.is_change_list and deleted.deletions == {"+14075550101"}
    assert added.is_change_list and added.additions == {"+14075550109"}


def test_csv_with_phone_column_and_internal_formats(tmp_path):
    path = tmp_path / "suppression.csv"
    path.write_text("name,Phone Number,added\nAnn,(407) 555-0111,2026-01-02\n"
                    "Bob,+1 407 555 0112,2026-01-03\nCy,,2026-01-04\n")
    dnc = parse_dnc_file(path, DncKind.INTERNAL, DAY)
    assert dnc.additions == {"+14075550111", "+14075550112"}
    assert [b.line for b in dnc.bad_lines] == [4]


def test_csv_without_phone_column_is_one_bad_line(tmp_path):
    path = tmp_path / "litigators.csv"
    path.write_text("name,city\nAnn,Orlando\n")
    dnc = parse_dnc_file(path, DncKind.LITIGATOR, DAY)
    assert dnc.entries == () and dnc.bad_lines[0].line == 1
    assert "phone column" in dnc.bad_lines[0].reason


def test_plain_list_with_header_and_comments(tmp_path):
    path = tmp_path / "florida.txt"
    path.write_text("phone\n# Florida list\n8505550101\n")
    dnc = parse_dnc_file(path, "florida", DAY)
    assert dnc.kind == DncKind.FLORIDA and dnc.additions == {"+18505550101"}


def test_download_date_sources(tmp_path):
    named = tmp_path / "fl_dnc_20261015.txt"
    named.write_text("8505550101\n")
    plain = tmp_path / "internal.txt"
    plain.write_text("8505550101\n")
    stamp = dt.datetime(2026, 9, 3, 12, tzinfo=dt.UTC).timestamp()
    os.utime(plain, (stamp, stamp))
    assert parse_dnc_file(named, DncKind.FLORIDA, DAY).date_source == DateSource.ARGUMENT
    from_name = parse_dnc_file(named, DncKind.FLORIDA)
    assert (from_name.downloaded_on, from_name.date_source) == (
        dt.date(2026, 10, 15), DateSource.FILE_NAME)
    from_mtime = parse_dnc_file(plain, DncKind.INTERNAL)
    assert (from_mtime.downloaded_on, from_mtime.date_source) == (
        dt.date(2026, 9, 3), DateSource.FILE_MTIME)


def test_dates_in_file_names():
    assert date_from_file_name("ftc_2026-11-15.txt") == dt.date(2026, 11, 15)
    assert date_from_file_name("ftc_2026_11_15.txt") == dt.date(2026, 11, 15)
    assert date_from_file_name("407_20261115.zip") == dt.date(2026, 11, 15)
    assert date_from_file_name("407_20261345.txt") is None
    assert date_from_file_name("list_407.txt") is None


def test_registry_staleness_blocks_sms_after_31_days():
    assert not registry_age_blocks_sms(DAY, DAY)
    assert not registry_age_blocks_sms(DAY, DAY + dt.timedelta(days=31))
    assert registry_age_blocks_sms(DAY, DAY + dt.timedelta(days=32))
    assert registry_age_blocks_sms(DAY, DAY - dt.timedelta(days=1))  # dated in the future
    assert registry_age_blocks_sms(DAY, DAY + dt.timedelta(days=8), max_age_days=7)
