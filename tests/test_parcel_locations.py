"""Parcel locations, end to end: the market block is validated (errors name file and field),
the sample file has one feature per parcel inside the county's box with neighbourhoods
clustered and two deliberately bad rows, centroids are right, the ingest sets bad features
aside with their feature line, and a small market run through the real pipeline (Dagster +
dbt) gives marts.properties and the published leads coordinates that the Leads page maps."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster_duckdb import DuckDBResource
from typer.testing import CliRunner

from markets.loader import load_markets
from pipelines.cli import app
from scrapers.fl_dor.sample import SampleMarket, generate_market
from scrapers.fl_dor.sample_locations import (
    BAD_PARCEL_ID,
    COUNTY_BOUNDS,
    NULL_GEOMETRY_LINE,
    UNKNOWN_PARCEL_AFTER_LINE,
)
from scrapers.parcel_geometry import GeometryError, centroid

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "markets"
ORANGE = SampleMarket("orange_fl", 58, "Orange")
SEED = 5
runner = CliRunner()


# --- the market block --------------------------------------------------------------------------


def test_shipped_markets_point_at_sample_files_with_the_county_box():
    for market in load_markets(SHIPPED):
        source = market.parcel_locations
        assert source is not None and source.format == "geojsonl"
        assert source.location == f"data/sample/{market.code}/parcel_locations.geojsonl"
        box = source.bounds
        assert (box.west, box.south, box.east, box.north) == COUNTY_BOUNDS[
            market.dor_county_number]
        text = (SHIPPED / f"{market.code}.yaml").read_text()
        assert "Florida_Statewide_Cadastral/FeatureServer/0" in text  # the real layer, commented


BLOCK = ("  format: geojsonl\n  location: data/sample/orange_fl/parcel_locations.geojsonl\n"
         "  parcel_id_field: PARCEL_ID\n")


@pytest.mark.parametrize(("old", "new", "field", "reason"), [
    ("  format: geojsonl\n", "  format: shapefile\n", "parcel_locations.format", "geojsonl"),
    (BLOCK, BLOCK + "  where: \"CO_NO = 58\"\n", "parcel_locations",
     "where applies to format arcgis only"),
    ("  format: geojsonl\n", "  format: arcgis\n", "parcel_locations",
     "needs an http(s) layer URL"),
    ("  parcel_id_field: PARCEL_ID\n", "  parcel_id_feld: PARCEL_ID\n",
     "parcel_locations.parcel_id_feld", "unknown key"),
    ("west: -81.66", "west: -79.5", "parcel_locations.bounds", "must be less than east"),
    ("north: 28.79", "north: 128.79", "parcel_locations.bounds.north", "less than or equal"),
    ("  bounds: {", "  bunds: {", "parcel_locations.bounds", "required field is missing"),
])
def test_a_bad_block_names_file_field_and_reason(tmp_path, old, new, field, reason):
    text = (SHIPPED / "orange_fl.yaml").read_text()
    assert old in text, old
    path = tmp_path / "orange_fl.yaml"
    path.write_text(text.replace(old, new, 1))
    result = runner.invoke(app, ["markets", "validate", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert any(str(path) in line and field in line and reason in line for line in errors), \
        result.output


def test_an_arcgis_layer_and_a_csv_are_accepted(tmp_path):
    text = (SHIPPED / "orange_fl.yaml").read_text()
    layer = ("  format: arcgis\n  location: https://services9.arcgis.com/x/arcgis/rest/services/"
             "Florida_Statewide_Cadastral/FeatureServer/0\n  where: \"CO_NO = 58\"\n"
             "  parcel_id_field: PARCEL_ID\n")
    (tmp_path / "orange_fl.yaml").write_text(text.replace(BLOCK, layer, 1))
    market = load_markets(tmp_path)[0]
    assert market.parcel_locations.format == "arcgis"
    assert market.parcel_locations.where == "CO_NO = 58"


# --- the sample file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("sample"), ORANGE, 3_000, SEED)


def _nal(files) -> dict[str, str]:
    with files.nal.open(encoding="latin-1", newline="") as handle:
        return {row["PARCEL_ID"]: row["NBRHD_CD"] for row in csv.DictReader(handle)}


def test_sample_file_has_one_feature_per_parcel_and_two_bad_rows(sample):
    lines = sample.parcel_locations.read_text(encoding="ascii").splitlines()
    features = [json.loads(line) for line in lines]
    assert len(features) == 3_000 + 1  # every parcel, plus one that is not on the roll
    assert {f["type"] for f in features} == {"Feature"}
    roll = _nal(sample)
    ids = [f["properties"]["PARCEL_ID"] for f in features]
    assert ids[UNKNOWN_PARCEL_AFTER_LINE] == BAD_PARCEL_ID  # feature line 11
    assert BAD_PARCEL_ID not in roll
    assert sorted(i for i in ids if i != BAD_PARCEL_ID) == sorted(roll)
    without = [n + 1 for n, f in enumerate(features) if f["geometry"] is None]
    assert without == [NULL_GEOMETRY_LINE]
    kinds = {f["geometry"]["type"] for f in features if f["geometry"]}
    assert kinds == {"Polygon", "MultiPolygon", "Point"}
    west, south, east, north = COUNTY_BOUNDS[58]
    for feature in features:
        if feature["geometry"]:
            lon, lat = centroid(feature["geometry"])
            assert west < lon < east and south < lat < north


def test_sample_neighbourhoods_cluster(sample):
    """A parcel's nearest located parcel is nearly always in its own neighbourhood (NBRHD_CD),
    and a neighbourhood spans a few hundred metres, not the county."""
    import numpy as np

    roll = _nal(sample)
    points, hoods = [], []
    for line in sample.parcel_locations.read_text().splitlines():
        feature = json.loads(line)
        pid = feature["properties"]["PARCEL_ID"]
        if feature["geometry"] and pid in roll:
            points.append(centroid(feature["geometry"]))
            hoods.append(roll[pid])
    xy = np.array(points)
    labels = np.array(hoods)
    assert len(set(hoods)) >= 3
    distance = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(axis=1)
    assert (labels[nearest] == labels).mean() > 0.95
    for hood in set(hoods):
        members = xy[labels == hood]
        assert np.ptp(members[:, 0]) < 0.03 and np.ptp(members[:, 1]) < 0.03


def test_sample_locations_are_deterministic(tmp_path, sample):
    again = generate_market(tmp_path / "again", ORANGE, 3_000, SEED)
    assert again.parcel_locations.read_bytes() == sample.parcel_locations.read_bytes()
    other = generate_market(tmp_path / "other", ORANGE, 3_000, SEED + 1)
    assert other.parcel_locations.read_bytes() != sample.parcel_locations.read_bytes()


# --- centroid math -----------------------------------------------------------------------------


def _square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def test_centroids():
    assert centroid({"type": "Point", "coordinates": [-81.3, 28.5]}) == (-81.3, 28.5)
    assert centroid({"type": "Polygon", "coordinates": [_square(0, 0, 2)]}) == \
        pytest.approx((1, 1))
    clockwise = list(reversed(_square(0, 0, 2)))
    assert centroid({"type": "Polygon", "coordinates": [clockwise]}) == pytest.approx((1, 1))
    # an L: squares [0,2]x[0,2] minus [1,2]x[1,2] -> area 3, centroid (5/6, 5/6)
    ell = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2], [0, 0]]
    assert centroid({"type": "Polygon", "coordinates": [ell]}) == pytest.approx((5 / 6, 5 / 6))
    # the same L as a square with a square hole (hole ring in either order)
    holed = [_square(0, 0, 2), list(reversed(_square(1, 1, 1)))]
    assert centroid({"type": "Polygon", "coordinates": holed}) == pytest.approx((5 / 6, 5 / 6))
    # parts weighted by area: a 1x1 at x 0..1 and a 3x3 (area 9) at x 10..13
    multi = [[_square(0, 0, 1)], [_square(10, 0, 3)]]
    expected_x = (0.5 * 1 + 11.5 * 9) / 10
    assert centroid({"type": "MultiPolygon", "coordinates": multi}) == \
        pytest.approx((expected_x, (0.5 * 1 + 1.5 * 9) / 10))
    # parcel-sized, far from the origin: the shift keeps it exact enough
    small = _square(-81.379, 28.538, 0.0002)
    assert centroid({"type": "Polygon", "coordinates": [small]}) == \
        pytest.approx((-81.3789, 28.5381), abs=1e-9)
    # no area: the mean of the distinct vertices
    flat = [[0, 0], [2, 0], [4, 0], [0, 0]]
    assert centroid({"type": "Polygon", "coordinates": [flat]}) == pytest.approx((2, 0))
    for bad in ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                {"type": "Polygon", "coordinates": [[["x", 0], [1, 1], [0, 1]]]},
                {"type": "Point", "coordinates": []}):
        with pytest.raises(GeometryError):
            centroid(bad)


def _awkward_lines() -> list[str]:
    """Feature lines the bulk path must leave to the per-line path, or place the same way."""
    ring = _square(-81.38, 28.53, 0.0003)
    return [
        "", "not json", "[1, 2]", json.dumps({"type": "Feature"}),
        _feature("A1", {"type": "Polygon", "coordinates": [ring]}),
        _feature("  A2  ", {"type": "Polygon", "coordinates": [list(reversed(ring))]}),
        _feature("A3", {"type": "Polygon", "coordinates": [ring[:-1]]}),  # not closed
        _feature("A4", {"type": "Polygon", "coordinates": [ring, _square(-81.3799, 28.5301,
                                                                          0.0001)]}),  # hole
        _feature("A5", {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [4, 0], [0, 0]]]}),
        _feature("A6", {"type": "Polygon", "coordinates": [[["x", 0], [1, 1], [0, 1], ["x", 0]]]}),
        _feature("A7", {"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5],
                                                            [0, 0, 5]]]}),  # with z
        _feature("A8", {"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
        _feature("A9", {"type": "Polygon", "coordinates": []}),
        _feature("B1", {"type": "Point", "coordinates": [-81.3, 28.5]}),
        _feature("B2", {"type": "Point", "coordinates": [-81.3]}),
        _feature("B3", {"type": "Point", "coordinates": ["-81.3", "28.5"]}),
        _feature("B4", {"type": "MultiPoint", "coordinates": [[0, 0], [2, 2]]}),
        _feature("C1", {"type": "MultiPolygon", "coordinates": [[ring], [_square(-81.37, 28.54,
                                                                                0.0002)]]}),
        _feature("C2", {"type": "MultiPolygon", "coordinates": [[ring], []]}),
        _feature("C3", {"type": "MultiPolygon", "coordinates": []}),
        _feature("D1", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
        _feature("D2", None), _feature(None, {"type": "Point", "coordinates": [1, 2]}),
        _feature("", {"type": "Point", "coordinates": [1, 2]}),
        json.dumps({"properties": {"PARCEL_ID": 12345}, "geometry": {"type": "Point",
                                                                    "coordinates": [1, 2]}}),
        json.dumps({"properties": {"parcel_id": "E1"}, "geometry": {"type": "Point",
                                                                   "coordinates": [1, 2]}}),
        json.dumps({"properties": {"PARCEL_ID": "E2", "parcel_id": "E3"},
                    "geometry": {"type": "Point", "coordinates": [1, 2]}}),
        json.dumps({"properties": {"PARCEL_ID": "E\u00e9 \"4\""},
                    "geometry": {"type": "Point", "coordinates": [1e308, 1e308]}}),
        '{"properties": {"PARCEL_ID": "E5"}, "geometry": {"type": "Point", '
        '"coordinates": [1e999, 2]}}',
    ]


def _random_lines(count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    lines = []
    for n in range(count):
        x, y = -82 + rng.random(), 28 + rng.random()
        ring = [[round(x + rng.uniform(-1e-3, 1e-3), rng.choice((6, 9, 15))),
                 round(y + rng.uniform(-1e-3, 1e-3), rng.choice((6, 9, 15)))]
                for _ in range(rng.randint(3, 30))]
        ring.append(list(ring[0]))
        if rng.random() < 0.5:
            ring.reverse()
        kind = rng.random()
        geometry = ({"type": "Point", "coordinates": ring[0]} if kind < 0.2 else
                    {"type": "MultiPolygon", "coordinates": [[ring], [ring[::-1]]]}
                    if kind < 0.3 else {"type": "Polygon", "coordinates": [ring]})
        lines.append(json.dumps({"type": "Feature", "id": n,
                                 "properties": {"PARCEL_ID": f"P{n}", "OTHER": n},
                                 "geometry": geometry},
                                separators=rng.choice(((",", ":"), (", ", ": ")))))
    return lines


def test_the_bulk_path_writes_what_the_per_line_path_writes(tmp_path):
    """`write_locations_csv` (bulk for plain features, per line for the rest) against every
    line through `_location_row` alone: the same CSV, byte for byte."""
    from scrapers import parcel_geometry

    lines = _awkward_lines() + _random_lines(3000, seed=7)
    features = tmp_path / "features.geojsonl"
    features.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = tmp_path / "bulk.csv"
    assert parcel_geometry.write_locations_csv(features, "PARCEL_ID", written) == len(lines)
    expected = [list(parcel_geometry.LOCATION_COLUMNS)] + [
        parcel_geometry._location_row(line.strip(), "PARCEL_ID") if line.strip()
        else ["", "", "", "", "empty line"] for line in lines]
    with written.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == expected
    bulk = parcel_geometry._bulk_centroids(
        __import__("polars").Series("text", [line.strip() for line in lines]), "PARCEL_ID")
    assert bulk.height > 2900  # the plain features did take the bulk path


# --- ingest ------------------------------------------------------------------------------------


def _feature(pid: str | None, geometry: dict | None) -> str:
    properties = {} if pid is None else {"PARCEL_ID": pid}
    return json.dumps({"type": "Feature", "properties": properties, "geometry": geometry})


@pytest.fixture
def small_market(tmp_path, monkeypatch):
    """A project with orange_fl, a 200-parcel sample roll loaded into a warehouse."""
    from pipelines.ingest import ingest_file
    from pipelines.raw_tables import nal_spec

    (tmp_path / "markets").mkdir()
    shutil.copy(SHIPPED / "orange_fl.yaml", tmp_path / "markets" / "orange_fl.yaml")
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    files = generate_market(tmp_path / "data" / "sample", ORANGE, 200, SEED)
    warehouse = DuckDBResource(database=str(tmp_path / "w.duckdb"))
    with warehouse.get_connection() as conn:
        ingest_file(conn, nal_spec(58, "orange_fl"), "orange_fl", files.nal,
                    tmp_path / "data" / "rejects")
    return tmp_path, files, warehouse


def _rejects(warehouse: DuckDBResource) -> list[tuple[int, str]]:
    with warehouse.get_connection() as conn:
        return conn.execute("SELECT line, reason FROM raw.ingest_rejects WHERE table_name = "
                            "'parcel_locations' ORDER BY line").fetchall()


def test_ingest_sets_bad_features_aside_with_their_line(small_market):
    from pipelines.defs.roll.locations import load_parcel_locations

    root, files, warehouse = small_market
    roll = list(_nal(files))
    features = root / "features.geojsonl"
    features.write_text("\n".join([
        _feature(roll[0], {"type": "Polygon", "coordinates": [_square(-81.40, 28.50, 0.0002)]}),
        _feature(roll[1], None),                                               # line 2
        _feature("123456789012345", {"type": "Point", "coordinates": [-81.3, 28.5]}),  # 3
        "{not json",                                                           # line 4
        _feature(roll[2], {"type": "Point", "coordinates": [538000.5, 1540000.25]}),  # 5
        _feature(roll[0], {"type": "Point", "coordinates": [-81.3, 28.5]}),   # 6: repeated
        "",                                                                    # line 7
        _feature(None, {"type": "Point", "coordinates": [-81.3, 28.5]}),      # line 8
        _feature(roll[3], {"type": "LineString", "coordinates": [[-81.3, 28.5], [-81.2, 28.6]]}),
        _feature(roll[4], {"type": "MultiPolygon",
                           "coordinates": [[_square(-81.20, 28.40, 0.0002)]]}),
    ]) + "\n")
    text = (root / "markets" / "orange_fl.yaml").read_text()
    (root / "markets" / "orange_fl.yaml").write_text(text.replace(
        "location: data/sample/orange_fl/parcel_locations.geojsonl",
        f"location: {features}"))
    market = load_markets(root / "markets")[0]
    report, dump = load_parcel_locations(market, warehouse)
    assert dump is None
    assert (report.rows_loaded, report.rows_rejected) == (2, 8)
    rejects = _rejects(warehouse)
    assert [line for line, _ in rejects] == [2, 3, 4, 5, 6, 7, 8, 9]
    reasons = dict(rejects)
    assert reasons[2] == "no geometry"
    assert reasons[3] == "PARCEL_ID 123456789012345 is not on the market's roll"
    assert reasons[4].startswith("not a JSON feature")
    assert "lies outside the market bounds" in reasons[5] and "538000.5" in reasons[5]
    assert reasons[6].startswith(f"duplicate PARCEL_ID {roll[0]}")
    assert reasons[7] == "empty line"
    assert reasons[8] == "no PARCEL_ID property"
    assert "LineString" in reasons[9]
    with open(report.rejects_file, newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in written] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert {row["source_file"] for row in written} == {str(features)}
    with warehouse.get_connection() as conn:
        located = dict(conn.execute("SELECT parcel_id, (latitude, longitude) "
                                    "FROM raw.parcel_locations").fetchall())
    assert located[roll[0]] == pytest.approx((28.5001, -81.3999))
    assert located[roll[4]] == pytest.approx((28.4001, -81.1999))


def test_ingest_reads_a_csv_of_coordinates(small_market):
    from pipelines.defs.roll.locations import load_parcel_locations

    root, files, warehouse = small_market
    roll = list(_nal(files))
    points = root / "points.csv"
    points.write_text(f"PARCEL,latitude,longitude\n{roll[0]},28.5,-81.3\n{roll[1]},,\n"
                      f"{roll[2]},28.6,-81.2\n")
    text = (root / "markets" / "orange_fl.yaml").read_text()
    (root / "markets" / "orange_fl.yaml").write_text(text.replace(BLOCK, (
        f"  format: csv\n  location: {points}\n  parcel_id_field: PARCEL\n")))
    market = load_markets(root / "markets")[0]
    report, _ = load_parcel_locations(market, warehouse)
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert _rejects(warehouse) == [(3, "no coordinates")]


# --- the real pipeline, one small market -------------------------------------------------------

PIPELINE_PARCELS = 3_000


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """orange_fl materialized through Dagster and dbt (no contacts, no outreach), then the
    dashboards' snapshot published from its warehouse."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("project")
    (root / "markets").mkdir()
    shutil.copy(SHIPPED / "orange_fl.yaml", root / "markets" / "orange_fl.yaml")
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(root / "markets"))
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "data" / "dagster_home"))
    monkeypatch.delenv("WHOLESALER_WAREHOUSE_PATH", raising=False)
    from pipelines.demo import run_demo
    from pipelines.publish import publish

    output: list[str] = []
    ok = run_demo(parcels=PIPELINE_PARCELS, seed=SEED, market_codes=["orange_fl"],
                  echo=output.append, contacts=False, publish=False, outreach=False)
    with duckdb.connect(str(root / "data" / "warehouse.duckdb")) as conn:
        snapshot = publish(conn)
    yield root, ok, output, snapshot
    monkeypatch.undo()


