"""The ArcGIS dumper and its polite HTTP client against a local server that pages like ArcGIS
(tests/arcgis_server.py), including its failure modes. Every case ends with every feature
exactly once in the output, or a clear failure."""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


from arcgis_server import FakeArcGisServer, LayerSpec

from markets.schema import ScrapingPolicy
from scrapers.arcgis import (
    ArcGisError,
    checkpoint_path,
    dump_layer,
    esri_geometry_to_geojson,
    partial_path,
)
from scrapers.http import DisallowedByRobots, PoliteClient, RequestFailed

FAST = ScrapingPolicy(requests_per_second=200, max_concurrency=4, timeout_seconds=2,
                      max_attempts=4, backoff_base_seconds=0.01, backoff_max_seconds=0.05,
                      contact="ops@wholesaler.example")


@pytest.fixture
def server_factory():
    started: list[FakeArcGisServer] = []

    def make(robots_txt: str | None = None, max_concurrent: int | None = None,
             **layer: object) -> FakeArcGisServer:
        server = FakeArcGisServer({"CodeEnforcement": [LayerSpec(**layer)]},
                                  robots_txt=robots_txt, max_concurrent=max_concurrent).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def dump(server: FakeArcGisServer, out: Path, policy: ScrapingPolicy = FAST, **options):
    with PoliteClient(policy) as client:
        return dump_layer(client, server.layer_url(), out, **options)


def ids_in(out: Path) -> list[int]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


def assert_every_feature_once(server: FakeArcGisServer, out: Path, summary) -> None:
    ids = ids_in(out)
    assert sorted(ids) == server.layer.oids, "every feature exactly once"
    assert len(set(ids)) == len(ids)
    assert summary.verified and summary.rows == summary.server_count == len(server.layer.oids)
    assert summary.duplicates == 0


# -- paging ---------------------------------------------------------------------------------


def test_pagination_with_server_cap_below_requested_page_size(server_factory, tmp_path):
    server = server_factory(feature_count=237, max_record_count=20)
    summary = dump(server, tmp_path / "out.jsonl", page_size=50)
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert summary.method == "offset" and summary.page_size == 20
    pages = server.data_requests()
    assert all(int(p["resultRecordCount"]) <= 50 for p in pages)
    assert len(pages) == 12  # ceil(237 / 20): no wasted or missing page
    feature = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    assert feature["properties"]["CASE_NO"] == "CE-0000001"
    assert all(p["outSR"] == "4326" for p in pages)


def test_server_capping_below_its_advertised_max_record_count(server_factory, tmp_path):
    """A server that says 100 per page but returns 15: each short page continues where it
    stopped, in both offset and object-id paging."""
    for pagination in (True, False):
        server = server_factory(feature_count=203, max_record_count=15,
                                advertised_max_record_count=100, supports_pagination=pagination)
        out = tmp_path / f"out_{pagination}.jsonl"
        summary = dump(server, out)
        assert_every_feature_once(server, out, summary)


def test_pages_that_come_back_short_later_are_continued(server_factory, tmp_path):
    """The server's cap drops after the first page (as under load): every short page is
    followed by a request for the rest of it, in offset and object-id paging alike."""
    for pagination in (True, False):
        server = server_factory(feature_count=100, max_record_count=20, later_cap=(1, 7),
                                supports_pagination=pagination)
        out = tmp_path / f"out_{pagination}.jsonl"
        summary = dump(server, out)
        assert_every_feature_once(server, out, summary)


@pytest.mark.parametrize(("statistics", "oid_step", "method"), [
    (True, 1, "statistics"), (False, 1, "ids"), (True, 7, "ids")])
def test_without_pagination_pages_by_object_id(server_factory, tmp_path, statistics, oid_step,
                                               method):
    server = server_factory(feature_count=181, max_record_count=25, supports_pagination=False,
                            supports_statistics=statistics, first_oid=100, oid_step=oid_step)
    summary = dump(server, tmp_path / "out.jsonl")
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert summary.method == method  # sparse ids (step 7) page through the id list
    assert not any("resultOffset" in p for p in server.data_requests())
    assert len(server.data_requests()) == 8  # ceil(181 / 25), no empty range requested


