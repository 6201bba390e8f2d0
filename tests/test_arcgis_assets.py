"""A distress asset whose market names an ArcGIS layer: materialized through Dagster for one
market against the local ArcGIS server (tests/arcgis_server.py), into a warehouse under
tmp_path. Rows land mapped and typed, bad rows go to rejects with line and reason, and the
check `rows_match_server_count` passes or fails with the server's count."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from arcgis_server import FakeArcGisServer, LayerSpec

ROOT = Path(__file__).resolve().parent.parent
MARKET = "orange_fl"
FIELD_MAP = {"parcel_id": "PARCEL_ID", "case_number": "CASE_NO", "violation_type": "VIOL_TYPE",
             "opened_date": "OPENED", "status": "STATUS", "closed_date": "CLOSED_DT",
             "fine_amount": "FINE_AMT"}


def _project(root: Path, layer_url: str, field_map: dict[str, str]) -> Path:
    config = yaml.safe_load((ROOT / "markets" / f"{MARKET}.yaml").read_text())
    config["distress_sources"] = [{"kind": "code_violations", "format": "arcgis",
                                   "location": layer_url, "field_map": field_map}]
    config["scraping"] = {"requests_per_second": 200, "max_concurrency": 3,
                          "timeout_seconds": 2, "max_attempts": 3,
                          "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}
    markets = root / "markets"
    markets.mkdir(parents=True)
    (markets / f"{MARKET}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return markets


def _materialize(root: Path, markets: Path, monkeypatch):
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.defs.distress.assets import code_violations
    from pipelines.resources import MarketsResource

    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(markets))
    warehouse = root / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    result = dg.materialize(
        [code_violations], partition_key=MARKET, raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"markets": MarketsResource(directory=str(markets)),
                   "warehouse": DuckDBResource(database=str(warehouse))})
    return result, warehouse


def _checks(result) -> dict[str, bool]:
    return {evaluation.check_name: evaluation.passed
            for evaluation in result.get_asset_check_evaluations()}


@pytest.fixture
def server():
    layer = LayerSpec(feature_count=120, max_record_count=25, blank_parcel_every=40,
                      faults={2: "http_500", 3: "error_200"})
    with FakeArcGisServer({"CodeEnforcement": [layer]}) as fake:
        yield fake


def test_arcgis_code_violations_land_in_the_raw_table(server, tmp_path, monkeypatch):
    markets = _project(tmp_path, server.layer_url(), FIELD_MAP)
    result, warehouse = _materialize(tmp_path, markets, monkeypatch)
    assert result.success
    metadata = result.asset_materializations_for_node("code_violations")[0].metadata
    assert metadata["rows"].value == metadata["server_count"].value == 120
    assert metadata["rows_loaded"].value == 117 and metadata["rows_rejected"].value == 3
    assert metadata["dump_elapsed_seconds"].value > 0
    assert _checks(result) == {"rows_match_server_count": True,
                               "header_matches_reference": True,
                               "reject_share_below_limit": False}  # 3 of 120 set aside
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        row = conn.execute(
            "SELECT parcel_id, case_number, violation_type, opened_date::VARCHAR, status, "
            "closed_date::VARCHAR, fine_amount, source_file FROM raw.code_violations "
            "WHERE case_number = 'CE-0000003'").fetchone()
        assert row == ("580000000003", "CE-0000003", "Pool not secured", "2024-01-04",
                       "CLOSED", "2024-02-03", 3.0, server.layer_url())
        assert conn.execute("SELECT count(DISTINCT case_number) FROM raw.code_violations"
                            ).fetchone()[0] == 117
        rejects = conn.execute("SELECT line, reason FROM raw.ingest_rejects WHERE "
                               "table_name = 'code_violations' ORDER BY line").fetchall()
    # feature n (1-based line of the dump) is CSV line n + 1; ids 40, 80, 120 lack a parcel
    assert rejects == [(41, "PARCEL_ID is empty"), (81, "PARCEL_ID is empty"),
                       (121, "PARCEL_ID is empty")]
    dump = tmp_path / "data" / "downloads" / MARKET / "code_violations.jsonl"
    assert len(dump.read_text().splitlines()) == 120


def test_server_count_mismatch_fails_the_check(server, tmp_path, monkeypatch):
    server.layer.count_offset = 5
    markets = _project(tmp_path, server.layer_url(), FIELD_MAP)
    result, _ = _materialize(tmp_path, markets, monkeypatch)
    assert result.success  # the rows load; the check says they are incomplete
    assert _checks(result)["rows_match_server_count"] is False


def test_a_field_map_naming_a_missing_field_fails_clearly(server, tmp_path, monkeypatch):
    markets = _project(tmp_path, server.layer_url(), {**FIELD_MAP, "status": "CASE_STATUS"})
    result, _ = _materialize(tmp_path, markets, monkeypatch)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "distress_sources code_violations" in failure.message
    assert "CASE_STATUS" in failure.message
