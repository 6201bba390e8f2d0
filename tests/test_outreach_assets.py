"""The outreach Dagster assets for one market partition (enrollments, reconciliation, sends
into the outbox) with a temporary ledger and warehouse; the schedules' run requests; the
error-rate sensor pausing a campaign and notifying the operator; `campaigns` CLI commands
(pause, resume, status, preview) and that preview writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlalchemy import func, select
from test_enrolling import add_lead, add_owner, ledger, warehouse  # noqa: F401

from outreach.ledger.db import ledger_engine, ledger_session
from outreach.ledger.models import (
    AuditEntry,
    CampaignRecord,
    Enrollment,
    Message,
    Owner,
)

ROOT = Path(__file__).resolve().parent.parent
MARKET = "orange_fl"
CAMPAIGN = "fl_cash_offer_v1"
TODAY = date(2026, 11, 23)


def _resources(ledger_url: str, warehouse_path: Path) -> dict[str, object]:
    from dagster_duckdb import DuckDBResource

    from pipelines.defs.outreach.assets import CampaignsResource
    from pipelines.resources import LedgerResource, MarketsResource

    return {"markets": MarketsResource(directory=str(ROOT / "markets")),
            "campaigns": CampaignsResource(directory=str(ROOT / "campaigns")),
            "warehouse": DuckDBResource(database=str(warehouse_path)),
            "ledger": LedgerResource(url=ledger_url)}


def _warehouse_file(tmp_path: Path, leads: list[tuple[str, str, float]]) -> Path:
    path = tmp_path / "assets_warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE TABLE marts.lead_scores (market_code VARCHAR, parcel_id VARCHAR, "
                     "tier VARCHAR, score DOUBLE)")
        conn.execute("CREATE TABLE marts.properties (market_code VARCHAR, parcel_id VARCHAR, "
                     "situs_address VARCHAR, situs_city VARCHAR)")
        for index, (parcel_id, tier, score) in enumerate(leads):
            conn.execute("INSERT INTO marts.lead_scores VALUES (?, ?, ?, ?)",
                         [MARKET, parcel_id, tier, score])
            conn.execute("INSERT INTO marts.properties VALUES (?, ?, ?, ?)",
                         [MARKET, parcel_id, f"{100 + index} PALM AVE", "ORLANDO"])
    return path


def test_enrollments_asset_materializes_one_partition(tmp_path, ledger, monkeypatch):  # noqa: F811
    from pipelines.defs.outreach.assets import enrollments

    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    owners = [add_owner(ledger, [f"P{index}"]) for index in range(3)]
    warehouse_path = _warehouse_file(tmp_path, [("P0", "A", 60), ("P1", "B+", 40),
                                                ("P2", "B", 31)])
    run_config = {"ops": {"outreach__enrollments": {"config": {"today": TODAY.isoformat()}}}}
    result = dg.materialize([enrollments], partition_key=MARKET, run_config=run_config,
                            instance=dg.DagsterInstance.ephemeral(),
                            resources=_resources(str(ledger.url), warehouse_path))
    assert result.success
    metadata = result.asset_materializations_for_node("outreach__enrollments")[0].metadata
    assert metadata["enrolled"].value == 2 and metadata["campaigns"].value == 1
    with ledger_session(ledger) as session:
        enrolled = set(session.scalars(select(Enrollment.owner_id)))
    assert enrolled == set(owners[:2])
    again = dg.materialize([enrollments], partition_key=MARKET, run_config=run_config,
                           instance=dg.DagsterInstance.ephemeral(),
                           resources=_resources(str(ledger.url), warehouse_path))
    assert again.asset_materializations_for_node("outreach__enrollments")[0].metadata[
        "enrolled"].value == 0


def test_schedules_ask_for_each_market_and_the_right_assets():
    from pipelines.defs.outreach.assets import (
        ENROLLMENTS,
        RECONCILIATION,
        SENDS,
        outreach_daily_enrollment,
        outreach_hourly_sends,
    )
    from pipelines.partitions import market_partitions

    at = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=at)
    daily = list(outreach_daily_enrollment(context))
    hourly = list(outreach_hourly_sends(context))
    codes = set(market_partitions.get_partition_keys())
    assert {request.partition_key for request in daily} == codes
    assert all(request.asset_selection == [ENROLLMENTS] for request in daily)
    assert all(request.asset_selection == [RECONCILIATION, SENDS] for request in hourly)
    assert len({request.run_key for request in hourly}) == len(codes)
    assert outreach_hourly_sends.cron_schedule == "0 9-19 * * *"
    assert outreach_hourly_sends.execution_timezone == "America/New_York"


def _campaign_with_messages(engine, name: str, statuses: list[str], at: datetime) -> None:
    with ledger_session(engine) as session:
        record = CampaignRecord(name=name, definition_sha256="0" * 64)
        session.add(record)
        session.flush()
        for index, status in enumerate(statuses):
            owner = Owner(market_code=MARKET, owner_key=f"{name}|{index}", owner_name="X")
            session.add(owner)
            session.flush()
            enrollment = Enrollment(campaign_id=record.campaign_id, owner_id=owner.owner_id,
                                    market_code=MARKET, parcel_id=f"P{index}", tier="A",
                                    score=50, status="in_progress", touches_sent=1,
                                    enrolled_on=at.date())
            session.add(enrollment)
            session.flush()
            session.add(Message(direction="outbound", channel="sms",
                                idempotency_key=f"{enrollment.enrollment_id}:1:sms",
                                enrollment_id=enrollment.enrollment_id, touch_number=1,
                                owner_id=owner.owner_id, provider="twilio", status=status,
                                attempted_at=at))


def _brake_tick(ledger_url: str, outbox: Path, **limits):
    from pipelines.defs.outreach.sensors import OutreachErrorLimits, outreach_error_rate_brake
    from pipelines.notifier import OperatorNotifier
    from pipelines.resources import LedgerResource

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={
            "ledger": LedgerResource(url=ledger_url),
            "operator_notifier": OperatorNotifier(outbox_path=str(outbox)),
            "outreach_error_limits": OutreachErrorLimits(**limits)})
        return outreach_error_rate_brake(context)


def test_error_rate_sensor_pauses_a_failing_campaign_and_notifies(tmp_path, ledger):  # noqa: F811
    now = datetime.now(UTC)
    _campaign_with_messages(ledger, "failing", ["failed"] * 4 + ["unknown"] * 2 + ["sent"] * 4,
                            now - timedelta(minutes=30))
    _campaign_with_messages(ledger, "healthy", ["failed"] + ["sent"] * 9,
                            now - timedelta(minutes=30))
    _campaign_with_messages(ledger, "old_errors", ["failed"] * 10, now - timedelta(hours=30))
    outbox = tmp_path / "operator.jsonl"
    result = _brake_tick(str(ledger.url), outbox, max_error_rate=0.3, window_hours=6,
                         min_attempts=5)
    assert result.skip_message == "paused: failing"
    with ledger_session(ledger) as session:
        paused = dict(session.execute(select(CampaignRecord.name, CampaignRecord.is_paused))
                      .tuples().all())
        audit = session.execute(select(AuditEntry.actor, AuditEntry.entity_id, AuditEntry.detail)
                                .where(AuditEntry.action == "campaign_paused")).all()
    assert paused == {"failing": True, "healthy": False, "old_errors": False}
    assert audit[0].actor == "sensor:outreach_error_rate" and audit[0].entity_id == "failing"
    assert "6 of 10" in audit[0].detail["reason"]
    entries = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["kind"] == "campaign_paused"
    assert entries[0]["facts"]["errors"] == 6
    # Already paused: no second pause, no second notification.
    again = _brake_tick(str(ledger.url), outbox, max_error_rate=0.3, window_hours=6,
                        min_attempts=5)
    assert again.skip_message.startswith("every campaign")
    assert len(outbox.read_text().splitlines()) == 1


def test_error_rate_sensor_needs_enough_attempts(tmp_path, ledger):  # noqa: F811
    _campaign_with_messages(ledger, "few", ["failed"] * 3, datetime.now(UTC))
    result = _brake_tick(str(ledger.url), tmp_path / "operator.jsonl", max_error_rate=0.3,
                         window_hours=6, min_attempts=5)
    assert result.skip_message.startswith("every campaign")


def test_error_limits_from_the_environment_name_the_bad_variable(monkeypatch):
    from pipelines.defs.outreach.sensors import OutreachErrorLimits

    monkeypatch.setenv("WHOLESALER_OUTREACH_MAX_ERROR_RATE", "0.05")
    assert OutreachErrorLimits.from_environment().max_error_rate == 0.05
    monkeypatch.setenv("WHOLESALER_OUTREACH_ERROR_MIN_ATTEMPTS", "zero")
    with pytest.raises(ValueError, match="WHOLESALER_OUTREACH_ERROR_MIN_ATTEMPTS"):
        OutreachErrorLimits.from_environment()


def _cli(monkeypatch, ledger_url: str, *args: str):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("WHOLESALER_LEDGER_URL", ledger_url)
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(ROOT / "markets"))
    return CliRunner().invoke(app, ["campaigns", *args])


def test_cli_pause_resume_and_status(tmp_path, ledger, monkeypatch):  # noqa: F811
    url = str(ledger.url)
    paused = _cli(monkeypatch, url, "pause", CAMPAIGN, "--by", "ops", "--reason", "test")
    assert paused.exit_code == 0, paused.output
    assert f"{CAMPAIGN}: paused (by ops" in paused.output
    status = _cli(monkeypatch, url, "status", CAMPAIGN)
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert shown["paused"] is True and shown["paused_by"] == "ops"
    assert shown["daily_volume_cap"] == 250 and shown["sends_today"] == 0
    resumed = _cli(monkeypatch, url, "resume", CAMPAIGN, "--by", "ops2")
    assert resumed.exit_code == 0 and f"{CAMPAIGN}: running" in resumed.output
    unknown = _cli(monkeypatch, url, "pause", "no_such_campaign")
    assert unknown.exit_code == 1 and "no campaign 'no_such_campaign'" in unknown.output
    with ledger_session(ledger_engine(url)) as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.audit_id)).all()
    assert actions == ["campaign_registered", "campaign_paused", "campaign_resumed"]


def test_cli_status_counts_enrollments_and_messages(tmp_path, ledger, warehouse,  # noqa: F811
                                                    monkeypatch):
    from markets.loader import load_markets
    from outreach.campaigns.schema import load_campaign
    from outreach.enrolling import enroll

    campaign = load_campaign(ROOT / "campaigns" / f"{CAMPAIGN}.yaml")
    market = next(m for m in load_markets(ROOT / "markets") if m.code == MARKET)
    for index in range(3):
        add_lead(warehouse, f"P{index}", "A", 50 + index)
        add_owner(ledger, [f"P{index}"])
    enroll(ledger, warehouse, campaign, market, TODAY)
    with ledger_session(ledger) as session:
        rows = session.scalars(select(Enrollment).order_by(Enrollment.enrollment_id)).all()
        rows[0].status, rows[0].touches_sent = "in_progress", 1
        rows[1].status, rows[1].stop_reason = "stopped", "opt_out"
        session.add(Message(direction="outbound", channel="sms", provider="outbox",
                            enrollment_id=rows[0].enrollment_id, touch_number=1,
                            status="outboxed", attempted_at=datetime.now(UTC)))
    result = _cli(monkeypatch, str(ledger.url), "status", CAMPAIGN)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["enrollments"] == {"not_started": 1, "stopped:opt_out": 1, "touch_1_sent": 1}
    assert shown["messages"] == {"outboxed": 1} and shown["sends_today"] == 1


def _ledger_fingerprint(engine) -> dict[str, int]:
    from outreach.ledger.models import Base

    with engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table))
                .scalar_one() for table in Base.metadata.sorted_tables}


SEND_AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in Orlando


def _lists_loaded(engine) -> None:
    from outreach.ledger.dnc_store import DncListLoad, load_dnc_list

    with ledger_session(engine) as session:
        for kind, state in (("national", None), ("state", "FL")):
            load_dnc_list(session, DncListLoad(
                kind=kind, state=state, source_file=f"{kind}.txt", file_sha256="c" * 64,
                downloaded_on=TODAY, downloaded_on_basis="argument", numbers_added=[]))


def _consent(engine, owner_id: int) -> None:
    from outreach.compliance.store import record_consent
    from outreach.ledger.models import Contact

    with ledger_session(engine) as session:
        phone = session.scalar(select(Contact.contact_id).where(Contact.owner_id == owner_id,
                                                                 Contact.channel == "phone"))
        record_consent(session, phone, "sms", "web form /sell", "Yes, text me about my house",
                       datetime(2026, 11, 1, tzinfo=UTC))


def _outreach_fixture(tmp_path, engine, monkeypatch) -> tuple[list[int], Path]:
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    _lists_loaded(engine)
    owners = [add_owner(engine, [f"P{index}"]) for index in range(2)]
    _consent(engine, owners[0])
    warehouse_path = _warehouse_file(tmp_path, [("P0", "A", 60), ("P1", "A", 50)])
    return owners, warehouse_path


def _run_outreach(engine, warehouse_path: Path):
    from pipelines.defs.outreach.assets import enrollments, reconciliation, sends

    send_config = {"config": {"now": SEND_AT.isoformat()}}
    return dg.materialize(
        [enrollments, reconciliation, sends], partition_key=MARKET,
        run_config={"ops": {"outreach__enrollments": {"config": {"today": TODAY.isoformat()}},
                            "outreach__reconciliation": send_config,
                            "outreach__sends": send_config}},
        instance=dg.DagsterInstance.ephemeral(),
        resources=_resources(str(engine.url), warehouse_path))


def test_send_asset_outboxes_allowed_touches_and_counts_refusals(tmp_path, ledger,  # noqa: F811
                                                                   monkeypatch):
    owners, warehouse_path = _outreach_fixture(tmp_path, ledger, monkeypatch)
    result = _run_outreach(ledger, warehouse_path)
    assert result.success
    metadata = result.asset_materializations_for_node("outreach__sends")[0].metadata
    assert metadata["outboxed"].value == 1 and metadata["sent"].value == 0
    assert metadata["refused_by_reason"].value == {"no_consent": 1}
    assert metadata["failed"].value == 0 and metadata["unknown"].value == 0
    lines = [json.loads(line) for path in (tmp_path / "data" / "outbox").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["channel"] == "sms"
    assert "100 PALM AVE, ORLANDO" in lines[0]["body"]  # the situs address from the warehouse
    assert lines[0]["to"].startswith("•••")
    with ledger_session(ledger) as session:
        messages = session.execute(select(Message.owner_id, Message.status)).all()
    assert sorted(messages) == sorted([(owners[0], "outboxed"), (owners[1], "refused")])
    # A second run at the same time adds no message and no outbox line.
    again = _run_outreach(ledger, warehouse_path)
    assert again.success
    with ledger_session(ledger) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 2
    assert sum(len(path.read_text().splitlines())
               for path in (tmp_path / "data" / "outbox").glob("*.jsonl")) == 1


def test_preview_renders_and_judges_without_writing(tmp_path, ledger, warehouse,  # noqa: F811
                                                    monkeypatch):
    from markets.loader import load_markets
    from outreach.campaigns.schema import load_campaign
    from outreach.enrolling import enroll
    from outreach.preview import preview_campaign

    _outreach_fixture(tmp_path, ledger, monkeypatch)
    campaign = load_campaign(ROOT / "campaigns" / f"{CAMPAIGN}.yaml")
    market = next(m for m in load_markets(ROOT / "markets") if m.code == MARKET)
    add_lead(warehouse, "P0", "A", 60)
    add_lead(warehouse, "P1", "A", 50)
    enroll(ledger, warehouse, campaign, market, TODAY)
    before = _ledger_fingerprint(ledger)
    preview = preview_campaign(ledger, campaign, TODAY, time(10, 0), market_codes=[MARKET])
    assert preview.due == 2 and preview.allowed == 1
    assert preview.refused_by_reason == {"no_consent": 1}
    first, second = preview.messages
    assert first.allowed and first.channel == "sms" and first.template == "sms_intro_v1"
    assert first.to.startswith("•••") and "Reply STOP" in first.body
    assert first.planned_at == "2026-11-23T10:00:00-05:00"
    assert not second.allowed and second.refusal_codes == ["no_consent"]
    # At 07:00 local the window refuses the consented one too.
    early = preview_campaign(ledger, campaign, TODAY, time(7, 0), market_codes=[MARKET])
    assert early.allowed == 0 and early.refused_by_reason.get("outside_hours") == 2
    result = _cli(monkeypatch, str(ledger.url), "preview", CAMPAIGN, "--market", MARKET,
                  "--date", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["due"] == 2 and shown["messages"][0]["allowed"] is True
    assert _ledger_fingerprint(ledger) == before
    assert not (tmp_path / "data" / "outbox").exists()
