"""The ledger in the warehouse and the outreach marts: a ledger seeded through the real send path
(touch 1 by SMS through the official `twilio` client against the local Twilio server, touch 2
by email to the outbox), replies written as the replies side writes them (inbound messages
with their classification), deals through outreach/deals.py; then the copy asset and the dbt
outreach build through Dagster, and the numbers of the funnel, the daily rates, costs, ROI and
the attribution checked by hand. Also: an incremental re-run copies only what changed, no
personal data reaches the warehouse, the dbt unit tests, a PostgreSQL ledger, publishing, and
`wholesaler deals`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).parent))

from sending_fixtures import (
    INSIDE_WINDOW,
    MESSAGING_SERVICE_SID,
    Lead,
    add_lead,
    drip,
    load_lists,
    orange,
)
from twilio_server import TwilioServer

from outreach.channels.outbox import OutboxChannel
from outreach.channels.sms import TwilioSmsChannel
from outreach.deals import DealError, DealInput, list_deals, record_deal
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import (
    AuditEntry,
    ContactImport,
    ConversationState,
    Enrollment,
    Handoff,
    LeadStatusChange,
    Message,
    PhoneLookup,
    Suppression,
)
from outreach.sending import Channels, SendSettings, apply_status_callback, send_due
from outreach.service_settings import TwilioSettings
from outreach.twilio_client import twilio_rest_client

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "fl_cash_offer_v1"
CONFIG = SendSettings(wholesaler_unsubscribe_base_url="https://example.com/u",
                      wholesaler_unsubscribe_secret="unsubscribe-secret-for-tests-" + "q" * 20,
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")
DAY0 = INSIDE_WINDOW  # Monday 2026-11-23 10:00 in Orlando
DAY3 = INSIDE_WINDOW + timedelta(days=3)
COMPUTE_MONTHLY_USD = 30.0
SKIP_TRACED_ROWS = 200
FEE = 12_000.0


@dataclass
class World:
    root: Path
    engine: Engine
    warehouse: Path
    ledger_url: str
    leads: dict[str, Lead]
    touches: dict[tuple[str, int], int]  # (lead, touch number) -> message id
    replies: dict[str, int]


def _resources(world: World) -> dict[str, object]:
    from pipelines.dbt import dbt_cli_resource
    from pipelines.resources import LedgerResource, MarketsResource

    return {"ledger": LedgerResource(url=world.ledger_url),
            "warehouse": DuckDBResource(database=str(world.warehouse)),
            "markets": MarketsResource(directory=str(ROOT / "markets")),
            "dbt": dbt_cli_resource()}


def copy(world: World, **config: object) -> dict[str, dict[str, object]]:
    """Run the ledger copy asset; returns each table's metadata."""
    from pipelines.defs.analytics.assets import ledger_copy

    result = dg.materialize([ledger_copy], resources=_resources(world),
                            run_config={"ops": {"ledger_copy": {"config": config}}})
    assert result.success
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()}
    return found


def build_marts(world: World) -> None:
    from pipelines.defs.analytics.assets import outreach_dbt_models

    result = dg.materialize([outreach_dbt_models], resources=_resources(world))
    assert result.success


def rows(world: World, sql: str, parameters: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(world.warehouse), read_only=True) as conn:
        return conn.execute(sql, parameters or []).fetchall()


def one(world: World, sql: str, parameters: list[object] | None = None) -> dict[str, object]:
    with duckdb.connect(str(world.warehouse), read_only=True) as conn:
        cursor = conn.execute(sql, parameters or [])
        names = [d[0] for d in cursor.description]
        found = cursor.fetchall()
    assert len(found) == 1, found
    return dict(zip(names, found[0], strict=True))


def reply(engine: Engine, lead: Lead, text: str, at: datetime, intent: str, *,
          channel: str = "sms", in_reply_to: int | None = None, opt_out: bool = False,
          sentiment: float = 0.0, decision: str | None = None) -> int:
    """An inbound reply as the webhook / IMAP side stores it, classified and decided."""
    keyring = pii.current_keyring()
    value = lead.phones[0] if channel == "sms" else lead.emails[0]
    contact_id = lead.phone_ids[0] if channel == "sms" else lead.email_ids[0]
    with ledger_session(engine) as session:
        message = Message(
            direction="inbound", channel=channel, owner_id=lead.owner_id, contact_id=contact_id,
            counterpart=value, counterpart_hash=keyring.lookup_hash(
                "phone" if channel == "sms" else "email", value.lower()),
            body=text, provider="twilio" if channel == "sms" else "imap", status="received",
            in_reply_to_id=in_reply_to, decision=decision, processed_at=at, created_at=at,
            classification={"intent": intent, "opt_out": opt_out, "sentiment": sentiment,
                            "confidence": 0.9, "method": "rules"})
        session.add(message)
        session.flush()
        return message.message_id


