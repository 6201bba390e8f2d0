"""Raw ingest: bad rows are set aside with file, line and reason, good rows all land, header
drift is reported or refused, and a re-run replaces exactly one market's rows."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import HeaderMismatchError, ingest_file
from pipelines.raw_tables import distress_spec, nal_spec
from scrapers.fetch import LocationError, local_file
from scrapers.fl_dor.layout import nal_columns


def nal_row(parcel_id: str, **values: str) -> dict[str, str]:
    row = {column: "" for column in nal_columns()}
    row.update(CO_NO="58", PARCEL_ID=parcel_id, ASMNT_YR="2026", DOR_UC="001", JV="250000",
               TOT_LVG_AREA="1500", OWN_NAME="QUILLFEATHER ANNA", SALE_YR1="2019")
    row.update(values)
    return row


def write_nal(path: Path, rows: list[dict[str, str] | str], columns=None) -> Path:
    columns = list(columns or nal_columns())
    with path.open("w", encoding="latin-1", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        for row in rows:
            if isinstance(row, str):
                handle.write(row + "\n")
            else:
                csv.writer(handle, lineterminator="\n").writerow(row[c] for c in columns)
    return path


@pytest.fixture
def conn(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def test_bad_rows_are_set_aside_with_line_and_reason_and_good_rows_land(tmp_path, conn):
    path = write_nal(tmp_path / "NAL58F2026.csv", [
        nal_row("P1"),                                   # line 2
        nal_row("P2", JV="12x000"),                      # line 3: not a number
        nal_row("P3"),                                   # line 4
        "58,P4,R,2026",                                  # line 5: too few columns
        nal_row("P5", CO_NO="45"),                       # line 6: another county
        nal_row("", OWN_NAME="NOBODY"),                  # line 7: no parcel id
        nal_row("P1", OWN_NAME="SECOND COPY"),           # line 8: duplicate of line 2
        nal_row("P6", OWN_NAME="MUÑOZ-ÅBERG LUCÍA"),     # line 9: latin-1 name
    ])
    report = ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", path, tmp_path / "rej")

    loaded = conn.execute("SELECT parcel_id, own_name, jv FROM raw.nal_parcels "
                          "ORDER BY parcel_id").fetchall()
    assert loaded == [("P1", "QUILLFEATHER ANNA", 250000), ("P3", "QUILLFEATHER ANNA", 250000),
                      ("P6", "MUÑOZ-ÅBERG LUCÍA", 250000)]
    assert (report.rows_loaded, report.rows_rejected) == (3, 5)

    rejects = conn.execute(
        "SELECT line, error_type, reason FROM raw.ingest_rejects ORDER BY line").fetchall()
    assert [(line, kind) for line, kind, _ in rejects] == [
        (3, "CAST"), (5, "MISSING COLUMNS"), (6, "RULE"), (7, "RULE"), (8, "RULE")]
    reasons = {line: reason for line, _, reason in rejects}
    assert "jv" in reasons[3] and "12x000" in reasons[3]
    assert reasons[6] == "CO_NO 45 is not market orange_fl (CO_NO 58)"
    assert reasons[7] == "PARCEL_ID is empty"
    assert reasons[8] == "duplicate PARCEL_ID P1 (first seen on line 2)"

    with report.rejects_file.open(newline="") as handle:
        file_rows = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in file_rows] == [3, 5, 6, 7, 8]
    assert all(row["source_file"] == str(path) for row in file_rows)
    assert "SECOND COPY" in file_rows[-1]["raw_record"]


def test_many_scattered_bad_rows_keep_exact_line_numbers(tmp_path, conn):
    rows: list[dict[str, str] | str] = []
    expected_bad_lines = []
    for index in range(5000):
        line = index + 2
        if index % 97 == 5:
            rows.append(nal_row(f"B{index}", TOT_LVG_AREA="big"))
            expected_bad_lines.append(line)
        elif index % 131 == 7:
            rows.append(nal_row(f"C{index}", CO_NO="69"))
            expected_bad_lines.append(line)
        else:
            rows.append(nal_row(f"G{index}", SEQ_NO=str(line)))
    path = write_nal(tmp_path / "big.csv", rows)
    report = ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", path, tmp_path / "rej")
    lines = [r[0] for r in conn.execute(
        "SELECT line FROM raw.ingest_rejects ORDER BY line").fetchall()]
    assert lines == expected_bad_lines
    assert report.rows_loaded == 5000 - len(expected_bad_lines)
    # Every good row carries its own line number in SEQ_NO: none was lost or shifted.
    mismatched = conn.execute(
        "SELECT count(*) FROM raw.nal_parcels WHERE 'G' || (seq_no - 2) <> parcel_id"
    ).fetchone()[0]
    assert mismatched == 0


def test_rerun_replaces_only_that_market(tmp_path, conn):
    orange = write_nal(tmp_path / "orange.csv", [nal_row("O1"), nal_row("O2")])
    lake = write_nal(tmp_path / "lake.csv", [nal_row("L1", CO_NO="45")])
    ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", orange, tmp_path / "rej")
    ingest_file(conn, nal_spec(45, "lake_fl"), "lake_fl", lake, tmp_path / "rej")
    ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", orange, tmp_path / "rej")
    counts = dict(conn.execute(
        "SELECT market_code, count(*) FROM raw.nal_parcels GROUP BY ALL").fetchall())
    assert counts == {"orange_fl": 2, "lake_fl": 1}


def test_reordered_and_extra_columns_load_by_name_and_are_reported(tmp_path, conn):
    columns = list(nal_columns())
    columns[1], columns[2] = columns[2], columns[1]
    columns.append("COUNTY_NOTE")
    row = nal_row("P1") | {"COUNTY_NOTE": "extra"}
    path = write_nal(tmp_path / "drift.csv", [row], columns=columns)
    report = ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", path, tmp_path / "rej")
    assert report.rows_loaded == 1
    assert report.header_drift.reordered
    assert report.header_drift.unexpected == ("COUNTY_NOTE",)
    assert not report.header_drift.is_exact
    row = nal_row("P1", FILE_T="R")
    path = write_nal(tmp_path / "drift.csv", [row | {"COUNTY_NOTE": "extra"}], columns=columns)
    ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", path, tmp_path / "rej")
    # PARCEL_ID and FILE_T swapped places in the file; they still land in their own columns.
    assert conn.execute("SELECT parcel_id, file_t FROM raw.nal_parcels").fetchall() == [
        ("P1", "R")]


def test_missing_column_is_refused_and_previous_data_kept(tmp_path, conn):
    good = write_nal(tmp_path / "good.csv", [nal_row("P1")])
    ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", good, tmp_path / "rej")
    columns = [c for c in nal_columns() if c not in ("JV", "OWN_NAME")]
    broken = write_nal(tmp_path / "broken.csv", [nal_row("P9")], columns=columns)
    with pytest.raises(HeaderMismatchError) as raised:
        ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", broken, tmp_path / "rej")
    assert str(broken) in str(raised.value)
    assert "missing columns: JV, OWN_NAME" in str(raised.value)
    assert conn.execute("SELECT parcel_id FROM raw.nal_parcels").fetchall() == [("P1",)]


def test_empty_file_is_a_clear_error(tmp_path, conn):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(HeaderMismatchError, match="empty"):
        ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", empty, tmp_path / "rej")


def test_distress_field_map_renames_county_columns(tmp_path, conn):
    path = tmp_path / "violations.csv"
    path.write_text(
        "PARCEL,CASE_NO,violation_type,opened_date,status,closed_date,fine_amount\n"
        "P1,CE-1,OVERGROWN LOT,2026-03-04,OPEN,,250\n"
        "P2,CE-2,ROOF DAMAGE,2026-13-01,OPEN,,\n"
    )
    spec = distress_spec("code_violations", {"parcel_id": "PARCEL", "case_number": "CASE_NO"})
    report = ingest_file(conn, spec, "orange_fl", path, tmp_path / "rej")
    assert conn.execute(
        "SELECT parcel_id, case_number, opened_date::VARCHAR FROM raw.code_violations"
    ).fetchall() == [("P1", "CE-1", "2026-03-04")]
    assert report.rows_rejected == 1
    assert conn.execute("SELECT line, column_name FROM raw.ingest_rejects").fetchall() == [
        (3, "opened_date")]


def test_zip_location_unpacks_its_single_csv(tmp_path):
    archive = tmp_path / "NAL58F202601.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("NAL58F202601.csv", "CO_NO\n58\n")
    path = local_file(str(archive), tmp_path / "cache")
    assert path.read_text() == "CO_NO\n58\n"
    with pytest.raises(LocationError, match="file not found"):
        local_file(str(tmp_path / "nope.csv"), tmp_path / "cache")
