"""Parcel locations from an ArcGIS parcel layer (`format: arcgis`), materialized through Dagster
against the local ArcGIS server (tests/arcgis_server.py) serving polygons keyed by the small
sample market's roll: the layer is dumped page by page (the server caps pages below what it
advertises) to `<downloads>/<market>/parcel_locations.jsonl`, each parcel lands at the
centroid `scrapers.parcel_geometry.centroid` gives for the served geometry, a parcel id not on
the roll, a repeated parcel id and a feature outside the bounds are set aside with their
feature line and reason, an interrupted dump resumes to the same result, and a server error
fails the asset with a message naming the market file."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster_duckdb import DuckDBResource

sys.path.insert(0, str(Path(__file__).parent))

from arcgis_server import FakeArcGisServer, LayerSpec, geojson_geometry
from test_parcel_locations import _nal, _rejects, small_market  # noqa: F401

from scrapers.arcgis import checkpoint_path, partial_path
from scrapers.parcel_geometry import centroid

MARKET = "orange_fl"
FEATURES = 202  # the 200 parcels of the roll, one of them twice, and one not on it
CAP = 25  # what the server returns per page, below the 100 it advertises
NOT_ON_ROLL_OID, REPEAT_OID, REPEATED_OID, OUTSIDE_OID = 57, 140, 10, 171
NOT_ON_ROLL_ID = "990000000000057"
HOLED_OIDS = (30, 31)  # polygons with a hole: the per-line path, not the bulk one
FAST = {"requests_per_second": 200, "max_concurrency": 2, "timeout_seconds": 2,
        "max_attempts": 3, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}


def _holed(x: float, y: float) -> dict:
    """An Esri polygon: a clockwise outer ring with a counter-clockwise hole off its centre."""
    d, h = 2e-4, 5e-5
    return {"rings": [[[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]],
                      [[x + h, y + h], [x + 2 * h, y + h], [x + 2 * h, y + 2 * h],
                       [x + h, y + 2 * h], [x + h, y + h]]]}


def _parcel_layer(roll: list[str], **options: object) -> LayerSpec:
    """Polygons inside Orange's box, one per roll parcel in object-id order, plus a parcel not
    on the roll, a repeat of an earlier parcel id, and one parcel in State Plane feet."""
    assert NOT_ON_ROLL_ID not in roll
    layer = LayerSpec(feature_count=FEATURES, max_record_count=CAP,
                      advertised_max_record_count=100, geometry="polygon", name="Parcels",
                      origin=(-81.40, 28.50), **options)
    ids = iter(roll)
    for oid in layer.oids:
        parcel_id = (NOT_ON_ROLL_ID if oid == NOT_ON_ROLL_OID else
                     layer.attributes(REPEATED_OID)["PARCEL_ID"] if oid == REPEAT_OID else
                     next(ids))
        layer.attribute_overrides[oid] = {"PARCEL_ID": parcel_id}
    assert next(ids, None) is None, "every roll parcel is served"
    for oid in HOLED_OIDS:
        layer.geometry_overrides[oid] = _holed(-81.30 + oid * 1e-3, 28.60)
    x, y = 538_000.5, 1_540_000.25  # feet, as a layer left in its own spatial reference gives
    layer.geometry_overrides[OUTSIDE_OID] = {
        "rings": [[[x, y], [x, y + 80], [x + 60, y + 80], [x + 60, y], [x, y]]]}
    return layer


@pytest.fixture
def project(small_market):  # noqa: F811  # the fixture imported above
    """The small market, its `parcel_locations` pointed at the local server's parcel layer."""
    root, files, warehouse = small_market
    layer = _parcel_layer(list(_nal(files)))
    with FakeArcGisServer({"Parcels": [layer]}) as server:
        path = root / "markets" / f"{MARKET}.yaml"
        config = yaml.safe_load(path.read_text())
        config["parcel_locations"] = {"format": "arcgis", "location": server.layer_url("Parcels"),
                                      "parcel_id_field": "PARCEL_ID",
                                      "bounds": config["parcel_locations"]["bounds"]}
        config["scraping"] = FAST
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        yield root, server, warehouse


def _materialize(root: Path, warehouse: DuckDBResource):
    from pipelines.defs.roll.locations import parcel_locations
    from pipelines.resources import MarketsResource

    return dg.materialize(
        [parcel_locations], partition_key=MARKET, raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"markets": MarketsResource(directory=str(root / "markets")),
                   "warehouse": warehouse})


def _failure(result) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


def _dump_file(root: Path) -> Path:
    return root / "data" / "downloads" / MARKET / "parcel_locations.jsonl"