def _touch_ids(engine: Engine, leads: dict[str, Lead]) -> dict[tuple[str, int], int]:
    by_enrollment = {lead.enrollment_id: name for name, lead in leads.items()}
    with ledger_session(engine) as session:
        found = session.execute(select(Message.enrollment_id, Message.touch_number,
                                       Message.message_id)
                                .where(Message.direction == "outbound")).all()
    return {(by_enrollment[e], t): m for e, t, m in found}


def _stub_properties(warehouse: Path, leads: dict[str, Lead]) -> None:
    """The roll's `marts.properties` for the leads' parcels (handoff_queue reads the address)."""
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE OR REPLACE TABLE marts.properties (property_id VARCHAR, "
                     "market_code VARCHAR, parcel_id VARCHAR, situs_address VARCHAR, "
                     "situs_city VARCHAR, owner_name VARCHAR)")
        for name, lead in leads.items():
            parcel = f"P{lead.owner_id:06d}"
            conn.execute("INSERT INTO marts.properties VALUES (?, 'orange_fl', ?, ?, "
                         "'ORLANDO', ?)", [f"orange_fl-{parcel}", parcel,
                                           f"{lead.owner_id} ELM ST", f"OWNER {name}"])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pii_keys: str) -> World:
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WHOLESALER_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("WHOLESALER_COMPUTE_MONTHLY_USD", str(COMPUTE_MONTHLY_USD))
    url = f"sqlite:///{tmp_path / 'outreach.db'}"
    engine = ledger_engine(url)
    upgrade_ledger(engine)
    load_lists(engine)
    leads = {name: add_lead(engine, phones=[f"+1407555{index + 110:04d}"],
                            emails=[f"{name.lower()}{index}@example.com"],
                            score=90 - index, owner_name=f"OWNER {name}")
             for index, name in enumerate("ABCDE")}
    with ledger_session(engine) as session:  # E is a B+ lead: its own funnel row
        session.get(Enrollment, leads["E"].enrollment_id).tier = "B+"
    with TwilioServer() as twilio:
        settings = TwilioSettings(twilio_account_sid=twilio.account_sid,
                                  twilio_auth_token=twilio.auth_token,
                                  wholesaler_twilio_base_url=twilio.base_url)
        sms = TwilioSmsChannel(lambda: twilio_rest_client(settings, timeout_seconds=10),
                               MESSAGING_SERVICE_SID, retry_pause_seconds=0)
        channels = Channels(sms=sms, email=OutboxChannel(tmp_path / "outbox", "email"))
        day0 = send_due(engine, drip(), orange(), DAY0, channels=channels, config=CONFIG)
    assert day0.sent == 5, day0
    touches = _touch_ids(engine, leads)
    with ledger_session(engine) as session:
        sids = {name: session.get(Message, touches[(name, 1)]).provider_message_id
                for name in leads}
    for name in "ABCD":
        apply_status_callback(engine, sids[name], "delivered", None, DAY0 + timedelta(minutes=1))
    apply_status_callback(engine, sids["E"], "undelivered", "30003", DAY0 + timedelta(minutes=1))
    day3 = send_due(engine, drip(), orange(), DAY3, channels=Channels.outbox(tmp_path / "outbox"),
                    config=CONFIG)
    assert day3.outboxed == 5, day3
    touches = _touch_ids(engine, leads)
    replies = {
        # A answers touch 1 (threaded), is interested and handed to a closer
        "A": reply(engine, leads["A"], "Yes I'd sell. Call me at 407-555-0199 or a@x.com",
                   DAY0 + timedelta(hours=2), "interested", in_reply_to=touches[("A", 1)],
                   sentiment=0.6, decision="handoff"),
        # B answers by email after touch 2, unthreaded: attributed to the latest touch
        "B": reply(engine, leads["B"], "What would you offer?", DAY3 + timedelta(hours=1),
                   "question", channel="email", sentiment=0.1, decision="auto_reply"),
        # C opts out of touch 1
        "C": reply(engine, leads["C"], "STOP", DAY0 + timedelta(hours=5), "opt_out",
                   in_reply_to=touches[("C", 1)], opt_out=True, sentiment=-0.4,
                   decision="stop"),
    }
    with ledger_session(engine) as session:
        session.add(Handoff(owner_id=leads["A"].owner_id, market_code="orange_fl",
                            trigger_message_id=replies["A"], reason="interested",
                            created_at=DAY0 + timedelta(hours=2)))
        session.add(ConversationState(owner_id=leads["A"].owner_id, state="handed_off",
                                      is_human_takeover=True))
        session.add(Suppression(owner_id=leads["C"].owner_id, channel="all", reason="opt_out",
                                message_id=replies["C"], created_at=DAY0 + timedelta(hours=5)))
        session.add(ContactImport(source_name="vendor_skip_trace", market_code="orange_fl",
                                  file_name="skip.csv", file_sha256="c" * 64,
                                  rows_read=SKIP_TRACED_ROWS, imported=180,
                                  started_at=datetime(2026, 11, 20, tzinfo=UTC)))
        session.add(PhoneLookup(phone_hash=pii.current_keyring().lookup_hash(
            "phone", leads["A"].phones[0]), cost_usd=0.008, looked_up_at=DAY0))
    record_deal(engine, DealInput(status="under_contract", recorded_by="closer pat",
                                  owner_id=leads["A"].owner_id, contract_price_usd=140_000,
                                  on=date(2026, 11, 28)), now=DAY0 + timedelta(days=5))
    record_deal(engine, DealInput(status="closed", recorded_by="closer pat",
                                  owner_id=leads["A"].owner_id, assignment_fee_usd=FEE,
                                  on=date(2026, 12, 13)), now=DAY0 + timedelta(days=20))
    record_deal(engine, DealInput(status="under_contract", recorded_by="closer pat",
                                  market_code="orange_fl",
                                  parcel_id=f"P{leads['B'].owner_id:06d}",
                                  contract_price_usd=150_000, on=date(2026, 12, 2)),
                now=DAY0 + timedelta(days=9))
    world = World(tmp_path, engine, warehouse, url, leads, touches, replies)
    _stub_properties(warehouse, leads)
    return world