def test_the_pipeline_gives_the_marts_coordinates_inside_the_county(pipeline_run):
    root, ok, output, _ = pipeline_run
    assert ok, "\n".join(output)
    west, south, east, north = COUNTY_BOUNDS[58]
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as conn:
        parcels, located, lat_min, lat_max, lon_min, lon_max = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE has_location), min(latitude), "
            "max(latitude), min(longitude), max(longitude) FROM marts.properties "
            "WHERE market_code = 'orange_fl'").fetchone()
        unlocated = conn.execute("SELECT line FROM raw.ingest_rejects WHERE table_name = "
                                 "'parcel_locations' ORDER BY line").fetchall()
        missing = conn.execute("SELECT count(*) FROM marts.properties WHERE has_location "
                               "AND (latitude IS NULL OR longitude IS NULL)").fetchone()[0]
    assert parcels == PIPELINE_PARCELS
    assert located == PIPELINE_PARCELS - 1  # the sample's feature without geometry
    assert missing == 0
    assert south < lat_min <= lat_max < north and west < lon_min <= lon_max < east
    assert unlocated == [(NULL_GEOMETRY_LINE,), (UNKNOWN_PARCEL_AFTER_LINE + 1,)]


def test_the_published_leads_carry_coordinates_and_the_leads_page_maps_them(
        pipeline_run, monkeypatch, pii_keys):
    from streamlit.testing.v1 import AppTest

    root, _, _, snapshot = pipeline_run
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("WHOLESALER_DASHBOARD_PASSWORD", "correct horse battery")
    with duckdb.connect() as conn:
        leads = conn.execute(f"SELECT count(*), count(latitude), count(longitude) "
                             f"FROM '{snapshot / 'leads.parquet'}'").fetchone()
    assert leads[0] > 0 and leads[1] >= leads[0] - 1 and leads[2] == leads[1]
    page = AppTest.from_file(str(ROOT / "dashboards" / "app_pages" / "leads.py"),
                             default_timeout=60)
    page.session_state["role"] = "viewer"
    page.session_state["user"] = "viewer"
    page.run()
    # The lead shown in detail first may have no valuation, which the page's detail section
    # does not handle yet (pd.NA arv; reported to the dashboards' owner): pick a valued one.
    with duckdb.connect() as conn:
        valued = conn.execute(f"SELECT market_code || ' ' || parcel_id FROM "
                              f"'{snapshot / 'leads.parquet'}' WHERE arv IS NOT NULL "
                              f"AND tier IN ('A', 'B+') ORDER BY score DESC LIMIT 1").fetchone()
    page.selectbox[0].set_value(valued[0]).run()
    assert not page.exception, page.exception
    assert any(c.value.startswith("Map: ") and "leads with coordinates" in c.value
               for c in page.caption), [c.value for c in page.caption]
    charts = [json.loads(chart.proto.spec) for chart in page.get("vega_lite_chart")]
    assert any(chart.get("projection", {}).get("type") == "mercator" for chart in charts)


def test_yaml_blocks_parse_as_plain_yaml():
    for path in SHIPPED.glob("*.yaml"):
        block = yaml.safe_load(path.read_text())["parcel_locations"]
        assert set(block) == {"format", "location", "parcel_id_field", "bounds"}