def test_esri_json_polygons_become_geojson_when_the_server_has_no_geojson(server_factory,
                                                                          tmp_path):
    server = server_factory(feature_count=30, max_record_count=10, supports_geojson=False,
                            geometry="polygon")
    summary = dump(server, tmp_path / "out.jsonl")
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert {p["f"] for p in server.data_requests()} == {"json"}
    feature = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    ring = feature["geometry"]["coordinates"][0]
    assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
    area2 = sum((x2 - x1) * (y2 + y1) for (x1, y1), (x2, y2) in itertools.pairwise(ring))
    assert area2 < 0, "RFC 7946 outer rings are counter-clockwise"


def test_esri_polygon_with_hole_and_two_parts():
    outer_a = [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]  # clockwise: outer
    hole_a = [[2, 2], [4, 2], [4, 4], [2, 4], [2, 2]]  # counter-clockwise: hole
    outer_b = [[20, 0], [20, 5], [25, 5], [25, 0], [20, 0]]
    geometry = esri_geometry_to_geojson({"rings": [outer_a, outer_b, hole_a]})
    assert geometry["type"] == "MultiPolygon"
    first, second = geometry["coordinates"]
    assert first == [outer_a[::-1], hole_a[::-1]] and second == [outer_b[::-1]]
    assert esri_geometry_to_geojson({"paths": [[[0, 0], [1, 1]]]})["type"] == "LineString"
    assert esri_geometry_to_geojson({"x": None, "y": None}) is None
    assert esri_geometry_to_geojson(None) is None


def test_empty_layer_gives_an_empty_verified_file(server_factory, tmp_path):
    server = server_factory(feature_count=0)
    summary = dump(server, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_text() == ""
    assert summary.verified and summary.rows == summary.server_count == 0
    assert server.data_requests() == []
    assert not checkpoint_path(tmp_path / "out.jsonl").exists()


def test_where_and_fields_are_passed_and_counted(server_factory, tmp_path):
    server = server_factory(feature_count=90, max_record_count=10)
    summary = dump(server, tmp_path / "out.jsonl", where="STATUS = 'CLOSED'",
                   fields=["CASE_NO", "STATUS"])
    ids = ids_in(tmp_path / "out.jsonl")
    assert sorted(ids) == [oid for oid in server.layer.oids if oid % 3 == 0]
    assert summary.verified and summary.rows == 30
    properties = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["properties"]
    assert set(properties) == {"CASE_NO", "STATUS", "OBJECTID"}


def test_unknown_field_is_a_clear_error(server_factory, tmp_path):
    server = server_factory(feature_count=5)
    with pytest.raises(ArcGisError, match=r"unknown field\(s\) \['NOPE'\]"):
        dump(server, tmp_path / "out.jsonl", fields=["NOPE"])


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["error_200", "http_500", "http_429", "not_json", "cut",
                                   "slow"])
def test_transient_failures_are_retried_and_nothing_is_lost(server_factory, tmp_path, fault):
    server = server_factory(feature_count=120, max_record_count=10, slow_seconds=1.0,
                            faults={1: fault, 4: fault, 5: fault})
    policy = FAST.model_copy(update={"timeout_seconds": 0.4})
    started = time.perf_counter()
    summary = dump(server, tmp_path / "out.jsonl", policy=policy)
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert summary.retries == 3
    assert time.perf_counter() - started < 5


def test_error_in_a_200_body_that_retrying_cannot_fix_fails_at_once(server_factory, tmp_path):
    server = server_factory(feature_count=50, max_record_count=10,
                            faults={3: "error_200_permanent"})
    with pytest.raises(RequestFailed) as caught:
        dump(server, tmp_path / "out.jsonl")
    error = caught.value
    assert error.attempts == 1
    assert "Invalid or missing input parameters" in str(error)
    assert error.url.startswith(server.layer_url() + "/query?")
    assert not (tmp_path / "out.jsonl").exists(), "a failed dump never looks finished"