def _sms_cost(world: World) -> tuple[int, float]:
    with ledger_session(world.engine) as session:
        found = session.execute(select(Message.segments, Message.cost_usd).where(
            Message.channel == "sms", Message.direction == "outbound")).all()
    return sum(s for s, _ in found), sum(c for _, c in found)


def test_copy_then_marts_give_the_hand_counted_numbers(world):
    copied = copy(world)
    assert copied["ledger/messages"]["rows_copied"] == 13  # 5 SMS + 5 emails + 3 replies
    assert copied["ledger/deals"]["rows_copied"] == 2
    build_marts(world)

    funnel = {(r[0], r[1]): r[2:] for r in rows(
        world, "SELECT tier, channel, enrolled, contacted, responded, interested, "
               "under_contract, closed, opted_out, response_rate FROM marts.outreach_funnel "
               "WHERE campaign_name = ? AND market_code = 'orange_fl'", [CAMPAIGN])}
    # A: reply, interested, closed; B: reply (email), contract; C: opt-out; D: silence
    assert funnel[("A", "all")] == (4, 4, 3, 2, 2, 1, 1, 0.75)
    assert funnel[("A", "sms")] == (0, 4, 2, 1, 1, 1, 1, 0.5)
    assert funnel[("A", "email")] == (0, 4, 1, 1, 1, 0, 0, 0.25)
    assert funnel[("B+", "all")] == (1, 1, 0, 0, 0, 0, 0, 0.0)

    daily = {(r[0], r[1]): r[2:] for r in rows(
        world, "SELECT sent_on, tier, touch_number, template, sent, delivered, failed, "
               "responses, interested, opt_outs, deals, response_rate, conversion_rate "
               "FROM marts.outreach_daily WHERE campaign_name = ?", [CAMPAIGN])}
    assert daily[(date(2026, 11, 23), "A")] == (1, "sms_intro_v1", 4, 4, 0, 2, 1, 1, 1, 0.5,
                                                0.25)
    assert daily[(date(2026, 11, 23), "B+")] == (1, "sms_intro_v1", 1, 0, 1, 0, 0, 0, 0, 0.0,
                                                 0.0)
    # outboxed email is not "delivered" (nothing reached anyone); B's reply drew the contract
    assert daily[(date(2026, 11, 26), "A")] == (2, "email_intro_v1", 4, 0, 0, 1, 0, 0, 1,
                                                0.25, 0.25)

    attribution = {r[0]: r[1:] for r in rows(
        world, "SELECT owner_id, attribution_method, campaign_name, touch_number, template, "
               "channel, attributed_message_id, revenue_usd FROM marts.deal_attribution")}
    a, b = world.leads["A"].owner_id, world.leads["B"].owner_id
    assert attribution[a] == ("first_reply", CAMPAIGN, 1, "sms_intro_v1", "sms",
                              world.touches[("A", 1)], FEE)
    assert attribution[b] == ("first_reply", CAMPAIGN, 2, "email_intro_v1", "email",
                              world.touches[("B", 2)], 0.0)

    first = {r[0]: r[1:] for r in rows(
        world, "SELECT owner_id, touch_number, hours_to_first_response, first_reply_intent "
               "FROM marts.first_responses")}
    # from the hand-over to Twilio (not the delivery report a minute later) to the reply
    assert first[a] == (1, 2.0, "interested") and first[b] == (2, 1.0, "question")

    segments, sms_cost = _sms_cost(world)
    assert sms_cost == pytest.approx(segments * orange().costs.sms_segment_usd) and sms_cost > 0
    costs = {r[0]: r[1:] for r in rows(
        world, "SELECT cost_type, units, cost_usd FROM marts.costs "
               "WHERE market_code = 'orange_fl' AND month = DATE '2026-11-01'")}
    assert costs["sms"] == (segments, pytest.approx(sms_cost))
    assert costs["email"] == (5, 0.0)  # the outbox costs nothing
    assert costs["skip_trace"] == (SKIP_TRACED_ROWS, pytest.approx(
        SKIP_TRACED_ROWS * orange().costs.skip_trace_usd))
    assert costs["phone_lookup"] == (1, pytest.approx(0.008))
    assert costs["compute"] == (1, COMPUTE_MONTHLY_USD)

    november_cost = sms_cost + SKIP_TRACED_ROWS * orange().costs.skip_trace_usd + 0.008 \
        + COMPUTE_MONTHLY_USD
    roi = {r["month"]: r for r in (one(world, "SELECT * FROM marts.roi WHERE month = ?", [m])
                                   for m in (date(2026, 11, 1), date(2026, 12, 1)))}
    november, december = roi[date(2026, 11, 1)], roi[date(2026, 12, 1)]
    assert november["cost_usd"] == pytest.approx(november_cost)
    assert november["leads_contacted"] == 5 and november["responses"] == 3
    assert november["cost_per_lead_usd"] == pytest.approx(november_cost / 5)
    assert november["deals_under_contract"] == 1 and november["revenue_usd"] == 0
    assert november["break_even_deals"] == 1  # ceil(cost / the market's average fee)
    assert november["roi"] == pytest.approx(-1.0)
    assert december["deals_closed"] == 1 and december["revenue_usd"] == FEE
    assert december["deals_under_contract"] == 1 and december["cost_usd"] == 0
    assert december["roi"] is None and december["cost_per_deal_usd"] == 0
    assert december["cumulative_roi"] == pytest.approx((FEE - november_cost) / november_cost)

    touches = {r[0]: r[1:] for r in rows(
        world, "SELECT touch_number, channel, enrollments, reached, completion_rate, sent, "
               "responses FROM marts.campaign_touches WHERE campaign_name = ?", [CAMPAIGN])}
    assert touches[1] == ("sms", 5, 5, 1.0, 5, 2)
    assert touches[2] == ("email", 5, 5, 1.0, 5, 1)

    queue = one(world, "SELECT owner_id, status, situs_address, tier, score, last_reply_body, "
                       "last_reply_intent, contact_hint, is_human_takeover "
                       "FROM marts.handoff_queue")
    assert queue == {"owner_id": a, "status": "waiting", "situs_address": f"{a} ELM ST",
                     "tier": "A", "score": 90.0,
                     "last_reply_body": "Yes I'd sell. Call me at [phone] or [email]",
                     "last_reply_intent": "interested",
                     "contact_hint": pii.mask_phone(world.leads["A"].phones[0]),
                     "is_human_takeover": True}

    thread = rows(world, "SELECT direction, channel, touch_number, intent, decision, "
                         "is_human_takeover FROM marts.conversations WHERE owner_id = ? "
                         "ORDER BY \"at\", message_id", [a])
    assert thread == [("outbound", "sms", 1, None, None, True),
                      ("inbound", "sms", None, "interested", "handoff", True),
                      ("outbound", "email", 2, None, None, True)]


