"""The production Dagster instance (deploy/dagster.yaml) on a fresh PostgreSQL database: the
code location loads, one market partition materializes, and after a "restart" (the instance
disposed, a new one opened from the same yaml) the run, its partition and its asset
materializations are in the history. A run submitted through the run queue waits there,
also across the restart. Needs TEST_POSTGRES_URL (CI sets it); skipped otherwise."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKET = "lake_fl"
PARCELS = 2000
SEED = 5

pytestmark = pytest.mark.postgres


@pytest.fixture
def production_home(tmp_path: Path, postgres_url: str, monkeypatch) -> Path:
    """A project folder with one market, and a DAGSTER_HOME holding deploy/dagster.yaml
    unchanged, pointed at the fresh database through its environment variable."""
    (tmp_path / "markets").mkdir()
    shutil.copy(ROOT / "markets" / f"{MARKET}.yaml", tmp_path / "markets" / f"{MARKET}.yaml")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(tmp_path / "markets"))
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("WHOLESALER_DAGSTER_POSTGRES_URL", postgres_url)
    return home


@pytest.fixture
def code_server(production_home: Path, monkeypatch) -> Iterator[int]:
    """The code location served as in production (`dagster api grpc` on the pipelines
    module), on a free loopback port named to deploy/workspace.yaml through its variables."""
    from dagster._grpc.client import DagsterGrpcClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("WHOLESALER_CODE_SERVER_HOST", "127.0.0.1")
    monkeypatch.setenv("WHOLESALER_CODE_SERVER_PORT", str(port))
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "api", "grpc", "-m", "pipelines.definitions",
         "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = DagsterGrpcClient(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping("ready")
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the code server did not start: "
                                       + server.stderr.read().decode()[-2000:]) from None
                time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_production_instance_keeps_market_history_across_a_restart(production_home,
                                                                     code_server):
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    from markets.loader import load_markets
    from pipelines import settings
    from pipelines.definitions import defs
    from pipelines.demo import QUIET_RUN_CONFIG, ensure_sample_data

    ensure_sample_data(load_markets(), PARCELS, SEED, echo=lambda _: None, contacts=False)
    settings.export_for_subprocesses()
    job = defs().resolve_job_def("materialize_market")

    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_monitoring_enabled
        assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING"} <= set(
            instance.get_required_daemon_types())

        result = job.execute_in_process(partition_key=MARKET, instance=instance,
                                        run_config=QUIET_RUN_CONFIG)
        assert result.success
        run_id = result.run_id
        # The warehouse pool took its limit from the yaml's default: one writer at a time.
        assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1

        # A run submitted as the UI does, through the code server named in
        # deploy/workspace.yaml, waits in the queue for the daemon (not running here).
        workspace = WorkspaceFileTarget([str(ROOT / "deploy" / "workspace.yaml")])
        with WorkspaceProcessContext(instance, workspace) as context:
            request = context.create_request_context()
            location = request.get_code_location("pipelines")
            repository = next(iter(location.get_repositories().values()))
            remote_job = repository.get_full_job("materialize_market")
            queued = instance.create_run_for_job(
                job, tags={"dagster/partition": MARKET},
                remote_job_origin=remote_job.get_remote_origin(),
                job_code_origin=remote_job.get_python_origin())
            instance.submit_run(queued.run_id, request)
        assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.QUEUED
    finally:
        instance.dispose()

    with dg.DagsterInstance.from_config(str(production_home)) as restarted:
        record = restarted.get_run_record_by_id(run_id)
        assert record is not None
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert record.dagster_run.tags["dagster/partition"] == MARKET
        assert record.dagster_run.job_name == "materialize_market"

        lead_scores = dg.AssetKey(["marts", "lead_scores"])
        assert restarted.get_materialized_partitions(lead_scores) == {MARKET}
        latest = restarted.get_latest_materialization_event(lead_scores)
        assert latest is not None and latest.run_id == run_id
        materialized = restarted.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        keys = {entry.event_log_entry.asset_materialization.asset_key for entry in materialized}
        assert {dg.AssetKey(["raw", "nal_parcels"]), dg.AssetKey(["marts", "offers"]),
                lead_scores} <= keys
        assert all(entry.event_log_entry.asset_materialization.partition == MARKET
                   for entry in materialized)

        waiting = restarted.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
        assert [run.run_id for run in waiting] == [queued.run_id]