def _assert_loaded(root: Path, server: FakeArcGisServer, warehouse: DuckDBResource,
                   result) -> None:
    """The table, the rejects and the metadata are what the served layer should give."""
    layer = server.layer
    assert result.success
    metadata = result.asset_materializations_for_node("parcel_locations")[0].metadata
    assert metadata["rows"].value == metadata["server_count"].value == FEATURES
    assert metadata["verified"].value is True
    assert metadata["layer_url"].value == server.layer_url("Parcels")
    assert (metadata["rows_loaded"].value, metadata["rows_rejected"].value) == (FEATURES - 3, 3)
    assert metadata["parcels_located"].value == FEATURES - 3
    assert metadata["roll_parcels"].value == 200 and metadata["roll_checked"].value is True
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"header_matches_reference": True, "parcels_located": True,
                      "locations_inside_bounds": True,  # 1 of 202 outside: under 1 %
                      "rows_match_server_count": True,
                      "reject_share_below_limit": False}  # 3 of 202 set aside

    dumped = [json.loads(line) for line in _dump_file(root).read_text().splitlines()]
    assert [feature["id"] for feature in dumped] == layer.oids  # feature line n is object id n
    assert {name for feature in dumped for name in feature["properties"]} == \
        {"PARCEL_ID", "OBJECTID"}

    rejects = _rejects(warehouse)
    assert [line for line, _ in rejects] == [NOT_ON_ROLL_OID, REPEAT_OID, OUTSIDE_OID]
    reasons = dict(rejects)
    assert reasons[NOT_ON_ROLL_OID] == f"PARCEL_ID {NOT_ON_ROLL_ID} is not on the market's roll"
    repeated = layer.attributes(REPEATED_OID)["PARCEL_ID"]
    assert reasons[REPEAT_OID].startswith(f"duplicate PARCEL_ID {repeated}")
    assert "lies outside the market bounds" in reasons[OUTSIDE_OID]
    rejects_file = root / "data" / "rejects" / MARKET / "parcel_locations.csv"
    with rejects_file.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in written] == [NOT_ON_ROLL_OID, REPEAT_OID, OUTSIDE_OID]
    assert {row["source_file"] for row in written} == {server.layer_url("Parcels")}

    expected = {}
    for oid in layer.oids:
        if oid not in (NOT_ON_ROLL_OID, REPEAT_OID, OUTSIDE_OID):
            longitude, latitude = centroid(geojson_geometry(layer.esri_geometry(oid)))
            expected[layer.attributes(oid)["PARCEL_ID"]] = (latitude, longitude)
    with warehouse.get_connection() as conn:
        located = {pid: (lat, lon) for pid, lat, lon in conn.execute(
            "SELECT parcel_id, latitude, longitude FROM raw.parcel_locations").fetchall()}
    assert located.keys() == expected.keys()
    for parcel_id, place in expected.items():  # 7 decimals in the intermediate CSV
        assert located[parcel_id] == pytest.approx(place, abs=1e-7), parcel_id


@pytest.mark.parametrize("geojson", [True, False], ids=["f=geojson", "esri-json"])
def test_an_arcgis_parcel_layer_is_paged_placed_and_checked(project, geojson):
    root, server, warehouse = project
    server.layer.supports_geojson = geojson  # without it, Esri JSON converted by the dumper
    result = _materialize(root, warehouse)
    _assert_loaded(root, server, warehouse, result)
    pages = server.data_requests()
    assert len(pages) == -(-FEATURES // CAP)  # capped pages continued, none wasted
    assert [int(p["resultOffset"]) for p in pages] == list(range(0, FEATURES, CAP))
    assert {p["f"] for p in pages} == {"geojson" if geojson else "json"}
    assert {p["outFields"] for p in pages} == {"PARCEL_ID,OBJECTID"}
    assert not checkpoint_path(_dump_file(root)).exists()


def test_an_interrupted_dump_resumes_to_the_same_result(project):
    root, server, warehouse = project
    server.layer.fail_after = 4  # the fifth page on answers HTTP 500
    message = _failure(_materialize(root, warehouse))
    assert f"{root / 'markets' / MARKET}.yaml: parcel_locations:" in message
    assert "HTTP 500" in message
    dump = _dump_file(root)
    written = len(partial_path(dump).read_text().splitlines())
    assert checkpoint_path(dump).exists() and 0 < written < FEATURES and not dump.exists()
    with warehouse.get_connection() as conn:
        assert not conn.execute("SELECT count(*) FROM duckdb_tables() "
                                "WHERE table_name LIKE 'parcel_locations%'").fetchone()[0]

    server.layer.fail_after = None
    already = len(server.data_requests())
    result = _materialize(root, warehouse)
    _assert_loaded(root, server, warehouse, result)
    resumed = server.data_requests()[already:]
    assert min(int(p["resultOffset"]) for p in resumed) == written  # not from the start
    assert not checkpoint_path(dump).exists() and not partial_path(dump).exists()


@pytest.mark.parametrize(("fault", "says"), [
    ({"faults": {1: "error_200_permanent"}}, "ArcGIS error 400: Invalid or missing input"),
    ({"fail_after": 0}, "HTTP 500"),
    ({"layer": 7}, "ArcGIS error 400: Invalid layer"),
])
def test_a_server_error_fails_the_asset_naming_the_market_file(project, fault, says):
    root, server, warehouse = project
    path = root / "markets" / f"{MARKET}.yaml"
    if "layer" in fault:
        config = yaml.safe_load(path.read_text())
        config["parcel_locations"]["location"] = server.layer_url("Parcels", fault["layer"])
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    else:
        for name, value in fault.items():
            setattr(server.layer, name, value)
    message = _failure(_materialize(root, warehouse))
    assert f"Failure: {path}: parcel_locations: " in message, message
    assert says in message
    with duckdb.connect(warehouse.database, read_only=True) as conn:
        assert not conn.execute("SELECT count(*) FROM duckdb_tables() "
                                "WHERE table_name LIKE 'parcel_locations%'").fetchone()[0]


def test_a_dump_short_of_the_server_count_fails_its_check(project):
    """The server says five features more than it serves: the asset loads what came, and
    `rows_match_server_count` fails with both figures."""
    root, server, warehouse = project
    server.layer.count_offset = 5
    result = _materialize(root, warehouse)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = checks["rows_match_server_count"]
    assert not check.passed
    assert check.metadata["rows"].value == FEATURES
    assert check.metadata["server_count"].value == FEATURES + 5