def test_the_warehouse_holds_no_phone_or_email(world):
    copy(world)
    build_marts(world)
    values = [v for lead in world.leads.values() for v in (*lead.phones, *lead.emails)]
    digits = [v[2:] for v in values if v.startswith("+1")]  # the bare 10 digits too
    with duckdb.connect(str(world.warehouse), read_only=True) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema IN ('ledger', 'marts', 'intermediate')"
                              ).fetchall()
        for schema, table in tables:
            text = repr(conn.execute(f'SELECT * FROM {schema}."{table}"').fetchall())
            for value in (*values, *digits, "407-555-0199", "a@x.com"):
                assert value not in text, f"{value} in {schema}.{table}"
        columns = {r[0] for r in conn.execute("SELECT column_name FROM "
                                              "information_schema.columns WHERE table_schema "
                                              "= 'ledger'").fetchall()}
    assert not columns & {"counterpart", "counterpart_hash", "value", "value_hash",
                          "phone_hash", "idempotency_key", "provider_message_id"}


def test_an_incremental_copy_reads_only_what_changed(world):
    from pipelines.retention import purge_expired

    first = copy(world, overlap_seconds=0, key_overlap=0)
    assert first["ledger/messages"]["mode"] == "full"
    again = copy(world, overlap_seconds=0, key_overlap=0)
    assert {key: meta["rows_copied"] for key, meta in again.items()
            if meta.get("mode") == "incremental"} == {
        "ledger/owners": 0, "ledger/contacts": 0, "ledger/enrollments": 0,
        "ledger/messages": 0, "ledger/lead_status_changes": 0,
        "ledger/conversation_states": 0, "ledger/deals": 0, "ledger/phone_lookups": 0,
        "ledger/compliance_decisions": 0}
    # a changed decision on one reply, a new reply, then the retention purge of old bodies
    with ledger_session(world.engine) as session:
        session.get(Message, world.replies["B"]).decision = "handoff"
    late = reply(world.engine, world.leads["D"], "maybe later", DAY3 + timedelta(hours=3),
                 "not_interested")
    third = copy(world, overlap_seconds=0, key_overlap=0)
    assert third["ledger/messages"]["rows_copied"] == 2
    assert rows(world, "SELECT decision FROM ledger.messages WHERE message_id = ?",
                [world.replies["B"]]) == [("handoff",)]
    purged = purge_expired(world.engine, days=1, now=datetime.now(UTC) + timedelta(days=400))
    assert purged.message_bodies_purged > 0
    fourth = copy(world, overlap_seconds=0, key_overlap=0)
    assert fourth["ledger/messages"]["rows_copied"] == purged.message_bodies_purged
    bodies = dict(rows(world, "SELECT message_id, body FROM ledger.messages"))
    assert bodies[late] is None and bodies[world.replies["C"]] == "STOP"  # opt-out evidence
    assert rows(world, "SELECT count(*) FROM ledger.messages")[0][0] == 14


