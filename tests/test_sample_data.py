"""The sample-data generator: file layouts, typed loading, determinism, atomic writes and the
realism figures lead scoring relies on (use-code mix, homestead, absentee, sales, distress)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from scrapers.distress_layout import DISTRESS_KINDS, DISTRESS_LAYOUTS
from scrapers.fl_dor import sample
from scrapers.fl_dor.layout import NAL_ENCODING, nal_columns, nal_types, sdf_columns, sdf_types
from scrapers.fl_dor.sample import (
    CHUNK_ROWS,
    SampleFiles,
    SampleMarket,
    generate,
    generate_market,
    sample_paths,
)

ORANGE = SampleMarket("orange_fl", 58, "Orange")
SEMINOLE = SampleMarket("seminole_fl", 69, "Seminole")
ELSEWHERE = SampleMarket("alachua_fl", 11, "Alachua")  # no city table: the generic fallback
PARCELS = 20_000
SEED = 42
RESIDENTIAL = ("000", "001", "002", "003", "004", "005", "006", "007", "008", "009")
DATES = {"code_violations": "opened_date", "lis_pendens": "filed_date",
         "tax_deed_applications": "application_date"}


def _bytes(files: SampleFiles) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes()
            for name in ("nal", "sdf", "code_violations", "lis_pendens", "tax_deed_applications")}


def _header(path: Path) -> list[str]:
    with path.open(encoding=NAL_ENCODING, newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def orange(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate_market(tmp_path_factory.mktemp("orange"), ORANGE, PARCELS, SEED)


@pytest.fixture(scope="module")
def db(orange: SampleFiles) -> Iterator[duckdb.DuckDBPyConnection]:
    """The orange files loaded with their layout types; rejected rows are kept for the checks."""
    con = duckdb.connect()
    tables = {"nal": (orange.nal, nal_types()), "sdf": (orange.sdf, sdf_types())}
    tables.update({kind: (getattr(orange, kind), DISTRESS_LAYOUTS[kind])
                   for kind in DISTRESS_KINDS})
    for table, (path, types) in tables.items():
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = true, "
            f"auto_detect = false, delim = ',', quote = '\"', columns = {types!r}, "
            f"encoding = '{NAL_ENCODING}', strict_mode = true, store_rejects = true, "
            f"rejects_table = '{table}_rejects', rejects_scan = '{table}_scan')"
        )
    yield con
    con.close()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.sql(sql).fetchall()[0]


# --- layout and paths ---------------------------------------------------------------------


def test_paths_follow_the_dor_file_names(tmp_path: Path) -> None:
    files = sample_paths(tmp_path, ORANGE)
    folder = tmp_path / "orange_fl"
    assert (files.nal, files.sdf) == (folder / "NAL58F2026.csv", folder / "SDF58F2026.csv")
    assert files.code_violations == folder / "code_violations.csv"
    assert files.lis_pendens == folder / "lis_pendens.csv"
    assert files.tax_deed_applications == folder / "tax_deed_applications.csv"
    assert files.parcels == 0
    assert not folder.exists()


def test_headers_are_the_layouts_exactly(orange: SampleFiles) -> None:
    assert _header(orange.nal) == list(nal_columns())
    assert len(nal_columns()) == 165
    assert _header(orange.sdf) == list(sdf_columns())
    for kind in DISTRESS_KINDS:
        assert _header(getattr(orange, kind)) == list(DISTRESS_LAYOUTS[kind])
    assert orange.parcels == PARCELS


def test_packaged_columns_equal_the_shared_reference(shared_reference: Path) -> None:
    for name, columns in (("fl_dor_nal_columns.txt", nal_columns()),
                          ("fl_dor_sdf_columns.txt", sdf_columns())):
        reference = [line.strip() for line in (shared_reference / name).read_text().splitlines()
                     if line.strip()]
        assert list(columns) == reference, name


def test_files_are_ascii_with_quoted_commas(orange: SampleFiles) -> None:
    data = orange.nal.read_bytes()
    assert data.isascii()
    assert b", LLC" in data  # some owner names carry a comma ...
    rows = list(csv.reader(data.decode(NAL_ENCODING).splitlines()))
    assert {len(row) for row in rows} == {165}  # ... and are quoted, so every row has 165 fields


def test_every_value_parses_with_its_type(db: duckdb.DuckDBPyConnection) -> None:
    for table in ("nal", "sdf", *DISTRESS_KINDS):
        assert _one(db, f"SELECT count(*) FROM {table}_rejects") == (0,), table
    assert _one(db, "SELECT count(*) FROM nal") == (PARCELS,)


def test_codes_keep_leading_zeros_and_roll_constants(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "SELECT count(DISTINCT CO_NO), min(CO_NO), count(DISTINCT ASMNT_YR), "
                    "min(ASMNT_YR), count(DISTINCT FILE_T), min(FILE_T) FROM nal") == (
        1, 58, 1, 2026, 1, "R")
    assert _one(db, "SELECT count(*) FROM nal WHERE length(DOR_UC) <> 3 "
                    "OR length(PHY_ZIPCD) <> 5 OR NBRHD_CD IS NULL OR MKT_AR IS NULL") == (0,)
    assert _one(db, "SELECT count(*) FROM nal WHERE DOR_UC = '001'")[0] > 0
    assert _one(db, "SELECT count(*) FROM nal WHERE QUAL_CD1 = '01'")[0] > 0
    assert _one(db, "SELECT count(*) FROM sdf WHERE CO_NO <> 58 OR ASMNT_YR <> 2026") == (0,)


def test_parcel_ids_and_addresses_are_unique(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "SELECT count(DISTINCT PARCEL_ID), count(*) FROM nal") == (PARCELS, PARCELS)
    assert _one(db, "SELECT count(DISTINCT SALE_ID_CD) = count(*) FROM sdf") == (True,)
    assert _one(db, "SELECT count(DISTINCT PHY_ADDR1) = count(PHY_ADDR1) FROM nal") == (True,)


# --- determinism and writing --------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, orange: SampleFiles) -> None:
    again = generate_market(tmp_path / "again", ORANGE, PARCELS, SEED)
    assert _bytes(again) == _bytes(orange)
    other = generate_market(tmp_path / "other", ORANGE, PARCELS, SEED + 1)
    assert all(a != b for a, b in zip(_bytes(other).values(), _bytes(orange).values(),
                                      strict=True))


def test_bytes_do_not_depend_on_workers_or_other_markets(tmp_path: Path,
                                                         orange: SampleFiles) -> None:
    together = generate(tmp_path, [SEMINOLE, ORANGE], PARCELS, SEED, workers=2)
    assert [f.market_code for f in together] == ["seminole_fl", "orange_fl"]
    assert _bytes(together[1]) == _bytes(orange)
    alone = generate_market(tmp_path / "alone", SEMINOLE, PARCELS, SEED)
    assert _bytes(together[0]) == _bytes(alone)
    assert _bytes(together[0])["nal"] != _bytes(orange)["nal"]


def test_several_chunks_join_the_same_whatever_the_workers(tmp_path: Path) -> None:
    parcels = CHUNK_ROWS + 1_500
    one = generate(tmp_path / "one", [ELSEWHERE], parcels, SEED, workers=1)[0]
    two = generate(tmp_path / "two", [ELSEWHERE], parcels, SEED, workers=2)[0]
    assert _bytes(one) == _bytes(two)
    text = one.nal.read_text(encoding=NAL_ENCODING)
    assert text.count("\n") == parcels + 1
    assert text.count("CO_NO,PARCEL_ID") == 1  # one header, not one per chunk
    assert one.sdf.read_text().count("CO_NO,PARCEL_ID") == 1


def test_an_interrupted_run_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render = sample._render_chunk

    def failing(market: SampleMarket, parcels: int, seed: int, k: int) -> tuple[bytes, ...]:
        if k == 1:
            raise KeyboardInterrupt
        return render(market, parcels, seed, k)

    monkeypatch.setattr(sample, "_render_chunk", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_market(tmp_path, ELSEWHERE, CHUNK_ROWS + 10, SEED)
    assert list((tmp_path / ELSEWHERE.code).iterdir()) == []


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parcels"):
        generate(tmp_path, [ORANGE], 0, SEED)
    with pytest.raises(ValueError, match="unique"):
        generate(tmp_path, [ORANGE, ORANGE], 10, SEED)
    assert generate(tmp_path, [], 10, SEED) == []


def test_generic_county_fallback_works_for_any_county_number(tmp_path: Path) -> None:
    files = generate_market(tmp_path, ELSEWHERE, 2_000, SEED)
    con = duckdb.connect()
    row = con.sql(f"SELECT count(*), min(CO_NO), max(CO_NO), count(DISTINCT PARCEL_ID), "
                  f"min(substr(CENSUS_BK, 1, 5)) FROM read_csv('{files.nal}', header = true, "
                  f"columns = {nal_types()!r})").fetchall()[0]
    assert row == (2_000, 11, 11, 2_000, "12001")


# --- realism ------------------------------------------------------------------------------


def test_use_code_mix_is_led_by_single_family_then_condo(db: duckdb.DuckDBPyConnection) -> None:
    shares = dict(db.sql(
        "SELECT DOR_UC, count(*) / sum(count(*)) OVER () FROM nal GROUP BY 1").fetchall())
    residential = sorted((s, uc) for uc, s in shares.items() if uc in RESIDENTIAL)
    assert [uc for _, uc in residential[-2:]] == ["004", "001"]
    assert 0.58 <= shares["001"] <= 0.67
    assert 0.10 <= shares["004"] <= 0.17
    assert {"000", "002", "003", "008", "010"} <= shares.keys()
    assert sum(s for uc, s in shares.items() if uc >= "011") > 0.02  # some commercial


def test_homestead_and_absentee_shares(db: duckdb.DuckDBPyConnection) -> None:
    homestead, exemption_ok, mail_at_property = _one(db, """
        SELECT avg((JV_HMSTD IS NOT NULL)::INT),
               bool_and(EXMPT_01 IN (25000, 50000) AND JV_HMSTD = JV AND AV_HMSTD IS NOT NULL)
                 FILTER (WHERE JV_HMSTD IS NOT NULL OR EXMPT_01 IS NOT NULL),
               bool_and(OWN_ADDR1 = PHY_ADDR1 AND OWN_ZIPCD = PHY_ZIPCD)
                 FILTER (WHERE JV_HMSTD IS NOT NULL OR EXMPT_01 IS NOT NULL)
        FROM nal WHERE DOR_UC = '001'""")
    assert 0.45 <= homestead <= 0.55 and exemption_ok and mail_at_property
    absentee, out_of_state, foreign = _one(db, """
        WITH r AS (SELECT OWN_ADDR1 IS DISTINCT FROM PHY_ADDR1 AS absentee, OWN_STATE_DOM
                   FROM nal WHERE DOR_UC < '010')
        SELECT avg(absentee::INT),
               count(*) FILTER (WHERE absentee AND OWN_STATE_DOM <> 'FL')
                 / count(*) FILTER (WHERE absentee),
               count(*) FILTER (WHERE absentee AND OWN_STATE_DOM IS NULL) FROM r""")
    assert 0.35 <= absentee <= 0.45
    assert 0.15 <= out_of_state <= 0.20
    assert foreign > 0


def test_owner_kinds_are_varied(db: duckdb.DuckDBPyConnection) -> None:
    llc, estate, trust, fiduciary, couple = _one(db, """
        SELECT count(*) FILTER (WHERE OWN_NAME LIKE '%LLC'),
               count(*) FILTER (WHERE OWN_NAME LIKE 'ESTATE OF %' OR OWN_NAME LIKE '% EST'),
               count(*) FILTER (WHERE OWN_NAME LIKE '% TR' OR OWN_NAME LIKE '%TRUST%'),
               count(*) FILTER (WHERE FIDU_NAME IS NOT NULL AND FIDU_CD IN ('1', '2')),
               count(*) FILTER (WHERE OWN_NAME LIKE '% & %') FROM nal""")
    assert min(llc, estate, trust, fiduciary, couple) > PARCELS * 0.005


def test_buildings_and_values_cluster_by_neighbourhood(db: duckdb.DuckDBPyConnection) -> None:
    vacant_area, old, new = _one(db, """
        SELECT count(*) FILTER (WHERE DOR_UC = '000' AND TOT_LVG_AREA IS NOT NULL),
               count(*) FILTER (WHERE DOR_UC = '001' AND ACT_YR_BLT < 1960),
               count(*) FILTER (WHERE DOR_UC = '001' AND ACT_YR_BLT >= 2015) FROM nal""")
    assert vacant_area == 0 and old > 0 and new > 0
    sizes = db.sql("SELECT count(*) FROM nal GROUP BY NBRHD_CD").fetchall()
    assert all(250 <= size <= 900 for (size,) in sizes)
    # Neighbourhood explains most of the spread of $/sq ft between single-family homes
    within, total = _one(db, """
        WITH s AS (SELECT NBRHD_CD, JV / TOT_LVG_AREA AS psf FROM nal WHERE DOR_UC = '001')
        SELECT avg(sd), (SELECT stddev(psf) FROM s)
        FROM (SELECT stddev(psf) AS sd FROM s GROUP BY NBRHD_CD)""")
    assert within < 0.7 * total
    assert _one(db, "SELECT bool_and(LND_VAL <= JV AND JV > 0) FROM nal") == (True,)


def test_sdf_window_and_agreement_with_the_roll(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "SELECT min(SALE_YR * 100 + SALE_MO), max(SALE_YR * 100 + SALE_MO) "
                    "FROM sdf") == (202307, 202606)
    # Every NAL sale inside the window is an SDF row with the same facts, and nothing more
    db.execute("""
        CREATE OR REPLACE TEMP VIEW nal_sales AS
        SELECT PARCEL_ID, SALE_YR1 AS y, SALE_MO1 AS m, SALE_PRC1 AS p, QUAL_CD1 AS q,
               VI_CD1 AS vi, OR_BOOK1 AS book, OR_PAGE1 AS page FROM nal
        UNION ALL
        SELECT PARCEL_ID, SALE_YR2, SALE_MO2, SALE_PRC2, QUAL_CD2, VI_CD2, OR_BOOK2, OR_PAGE2
        FROM nal""")
    in_window = "y * 12 + m BETWEEN 2023 * 12 + 7 AND 2026 * 12 + 6"
    missing = _one(db, f"""
        SELECT count(*) FROM nal_sales n WHERE {in_window} AND NOT EXISTS (
          SELECT 1 FROM sdf s WHERE s.PARCEL_ID = n.PARCEL_ID AND s.SALE_YR = n.y
            AND s.SALE_MO = n.m AND s.SALE_PRC = n.p AND s.QUAL_CD = n.q AND s.VI_CD = n.vi
            AND s.OR_BOOK = n.book AND s.OR_PAGE = n.page)""")
    assert missing == (0,)
    assert _one(db, f"SELECT count(*) FROM nal_sales WHERE {in_window}") == _one(
        db, "SELECT count(*) FROM sdf")
    # The most recent sale is SALE_*1; a sale of an improved parcel is not before it was built
    assert _one(db, "SELECT count(*) FROM nal WHERE SALE_YR2 * 12 + SALE_MO2 >= "
                    "SALE_YR1 * 12 + SALE_MO1 OR (SALE_YR2 IS NOT NULL AND SALE_YR1 IS NULL)"
                ) == (0,)
    assert _one(db, "SELECT count(*) FROM nal WHERE (VI_CD1 = 'I' AND SALE_YR1 < ACT_YR_BLT) "
                    "OR (VI_CD2 = 'I' AND SALE_YR2 < ACT_YR_BLT)") == (0,)
    # SDF repeats the parcel's codes
    assert _one(db, """SELECT count(*) FROM sdf s JOIN nal n USING (PARCEL_ID)
                       WHERE s.DOR_UC <> n.DOR_UC OR s.NBRHD_CD <> n.NBRHD_CD
                          OR s.MKT_AR <> n.MKT_AR OR s.CENSUS_BK <> n.CENSUS_BK""") == (0,)


def test_sales_support_comps(db: duckdb.DuckDBPyConnection) -> None:
    with_comps, per_500_a_year = _one(db, """
        WITH q AS (SELECT NBRHD_CD, count(*) AS sales FROM sdf
                   WHERE QUAL_CD IN ('01', '02') AND VI_CD = 'I'
                     AND SALE_YR * 12 + SALE_MO >= 2025 * 12 + 7 GROUP BY 1),
             a AS (SELECT NBRHD_CD, count(*) / 3 AS sales FROM sdf GROUP BY 1),
             p AS (SELECT NBRHD_CD, count(*) AS parcels FROM nal GROUP BY 1)
        SELECT avg((coalesce(q.sales, 0) >= 5)::INT), median(coalesce(a.sales, 0) / parcels * 500)
        FROM p LEFT JOIN q USING (NBRHD_CD) LEFT JOIN a USING (NBRHD_CD)""")
    assert with_comps >= 0.8
    assert 15 <= per_500_a_year <= 45
    distressed_share, discount = _one(db, """
        SELECT avg((QUAL_CD IN ('11', '12', '19', '30', '38'))::INT),
               median(SALE_PRC) FILTER (WHERE QUAL_CD IN ('11', '12', '19', '30', '38'))
                 / median(SALE_PRC) FILTER (WHERE QUAL_CD = '01') FROM sdf""")
    assert 0.05 <= distressed_share <= 0.15 and discount < 0.8
    # Prices follow living area x neighbourhood $/sq ft: qualified sales sit near the roll value
    ratio = _one(db, """SELECT median(s.SALE_PRC / n.JV) FROM sdf s JOIN nal n USING (PARCEL_ID)
                        WHERE s.QUAL_CD = '01' AND s.VI_CD = 'I' AND s.SALE_YR >= 2025""")[0]
    assert 1.0 <= ratio <= 1.35
    long_owned = _one(db, "SELECT avg((SALE_YR1 IS NULL OR SALE_YR1 < 2006)::INT) FROM nal "
                          "WHERE DOR_UC = '001'")[0]
    assert 0.15 <= long_owned <= 0.45


def test_distress_lists(db: duckdb.DuckDBPyConnection) -> None:
    residential = _one(db, f"SELECT count(*) FROM nal WHERE DOR_UC IN {RESIDENTIAL}")[0]
    bounds = {"code_violations": (0.02, 0.04), "lis_pendens": (0.01, 0.02),
              "tax_deed_applications": (0.005, 0.01)}
    for kind, (low, high) in bounds.items():
        parcels, orphans, too_early, too_late = _one(db, f"""
            SELECT count(DISTINCT d.parcel_id), count(*) FILTER (WHERE n.PARCEL_ID IS NULL),
                   count(*) FILTER (WHERE d.{DATES[kind]} < DATE '2024-01-01'),
                   count(*) FILTER (WHERE d.{DATES[kind]} > DATE '2026-10-31')
            FROM {kind} d LEFT JOIN nal n ON n.PARCEL_ID = d.parcel_id""")
        assert orphans == 0 and too_early == 0 and too_late == 0, kind
        assert low <= parcels / residential <= high, (kind, parcels / residential)
    assert _one(db, "SELECT count(DISTINCT case_number) = count(*) FROM code_violations") == (True,)
    assert _one(db, "SELECT bool_and(status IN ('OPEN', 'CLOSED') AND (status = 'OPEN') = "
                    "(closed_date IS NULL) AND coalesce(closed_date >= opened_date, true)) "
                    "FROM code_violations") == (True,)
    assert _one(db, "SELECT min(certificate_year), max(certificate_year), bool_and(status IN "
                    "('ACTIVE', 'SCHEDULED', 'REDEEMED')) FROM tax_deed_applications") == (
        2021, 2024, True)
    assert _one(db, "SELECT bool_and(document_type LIKE 'LIS PENDENS%') FROM lis_pendens") == (
        True,)



def test_distress_concentrates_on_a_few_parcels(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("""
        CREATE OR REPLACE TEMP VIEW signals AS
        SELECT n.PARCEL_ID,
               (OWN_ADDR1 IS DISTINCT FROM PHY_ADDR1)::INT AS absentee,
               (JV_HMSTD IS NULL)::INT AS no_homestead,
               (OWN_STATE_DOM IS DISTINCT FROM 'FL')::INT AS out_of_state,
               (SALE_YR1 IS NULL OR SALE_YR1 < 2006)::INT AS long_owned,
               (OWN_NAME LIKE 'ESTATE OF %' OR OWN_NAME LIKE '% EST' OR FIDU_NAME IS NOT NULL
                OR OWN_NAME LIKE '% TR' OR OWN_NAME LIKE '%TRUST%')::INT AS estate_or_trust,
               (n.PARCEL_ID IN (SELECT parcel_id FROM code_violations))::INT AS cv,
               (n.PARCEL_ID IN (SELECT parcel_id FROM lis_pendens))::INT AS lp,
               (n.PARCEL_ID IN (SELECT parcel_id FROM tax_deed_applications))::INT AS td,
               ACT_YR_BLT, JV
        FROM nal n WHERE DOR_UC IN ('001', '002', '004', '008')""")
    several, at_most_one = _one(db, """
        WITH s AS (SELECT absentee + out_of_state + long_owned + estate_or_trust + cv + lp + td
                          AS n FROM signals)
        SELECT avg((n >= 3)::INT), avg((n <= 1)::INT) FROM s""")
    assert 0.03 <= several <= 0.10
    assert at_most_one >= 0.6
    in_lists = _one(db, "SELECT count(*) FROM signals WHERE cv + lp + td >= 2")[0]
    assert in_lists > 0
    # Listed parcels are more often absentee, without homestead and older than the rest
    listed, unlisted = db.sql("""
        SELECT cv + lp + td > 0 AS listed, avg(absentee), avg(no_homestead), median(ACT_YR_BLT)
        FROM signals GROUP BY 1 ORDER BY 1 DESC""").fetchall()
    assert listed[1] > unlisted[1] + 0.2
    assert listed[2] > unlisted[2] + 0.2
    assert listed[3] < unlisted[3]


def test_pool_workers_do_not_run_a_foreign_main_module(tmp_path, monkeypatch):
    """A caller whose `__main__` is not a guarded script (here: a file that fails when run,
    as a Streamlit page left behind by AppTest would) still gets its files."""
    import sys
    import types

    foreign = tmp_path / "page.py"
    foreign.write_text("raise RuntimeError('a worker ran the caller main file')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(foreign)
    monkeypatch.setitem(sys.modules, "__main__", main)
    files = generate(tmp_path / "out", [SEMINOLE, ORANGE], 2_000, SEED, workers=2)
    assert [f.parcels for f in files] == [2_000, 2_000]
    assert sys.modules["__main__"] is main