def test_persistent_500_fails_loudly_after_the_last_attempt(server_factory, tmp_path):
    server = server_factory(feature_count=50, max_record_count=10, fail_after=2)
    with pytest.raises(RequestFailed) as caught:
        dump(server, tmp_path / "out.jsonl")
    assert caught.value.attempts == FAST.max_attempts
    assert "HTTP 500" in caught.value.last_error
    assert str(caught.value).startswith(server.layer_url() + "/query?")
    assert not (tmp_path / "out.jsonl").exists()
    assert checkpoint_path(tmp_path / "out.jsonl").exists()


def test_retry_after_is_honoured(server_factory, tmp_path):
    server = server_factory(feature_count=20, max_record_count=10, faults={2: "http_429"},
                            retry_after="7")
    waits: list[float] = []
    with PoliteClient(FAST, sleep=waits.append) as client:
        summary = dump_layer(client, server.layer_url(), tmp_path / "out.jsonl")
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert waits and max(waits) >= 7


def test_interrupted_dump_resumes_without_duplicates_or_losses(server_factory, tmp_path):
    out = tmp_path / "out.jsonl"
    server = server_factory(feature_count=300, max_record_count=10, fail_after=13)
    policy = FAST.model_copy(update={"max_attempts": 2, "max_concurrency": 2})
    with pytest.raises(RequestFailed):
        dump(server, out, policy=policy)
    written_before = len(partial_path(out).read_text().splitlines())
    assert 0 < written_before < 300
    # A crash between writing a unit and its checkpoint leaves a partial tail: resume cuts it.
    with partial_path(out).open("a") as handle:
        handle.write('{"type":"Feature","id":9999,"prop')
    server.layer.fail_after = None
    server.requests.clear()
    summary = dump(server, out, policy=policy)
    assert_every_feature_once(server, out, summary)
    assert summary.resumed_at_row == written_before
    assert len(server.data_requests()) == 30 - written_before // 10, "only the missing pages"
    assert not checkpoint_path(out).exists() and not partial_path(out).exists()


def test_resume_refuses_a_checkpoint_of_another_query_or_a_changed_layer(server_factory,
                                                                           tmp_path):
    out = tmp_path / "out.jsonl"
    server = server_factory(feature_count=100, max_record_count=10, fail_after=3)
    with pytest.raises(RequestFailed):
        dump(server, out, policy=FAST.model_copy(update={"max_attempts": 1}))
    server.layer.fail_after = None
    with pytest.raises(ArcGisError, match="checkpoint is for another query"):
        dump(server, out, where="STATUS = 'OPEN'")
    server.layer.count_offset = 1
    with pytest.raises(ArcGisError, match="layer changed since the interrupted dump"):
        dump(server, out)


def test_verification_fails_when_the_server_count_disagrees(server_factory, tmp_path):
    server = server_factory(feature_count=40, max_record_count=10, count_offset=2)
    summary = dump(server, tmp_path / "out.jsonl")
    assert not summary.verified
    assert "NOT verified: 40 rows written, server count 42" in summary.describe()


def test_rows_shifting_under_offset_paging_are_caught(server_factory, tmp_path):
    """A row appearing mid-dump shifts later offset pages: the repeat is counted, not written,
    and the dump does not verify."""
    server = server_factory(feature_count=60, max_record_count=10, offset_shift_after=2)
    summary = dump(server, tmp_path / "out.jsonl",
                   policy=FAST.model_copy(update={"max_concurrency": 1}))
    ids = ids_in(tmp_path / "out.jsonl")
    assert len(ids) == len(set(ids))
    assert summary.duplicates >= 1 and not summary.verified


# -- politeness -----------------------------------------------------------------------------


def test_robots_txt_disallow_is_a_clear_error_and_nothing_is_queried(server_factory, tmp_path):
    server = server_factory(robots_txt="User-agent: *\nDisallow: /arcgis/\n")
    with pytest.raises(DisallowedByRobots, match=r"robots\.txt"):
        dump(server, tmp_path / "out.jsonl")
    assert [path for _, path, _, _ in server.requests] == ["/robots.txt"]