def test_dbt_unit_tests_for_attribution_rates_and_roi(world, tmp_path):
    copy(world)
    build_marts(world)  # unit tests read the input relations' columns
    project = ROOT / "dbt_project"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--select",
         "test_type:unit,tag:outreach", "--profiles-dir", str(project),
         "--target-path", str(tmp_path / "dbt_unit_target")],
        cwd=project, env={**os.environ, "WHOLESALER_WAREHOUSE_PATH": str(world.warehouse)},
        capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-4000:]
    results = json.loads((tmp_path / "dbt_unit_target" / "run_results.json").read_text())
    passed = {r["unique_id"].split(".")[-1] for r in results["results"] if r["status"] == "pass"}
    assert {"test_reply_attribution_prefers_the_thread_then_the_latest_touch",
            "test_daily_rates_divide_by_touches_sent",
            "test_roi_cost_per_lead_break_even_and_running_totals",
            "test_deal_attribution_to_the_first_reply_touch"} <= passed


def test_publish_carries_the_outreach_marts(world, monkeypatch):
    from pipelines.publish import OUTREACH_TABLES, publish

    copy(world)
    build_marts(world)
    with duckdb.connect(str(world.warehouse)) as conn:
        # the roll's marts the lead tables read (empty: this warehouse has no roll)
        conn.execute("CREATE TABLE marts.lead_scores (property_id VARCHAR, market_code VARCHAR, "
                     "tier VARCHAR)")
        conn.execute("CREATE TABLE marts.offers (property_id VARCHAR, market_code VARCHAR, "
                     "arv DOUBLE, arv_low DOUBLE, arv_high DOUBLE, comp_count INTEGER, "
                     "confidence DOUBLE, repair_tier VARCHAR, repair_estimate DOUBLE, "
                     "offer_min DOUBLE, offer_max DOUBLE)")
        conn.execute("CREATE TABLE marts.valuations (property_id VARCHAR, market_code VARCHAR, "
                     "arv DOUBLE)")
        conn.execute("CREATE TABLE marts.comps (subject_property_id VARCHAR)")
        for column, kind in (("owner_city", "VARCHAR"), ("owner_state", "VARCHAR"),
                             ("is_absentee_owner", "BOOLEAN"),
                             ("is_out_of_state_owner", "BOOLEAN"), ("just_value", "DOUBLE")):
            conn.execute(f"ALTER TABLE marts.properties ADD COLUMN {column} {kind}")
        folder = publish(conn, world.root / "published")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(OUTREACH_TABLES) <= set(manifest["rows"])
    assert manifest["rows"]["deals"] == 2 and manifest["rows"]["conversations"] == 13
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(world.root))
    from dashboards.data import _query

    funnel = _query.__wrapped__(str(folder), "SELECT sum(closed) FROM outreach_funnel "
                                             "WHERE channel = 'all'")
    assert int(funnel.iloc[0, 0]) == 1


def test_publish_without_outreach_marts_leaves_them_out(tmp_path):
    from test_dashboards import _marts

    from pipelines.publish import OUTREACH_TABLES, publish

    with _marts(tmp_path / "w.duckdb") as conn:  # the lead marts only
        folder = publish(conn, tmp_path / "published")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["rows"]) == {"leads", "comps", "market_summary"}
    assert not set(OUTREACH_TABLES) & {p.stem for p in folder.iterdir()}


def test_materialize_market_never_runs_the_outreach_marts():
    from pipelines.definitions import defs
    from pipelines.defs.jobs import materialize_market, outreach_analytics

    graph = defs().resolve_asset_graph()
    per_market = {key.to_user_string() for key in materialize_market.selection.resolve(graph)}
    assert not any(key.startswith(("ledger/", "config/")) for key in per_market)
    assert "marts/outreach_funnel" not in per_market and "marts/lead_scores" in per_market
    analytics = {key.to_user_string() for key in outreach_analytics.selection.resolve(graph)}
    assert {"ledger/messages", "config/market_costs", "staging/stg_ledger__messages",
            "marts/outreach_funnel", "marts/roi", "marts/deal_attribution"} <= analytics
    assert "marts/lead_scores" not in analytics
    assert all(graph.get(dg.AssetKey.from_user_string(key)).partitions_def is None
               for key in analytics)


# ------------------------------------------------------------------------------------------
# deals