def test_robots_fetched_once_and_user_agent_names_us(server_factory, tmp_path):
    server = server_factory(robots_txt="User-agent: *\nDisallow: /private/\n",
                            feature_count=50, max_record_count=10)
    summary = dump(server, tmp_path / "out.jsonl")
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert [path for _, path, _, _ in server.requests].count("/robots.txt") == 1
    agents = {agent for _, _, _, agent in server.requests}
    assert len(agents) == 1
    assert agents.pop().startswith("wholesaler/") and "(+ops@wholesaler.example)" in \
        server.requests[0][3]


def test_concurrency_and_rate_limits_per_host(server_factory, tmp_path):
    server = server_factory(feature_count=400, max_record_count=20, latency_seconds=0.05)
    summary = dump(server, tmp_path / "out.jsonl",
                   policy=FAST.model_copy(update={"max_concurrency": 3}))
    assert_every_feature_once(server, tmp_path / "out.jsonl", summary)
    assert server.max_in_flight == 3, "uses the allowed concurrency and never more"
    slow_rate = FAST.model_copy(update={"requests_per_second": 20, "max_concurrency": 4})
    server.requests.clear()
    started = time.perf_counter()
    summary = dump(server, tmp_path / "again.jsonl", policy=slow_rate)
    elapsed = time.perf_counter() - started
    assert summary.verified
    requests = len(server.requests)  # includes robots.txt, metadata and count
    assert elapsed >= (requests - 1) / 20 * 0.95, "request starts at most 20 per second"


def test_cli_prints_summary_and_exits_non_zero_when_not_verified(server_factory, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    server = server_factory(feature_count=35, max_record_count=10)
    runner = CliRunner()
    result = runner.invoke(app, ["scrape", "arcgis", server.layer_url(), "--out",
                                 str(tmp_path / "a.jsonl"), "--page-size", "25",
                                 "--requests-per-second", "200", "--max-concurrency", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["verified"] and summary["rows"] == summary["server_count"] == 35
    server.layer.count_offset = 1
    result = runner.invoke(app, ["scrape", "arcgis", server.layer_url(), "--out",
                                 str(tmp_path / "b.jsonl"), "--requests-per-second", "200"])
    assert result.exit_code == 1
    assert "NOT verified" in result.stderr


def test_markets_discover_lists_layers_and_writes_a_skeleton(tmp_path):
    from typer.testing import CliRunner

    from markets.loader import validate_files
    from pipelines.cli import app

    services = {"CodeEnforcement": [LayerSpec(feature_count=42, name="Code Violations")],
                "Parks": [LayerSpec(feature_count=3, name="Park Boundaries",
                                    supports_pagination=False)]}
    with FakeArcGisServer(services) as server:
        skeleton = tmp_path / "markets" / "test_fl.yaml"
        skeleton.parent.mkdir()
        result = CliRunner().invoke(app, ["markets", "discover",
                                          f"{server.base_url}/arcgis/rest/services",
                                          "--write", str(skeleton)])
    assert result.exit_code == 0, result.output
    assert "CodeEnforcement / Code Violations (esriGeometryPoint): 42 records" in result.stdout
    assert "Parks / Park Boundaries (esriGeometryPoint): 3 records" in result.stdout
    assert "fields: OBJECTID, PARCEL_ID, CASE_NO" in result.stdout
    config = skeleton.read_text()
    assert "looks like code_violations" in result.stdout and "Parks" not in config
    _, problems = validate_files([skeleton])
    named = {problem.field.split(".")[0] for problem in problems}
    assert {"sms_policy", "dor_county_number", "costs", "email"} <= named
    assert "distress_sources" not in named
    import yaml

    source = yaml.safe_load(config)["distress_sources"][0]
    assert source["location"] == server.layer_url("CodeEnforcement", 0)
    assert source["field_map"] == {
        "parcel_id": "PARCEL_ID", "case_number": "CASE_NO", "violation_type": "VIOL_TYPE",
        "opened_date": "OPENED", "status": "STATUS", "closed_date": "CLOSED_DT",
        "fine_amount": "FINE_AMT"}