def test_deal_rules_and_the_lead_status_and_audit(world):
    a = world.leads["A"]
    with pytest.raises(DealError, match="already closed"):
        record_deal(world.engine, DealInput(status="closed", recorded_by="x", owner_id=a.owner_id,
                                            assignment_fee_usd=1.0),
                    now=DAY0 + timedelta(days=30))
    with pytest.raises(DealError, match="needs its assignment fee"):
        record_deal(world.engine, DealInput(status="closed", recorded_by="x",
                                            owner_id=world.leads["B"].owner_id))
    with pytest.raises(DealError, match="no deal under contract to cancel"):
        record_deal(world.engine, DealInput(status="cancelled", recorded_by="x",
                                            owner_id=world.leads["C"].owner_id))
    with pytest.raises(DealError, match="in the future"):
        record_deal(world.engine, DealInput(status="under_contract", recorded_by="x",
                                            owner_id=world.leads["C"].owner_id,
                                            on=date.today() + timedelta(days=2)))
    with pytest.raises(DealError, match="no such owner"):
        record_deal(world.engine, DealInput(status="under_contract", recorded_by="x",
                                            owner_id=999_999))
    with pytest.raises(DealError, match="not linked"):
        record_deal(world.engine, DealInput(status="under_contract", recorded_by="x",
                                            owner_id=a.owner_id, parcel_id="NOPE"))
    with pytest.raises(DealError, match="must be one of"):
        record_deal(world.engine, DealInput(status="won", recorded_by="x", owner_id=a.owner_id))
    b = world.leads["B"].owner_id
    cancelled = record_deal(world.engine, DealInput(status="cancelled", recorded_by="closer pat",
                                                    owner_id=b, on=date(2026, 12, 5)),
                            now=DAY0 + timedelta(days=12))
    assert cancelled.status == "cancelled" and not cancelled.created
    with ledger_session(world.engine) as session:
        statuses = session.scalars(select(LeadStatusChange.status)
                                   .where(LeadStatusChange.owner_id == a.owner_id)
                                   .order_by(LeadStatusChange.lead_status_change_id)).all()
        audit = session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity_type == "deal").order_by(AuditEntry.audit_id)).all()
    assert statuses[-2:] == ["under_contract", "closed"]
    assert audit == ["deal_recorded", "deal_closed", "deal_recorded", "deal_cancelled"]
    assert [d.status for d in list_deals(world.engine, "orange_fl")] == ["cancelled", "closed"]


def test_deals_cli_records_and_lists(world, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("WHOLESALER_LEDGER_URL", world.ledger_url)
    runner = CliRunner()
    c = world.leads["C"]
    result = runner.invoke(app, ["deals", "record", "--market", "orange_fl", "--parcel-id",
                                 f"P{c.owner_id:06d}", "--status", "under_contract",
                                 "--contract-price", "99000", "--by", "sam"])
    assert result.exit_code == 0, result.output
    assert "recorded" in result.output and "under_contract" in result.output
    bad = runner.invoke(app, ["deals", "record", "--owner-id", str(c.owner_id), "--status",
                              "closed", "--by", "sam"])
    assert bad.exit_code == 2 and "assignment fee" in bad.output
    bad_date = runner.invoke(app, ["deals", "record", "--owner-id", str(c.owner_id), "--status",
                                   "closed", "--assignment-fee", "9000", "--on", "12/01/2026",
                                   "--by", "sam"])
    assert bad_date.exit_code != 0 and "YYYY-MM-DD" in bad_date.output
    listed = runner.invoke(app, ["deals", "list", "--status", "under_contract"])
    assert listed.exit_code == 0 and f"P{c.owner_id:06d}" in listed.output


# ------------------------------------------------------------------------------------------
# PostgreSQL


def test_copy_from_a_postgresql_ledger(postgres_ledger, pii_keys, tmp_path, monkeypatch):
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    load_lists(postgres_ledger)
    leads = {"A": add_lead(postgres_ledger, phones=["+14075550150"])}
    day0 = send_due(postgres_ledger, drip(), orange(), DAY0,
                    channels=Channels.outbox(tmp_path / "outbox"), config=CONFIG)
    assert day0.outboxed == 1
    touch = _touch_ids(postgres_ledger, leads)[("A", 1)]
    reply(postgres_ledger, leads["A"], "yes, call 407 555 0150", DAY0 + timedelta(hours=1),
          "interested", in_reply_to=touch, sentiment=0.5)
    world = World(tmp_path, postgres_ledger, tmp_path / "w.duckdb",
                  postgres_ledger.url.render_as_string(hide_password=False), leads, {}, {})
    copied = copy(world)
    assert copied["ledger/messages"]["rows_copied"] == 2
    assert rows(world, "SELECT direction, body, json_extract_string(classification, "
                       "'$.intent') FROM ledger.messages WHERE direction = 'inbound'") == [
        ("inbound", "yes, call [phone]", "interested")]
    again = copy(world, overlap_seconds=0, key_overlap=0)
    assert again["ledger/messages"]["rows_copied"] == 0
