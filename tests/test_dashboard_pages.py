"""The dashboard pages over a snapshot with outreach (AppTest, and Chromium via Playwright):
every page for a viewer and a closer with numbers matching the fixture; empty states without
a snapshot and without outreach tables; no full phone or email shown to a viewer; the closer's
ledger actions (reveal one owner's contacts, claim a handoff) with their audit entries; sign-in
with a users file and roles.

The snapshot is written by the real publish (pipelines/publish.py) from a small warehouse
whose outreach marts follow the contract in the marts (dbt_project/models/marts/outreach);
the ledger is a real SQLite ledger migrated to head with real encrypted contacts.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from dashboard_fixtures import create_lead_marts
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboards import access
from dashboards.masking import find_contacts, redact_text
from pipelines.publish import publish

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "streamlit_app.py"
PAGES = ROOT / "dashboards" / "app_pages"
PAGE_NAMES = ("overview", "campaigns", "conversations", "roi", "leads", "handoffs")
OUTREACH_PAGES = ("campaigns", "conversations", "roi", "handoffs")
PASSWORD = "correct horse battery"

# Full contact values that exist only in the ledger, plus one phone and one email that slipped
# into free text (the marts redact bodies; the dashboards redact again for viewers).
LEDGER_PHONE = "+14075550142"
LEDGER_EMAIL = "jo.seller@example.com"
SLIPPED_PHONE = "407 555 0199"
SLIPPED_EMAIL = "pat.owner@example.org"
FULL_VALUES = (LEDGER_PHONE, "4075550142", LEDGER_EMAIL, SLIPPED_PHONE, SLIPPED_EMAIL)


def _outreach_marts(conn: duckdb.DuckDBPyConnection) -> None:
    """Outreach marts as docs/published_tables.md defines them: campaign `cash_offer`
    (SMS, 2 touches) in orange_fl, `probate_letters` (email, 1 touch) in lake_fl; three
    conversations (owner 501 interested and handed off, 502 opted out, 503 asked a question
    and was taken over); deals closed 2026-10-15 (SMS, $12,000) and 2026-11-02 (unattributed,
    $8,000), one under contract (email)."""
    conn.execute("""CREATE TABLE marts.outreach_daily AS SELECT * FROM (VALUES
        (DATE '2026-09-01', 'orange_fl', 'cash_offer', 'A', 'sms', 1, 'cash_offer_1',
         100, 95, 5, 2, 120, 10, 4, 2, 1, 0.95),
        (DATE '2026-09-08', 'orange_fl', 'cash_offer', 'A', 'sms', 2, 'cash_offer_2',
         80, 78, 2, 0, 80, 6, 2, 1, 0, 0.64),
        (DATE '2026-10-01', 'lake_fl', 'probate_letters', 'B+', 'email', 1, 'probate_1',
         50, 49, 1, 0, 0, 4, 1, 0, 1, 0.0))
        AS t(sent_on, market_code, campaign_name, tier, channel, touch_number, template,
             sent, delivered, failed, refused, segments, responses, interested, opt_outs,
             deals, cost_usd)""")
    conn.execute("""ALTER TABLE marts.outreach_daily ADD COLUMN response_rate DOUBLE""")
    conn.execute("""UPDATE marts.outreach_daily SET response_rate = responses / sent""")
    conn.execute("""CREATE TABLE marts.outreach_funnel AS SELECT * FROM (VALUES
        ('orange_fl', 'cash_offer', 'A', 'all', 120, 100, 12, 5, 1, 1, 2),
        ('orange_fl', 'cash_offer', 'A', 'sms', 0, 100, 12, 5, 1, 1, 2),
        ('lake_fl', 'probate_letters', 'B+', 'all', 60, 50, 4, 1, 1, 0, 0),
        ('lake_fl', 'probate_letters', 'B+', 'email', 0, 50, 4, 1, 1, 0, 0))
        AS t(market_code, campaign_name, tier, channel, enrolled, contacted, responded,
             interested, under_contract, closed, opted_out)""")
    conn.execute("""CREATE TABLE marts.campaign_touches AS SELECT * FROM (VALUES
        ('cash_offer', 'orange_fl', 1, 'sms', 'cash_offer_1', 120, 100, 100, 95, 5, 2, 10, 4,
         2, 0.95),
        ('cash_offer', 'orange_fl', 2, 'sms', 'cash_offer_2', 120, 80, 80, 78, 2, 0, 6, 2, 1,
         0.64),
        ('probate_letters', 'lake_fl', 1, 'email', 'probate_1', 60, 50, 50, 49, 1, 0, 4, 1, 0,
         0.0))
        AS t(campaign_name, market_code, touch_number, channel, template, enrollments,
             reached, sent, delivered, failed, refused, responses, interested, opt_outs,
             cost_usd)""")
    conn.execute(f"""CREATE TABLE marts.conversations AS SELECT * FROM (VALUES
        (1, 501, 'orange_fl', 'cash_offer', '1', 'A', 'outbound', 'sms', 'touch', 1,
         'cash_offer_1', 'delivered', TIMESTAMP '2026-09-01 14:00:00', NULL,
         'Hi Pat, would you take a cash offer for 12 Elm St? Reply STOP to opt out.', false,
         NULL, NULL, NULL, NULL, NULL, NULL, false, 'handed_off', '(407) ***-**42'),
        (2, 501, 'orange_fl', 'cash_offer', '1', 'A', 'inbound', 'sms', NULL, NULL, NULL,
         'received', TIMESTAMP '2026-09-01 15:10:00', NULL,
         'Yes maybe. Call me on my other line {SLIPPED_PHONE}', false, 1, 'interested', 0.62,
         0.91, false, 'handoff', false, 'handed_off', '(407) ***-**42'),
        (3, 502, 'orange_fl', 'cash_offer', '2', 'B+', 'outbound', 'sms', 'touch', 1,
         'cash_offer_1', 'delivered', TIMESTAMP '2026-09-02 14:00:00', NULL,
         'Hi, would you take a cash offer? Reply STOP to opt out.', false, NULL, NULL, NULL,
         NULL, NULL, NULL, false, 'stopped', '(321) ***-**07'),
        (4, 502, 'orange_fl', 'cash_offer', '2', 'B+', 'inbound', 'sms', NULL, NULL, NULL,
         'received', TIMESTAMP '2026-09-02 14:30:00', NULL, 'STOP', false, 3, 'opt_out', -0.4,
         1.0, true, 'stop', false, 'stopped', '(321) ***-**07'),
        (5, 503, 'lake_fl', 'probate_letters', '9', 'A', 'outbound', 'email', 'touch', 1,
         'probate_1', 'sent', TIMESTAMP '2026-10-01 13:00:00', 'About your property on 9 Lake Ave',
         'Dear owner, we buy houses as they are.', false, NULL, NULL, NULL, NULL, NULL, NULL,
         true, 'human', 'j***@example.com'),
        (6, 503, 'lake_fl', 'probate_letters', '9', 'A', 'inbound', 'email', NULL, NULL, NULL,
         'received', TIMESTAMP '2026-10-02 09:00:00', 'Re: About your property',
         'What would you offer? Write to {SLIPPED_EMAIL}', false, 5, 'question', 0.1, 0.7,
         false, 'handoff', true, 'human', 'j***@example.com'),
        (7, 503, 'lake_fl', 'probate_letters', '9', 'A', 'outbound', 'email', 'auto_reply',
         NULL, NULL, 'sent', TIMESTAMP '2026-10-02 09:05:00', NULL, NULL, true, 6, NULL,
         NULL, NULL, NULL, NULL, true, 'human', 'j***@example.com'))
        AS t(message_id, owner_id, market_code, campaign_name, parcel_id, tier, direction,
             channel, purpose, touch_number, template, status, "at", subject, body,
             is_body_purged, in_reply_to_id, intent, sentiment, intent_confidence, is_opt_out,
             decision, is_human_takeover, conversation_state, contact_hint)""")
    conn.execute(f"""CREATE TABLE marts.handoff_queue AS SELECT * FROM (VALUES
        (11, 501, 'orange_fl', 'waiting', 'interested reply', NULL, NULL,
         TIMESTAMP '2026-09-01 15:11:00', NULL, 30.5, '1', 'orange_fl-1', '12 ELM ST',
         'ORLANDO', 'PAT OWNER', 'A', 61.0, 'cash_offer', TIMESTAMP '2026-09-01 15:10:00',
         'Yes maybe. Call me on my other line {SLIPPED_PHONE}', 'interested', 0.62,
         '(407) ***-**42', false),
        (12, 503, 'lake_fl', 'claimed', 'question needs a person', 'sam', 'sam',
         TIMESTAMP '2026-10-02 09:01:00', TIMESTAMP '2026-10-02 10:00:00', 2.0, '9',
         'lake_fl-9', '9 LAKE AVE', 'TAVARES', 'JO SELLER', 'A', 44.0, 'probate_letters',
         TIMESTAMP '2026-10-02 09:00:00', 'What would you offer? Write to {SLIPPED_EMAIL}',
         'question', 0.1, 'j***@example.com', true))
        AS t(handoff_id, owner_id, market_code, status, reason, closer, claimed_by,
             created_at, claimed_at, hours_waiting, parcel_id, property_id, situs_address,
             situs_city, owner_name, tier, score, campaign_name, last_reply_at,
             last_reply_body, last_reply_intent, last_reply_sentiment, contact_hint,
             is_human_takeover)""")
    conn.execute("""CREATE TABLE marts.costs AS SELECT * FROM (VALUES
        (DATE '2026-09-01', 'orange_fl', 'sms', 200.0, NULL, 1.58, 'ledger'),
        (DATE '2026-09-01', 'orange_fl', 'skip_trace', 1000.0, 0.10, 100.0, 'rows read'),
        (DATE '2026-10-01', 'lake_fl', 'email', 50.0, 0.001, 0.05, 'per email'),
        (DATE '2026-10-01', 'lake_fl', 'phone_lookup', 100.0, 0.008, 0.80, 'lookups'),
        (DATE '2026-11-01', 'orange_fl', 'compute', 1.0, 20.0, 20.0, 'monthly'))
        AS t(month, market_code, cost_type, units, unit_cost_usd, cost_usd, note)""")
    conn.execute("""CREATE TABLE marts.deals AS SELECT * FROM (VALUES
        (21, 501, 'orange_fl', '1', 'orange_fl-1', 'closed', 150000.0, 12000.0, 12000.0,
         DATE '2026-09-20', DATE '2026-10-15', true, false, 'sam', 'cash_offer', 'sms',
         'cash_offer_1', 1),
        (22, 503, 'lake_fl', '9', 'lake_fl-9', 'under_contract', 90000.0, 9000.0, 0.0,
         DATE '2026-10-20', NULL, false, false, 'sam', 'probate_letters', 'email',
         'probate_1', 1),
        (23, 777, 'orange_fl', '2', 'orange_fl-2', 'closed', 120000.0, 8000.0, 8000.0,
         DATE '2026-10-01', DATE '2026-11-02', true, false, 'sam', NULL, NULL, NULL, NULL))
        AS t(deal_id, owner_id, market_code, parcel_id, property_id, status,
             contract_price_usd, assignment_fee_usd, revenue_usd, contracted_on, closed_on,
             is_closed, is_cancelled, recorded_by, campaign_name, channel, template,
             touch_number)""")
    conn.execute("""CREATE TABLE marts.roi AS SELECT * FROM (VALUES
        (DATE '2026-09-01', 'orange_fl', 100, 12, 5, 0, 0, 0.0, 101.58, 10000.0),
        (DATE '2026-10-01', 'orange_fl', 0, 0, 0, 1, 1, 12000.0, 0.0, 10000.0),
        (DATE '2026-10-01', 'lake_fl', 50, 4, 1, 1, 0, 0.0, 0.85, 10000.0),
        (DATE '2026-11-01', 'orange_fl', 0, 0, 0, 0, 1, 8000.0, 20.0, 10000.0))
        AS t(month, market_code, leads_contacted, responses, interested,
             deals_under_contract, deals_closed, revenue_usd, cost_usd,
             average_assignment_fee_usd)""")


def _ledger(data_dir: Path) -> None:
    """The ledger behind the fixture: owners 501 and 503 with their contacts (encrypted) and
    messages, and handoffs 11 (waiting) and 12 (claimed by sam)."""
    from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
    from outreach.ledger.models import Contact, Handoff, Message, Owner
    from outreach.ledger.pii import current_keyring, mask_email, mask_phone

    engine = ledger_engine(f"sqlite:///{data_dir / 'outreach.db'}")
    upgrade_ledger(engine)
    keyring = current_keyring()
    with ledger_session(engine) as session:
        for owner_id, name, market in ((501, "PAT OWNER", "orange_fl"),
                                       (503, "JO SELLER", "lake_fl")):
            session.add(Owner(owner_id=owner_id, market_code=market, owner_key=name,
                              owner_name=name))
        session.flush()
        contacts = [
            Contact(contact_id=1, owner_id=501, channel="phone", value=LEDGER_PHONE,
                    value_hash=keyring.lookup_hash("phone", LEDGER_PHONE),
                    value_hint=mask_phone(LEDGER_PHONE), is_valid=True, confidence=0.9),
            Contact(contact_id=2, owner_id=503, channel="email", value=LEDGER_EMAIL,
                    value_hash=keyring.lookup_hash("email", LEDGER_EMAIL),
                    value_hint=mask_email(LEDGER_EMAIL), is_valid=True, confidence=0.8)]
        session.add_all(contacts)
        session.flush()
        at = datetime(2026, 9, 1, 15, 10, tzinfo=UTC)
        session.add_all([
            Message(message_id=2, direction="inbound", channel="sms", owner_id=501,
                    contact_id=1, provider="twilio", status="received", created_at=at),
            Message(message_id=6, direction="inbound", channel="email", owner_id=503,
                    contact_id=2, provider="smtp", status="received", created_at=at)])
        session.flush()
        session.add_all([
            Handoff(handoff_id=11, owner_id=501, market_code="orange_fl", trigger_message_id=2,
                    reason="interested reply", status="waiting", created_at=at),
            Handoff(handoff_id=12, owner_id=503, market_code="lake_fl", trigger_message_id=6,
                    reason="question needs a person", status="claimed", claimed_by="sam",
                    claimed_at=at, created_at=at)])
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path, monkeypatch, pii_keys) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(folder))
    monkeypatch.delenv("WHOLESALER_LEDGER_URL", raising=False)
    monkeypatch.setenv("WHOLESALER_DASHBOARD_PASSWORD", PASSWORD)
    monkeypatch.delenv(access.USERS_ENV, raising=False)
    return folder


@pytest.fixture
def outreach(data_dir, tmp_path) -> Path:
    """A published snapshot with leads and outreach, and the ledger behind it."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        create_lead_marts(conn)
        _outreach_marts(conn)
        folder = publish(conn)
    _ledger(data_dir)
    return folder


@pytest.fixture
def leads_only(data_dir, tmp_path) -> Path:
    """A snapshot from a warehouse without outreach marts (the tables are not published)."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        create_lead_marts(conn)
        return publish(conn)


def _page(name: str, role: str = "viewer", user: str | None = None) -> AppTest:
    app = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=30)
    app.session_state["role"] = role
    app.session_state["user"] = user or role
    app.run()
    assert not app.exception, app.exception
    return app


def _texts(app: AppTest) -> list[str]:
    """Every text the page rendered: markdown, captions, metrics, infos, code, dataframes."""
    texts: list[str] = []
    for kind in ("markdown", "caption", "text", "info", "warning", "error", "success", "code",
                 "header", "subheader", "title"):
        texts += [str(element.value) for element in getattr(app, kind)]
    texts += [f"{m.label} {m.value} {m.help or ''}" for m in app.metric]
    texts += [frame.value.to_csv() for frame in app.dataframe]
    for widget in ("selectbox", "multiselect"):
        for element in getattr(app, widget):
            texts += [str(option) for option in element.options]
    return texts


def _rendered(app: AppTest) -> str:
    return "\n".join(_texts(app))


def test_the_fixture_snapshot_holds_the_outreach_tables(outreach):
    from dashboards import data

    current = data.snapshot()
    assert current is not None and current.folder == outreach
    for table in ("outreach_daily", "outreach_funnel", "campaign_touches", "conversations",
                  "handoff_queue", "costs", "deals", "roi"):
        assert data.has_tables(current, table), table


@pytest.mark.parametrize("role", ["viewer", "closer"])
@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_renders_with_outreach_and_shows_no_full_contact_to_a_viewer(
        outreach, page, role):
    app = _page(page, role)
    shown = _rendered(app)
    assert "Snapshot published" in shown  # the page ran to its end
    assert not app.error
    if role == "viewer":
        assert not [value for value in FULL_VALUES if value in shown]
        assert find_contacts(shown) == [], find_contacts(shown)


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_explains_what_to_run_without_a_snapshot(data_dir, page):
    app = _page(page)
    assert any("wholesaler demo" in info.value for info in app.info)
    assert not app.error


@pytest.mark.parametrize("page", (*OUTREACH_PAGES, "overview"))
def test_outreach_pages_explain_what_to_run_when_the_snapshot_has_no_outreach(
        leads_only, page):
    app = _page(page)
    assert any("No outreach" in info.value and "wholesaler demo" in info.value
               and "outreach_for_market" in info.value for info in app.info)


def test_overview_cards_match_the_fixture_and_follow_the_channel_and_dates(outreach):
    app = _page("overview")
    cards = {m.label: m.value for m in app.metric}
    assert cards["Scored parcels"] == "4"
    assert cards["Sent"] == "230"  # 100 + 80 SMS, 50 email
    assert cards["Response rate"] == "8.7%"  # 20 / 230
    assert cards["Interested"] == "7"
    assert cards["Deals"] == "2"  # closed 2026-10-15 and 2026-11-02
    assert cards["Revenue"] == "$20,000"
    assert cards["Cost"] == "$122"  # 1.58 + 100 + 0.05 + 0.80 + 20
    assert cards["ROI"] == f"{(20000 - 122.43) / 122.43:.0%}"
    funnel = app.get("vega_lite_chart")
    assert len(funnel) == 2, "the tier chart and the funnel chart are drawn"

    app.get("button_group")[0].set_value("SMS").run()
    cards = {m.label: m.value for m in app.metric}
    assert (cards["Sent"], cards["Response rate"], cards["Deals"], cards["Revenue"],
            cards["Cost"]) == ("180", "8.9%", "1", "$12,000", "$2")

    app.get("button_group")[0].set_value("All").run()
    app.date_input[0].set_value((date(2026, 9, 1), date(2026, 9, 30))).run()
    cards = {m.label: m.value for m in app.metric}
    assert (cards["Sent"], cards["Deals"], cards["Revenue"], cards["Cost"]) == (
        "180", "0", "$0", "$102")


def test_campaigns_per_campaign_and_per_touch(outreach):
    app = _page("campaigns")
    summary = app.dataframe[0].value.set_index("campaign")
    assert summary.loc["cash_offer", "enrollments"] == 120
    assert summary.loc["cash_offer", "completed"] == 80  # reached the last touch
    assert summary.loc["cash_offer", "completion_rate"] == pytest.approx(80 / 120)
    assert summary.loc["cash_offer", "sent"] == 180
    assert summary.loc["cash_offer", "response_rate"] == pytest.approx(16 / 180)
    assert summary.loc["probate_letters", "cost_usd"] == 0
    touches = app.dataframe[1].value
    assert list(zip(touches["campaign"], touches["touch"], touches["sent"], strict=True)) == [
        ("cash_offer", 1, 100), ("cash_offer", 2, 80), ("probate_letters", 1, 50)]
    app.multiselect[0].set_value(["lake_fl"]).run()
    assert list(app.dataframe[0].value["campaign"]) == ["probate_letters"]


def test_conversations_threads_filters_and_marks(outreach):
    app = _page("conversations")
    listed = app.dataframe[0].value
    assert list(listed["owner_id"]) == [503, 502, 501]  # most recent first
    assert listed.set_index("owner_id").loc[503, "mark"] == "🙋 taken over"
    shown = _rendered(app)
    assert "A person has taken over this conversation" in shown  # thread 503 opens first
    assert "question" in shown and "sentiment +0.10" in shown
    assert "(body purged by retention)" in shown

    app.multiselect[1].set_value(["opt_out"]).run()
    assert list(app.dataframe[0].value["owner_id"]) == [502]
    app.multiselect[1].set_value([]).run()
    app.selectbox[0].set_value("Not taken over").run()
    assert list(app.dataframe[0].value["owner_id"]) == [502, 501]
    app.date_input[0].set_value((date(2026, 9, 1), date(2026, 9, 1))).run()
    assert list(app.dataframe[0].value["owner_id"]) == [501]


def test_conversations_show_free_text_as_written_to_a_closer_only(outreach):
    viewer = _rendered(_page("conversations", "viewer"))
    closer = _rendered(_page("conversations", "closer"))
    assert SLIPPED_EMAIL not in viewer and redact_text(SLIPPED_EMAIL) in viewer
    assert SLIPPED_EMAIL in closer


def test_the_conversations_export_is_masked_whoever_exports(outreach):
    from dashboards import data

    exported = data.conversations_csv(data.snapshot(), ("orange_fl", "lake_fl"), (), None,
                                      date(2026, 9, 1), date(2026, 10, 2))
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert len(rows) == 7 and {row["owner_id"] for row in rows} == {"501", "502", "503"}
    text = exported.decode()
    assert find_contacts(text) == [] and SLIPPED_PHONE not in text
    assert "•••-•••-0199" in text and "(407) ***-**42" in text


def test_roi_figures_and_break_even(outreach):
    app = _page("roi")
    cards = {m.label: m.value for m in app.metric}
    assert cards["Cost"] == "$122" and cards["Revenue"] == "$20,000"
    assert cards["Cost per lead"] == f"${122.43 / 150:,.2f}"
    assert cards["Cost per deal"] == "$61"
    assert cards["Break-even"] == "1 deal"  # ceil(122.43 / 10,000 average fee)
    assert any("Past break-even" in s.value for s in app.success)
    monthly = app.dataframe[0].value
    assert list(monthly["cumulative_revenue_usd"]) == [0.0, 12000.0, 20000.0]
    app.multiselect[0].set_value(["lake_fl"]).run()
    cards = {m.label: m.value for m in app.metric}
    assert cards["Cost"] == "$1" and cards["Revenue"] == "$0"
    assert any("more closed deals to break even" in w.value for w in app.warning)


def test_leads_say_there_is_no_map_without_coordinates(outreach):
    app = _page("leads")
    assert any("No map" in c.value and "no coordinates" in c.value for c in app.caption)
    assert set(app.dataframe[0].value["parcel_id"]) == {"1", "2", "9"}


def test_leads_explain_an_empty_snapshot(data_dir, tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        create_lead_marts(conn)
        conn.execute("DELETE FROM marts.lead_scores")
        publish(conn)
    app = _page("leads")
    assert any("No scored leads" in info.value and "wholesaler demo" in info.value
               for info in app.info)


def test_leads_draw_a_map_once_the_published_leads_carry_coordinates(
        data_dir, tmp_path, monkeypatch):
    """No mart has coordinates today; this publishes `leads` with two added columns, as a
    future parcel-geometry mart would, to show the page's map path works."""
    from pipelines import publish as publishing

    monkeypatch.setitem(publishing.TABLES, "leads", publishing.TABLES["leads"].replace(
        "SELECT l.*,", "SELECT l.*, 28.5 + l.score / 1000 AS latitude, -81.4 AS longitude,"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        create_lead_marts(conn)
        publish(conn)
    app = _page("leads")
    assert any("Map: 3 leads with coordinates" in c.value for c in app.caption)
    charts = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    assert any(chart.get("projection", {}).get("type") == "mercator" for chart in charts)


def test_handoffs_for_a_viewer_show_hints_and_no_actions(outreach):
    app = _page("handoffs")
    queue = app.dataframe[0].value
    assert list(queue["handoff_id"]) == [11, 12]
    assert list(queue["contact_hint"]) == ["(407) ***-**42", "j***@example.com"]
    assert not app.button  # no claim, no reveal
    shown = _rendered(app)
    assert "A closer sees the full phone and email" in shown
    assert "•••-•••-0199" in shown and SLIPPED_PHONE not in shown


def _audit(data_dir: Path) -> list[tuple[str, str, str | None]]:
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.models import AuditEntry

    engine = ledger_engine(f"sqlite:///{data_dir / 'outreach.db'}")
    with ledger_session(engine) as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.action,
                                      AuditEntry.entity_id).order_by(AuditEntry.audit_id))
        found = [tuple(row) for row in rows]
    engine.dispose()
    return found


def test_a_closer_reveals_one_owners_contacts_from_the_ledger_with_an_audit_entry(
        outreach, data_dir):
    app = _page("handoffs", "closer", "alex")
    assert LEDGER_PHONE not in _rendered(app)
    reveal = next(b for b in app.button if b.label == "Show full phone and email")
    reveal.click().run()
    assert not app.exception, app.exception
    assert any(LEDGER_PHONE in code.value for code in app.code)
    assert ("dashboard:alex", "contacts_revealed", "501") in _audit(data_dir)


def test_a_closer_claims_a_waiting_handoff_once(outreach, data_dir):
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.models import Handoff

    app = _page("handoffs", "closer", "alex")
    next(b for b in app.button if b.label == "Claim this handoff").click().run()
    assert any("Claimed by alex" in s.value for s in app.success)
    engine = ledger_engine(f"sqlite:///{data_dir / 'outreach.db'}")
    with ledger_session(engine) as session:
        handoff = session.get(Handoff, 11)
        assert (handoff.status, handoff.claimed_by) == ("claimed", "alex")
        assert handoff.claimed_at is not None
    engine.dispose()
    assert ("dashboard:alex", "handoff_claimed", "11") in _audit(data_dir)

    again = _page("handoffs", "closer", "sam")  # the snapshot still says waiting
    assert not [b for b in again.button if b.label == "Claim this handoff"]
    assert any("Ledger status: claimed by alex" in i.value for i in again.info)
    app = _page("handoffs", "closer", "alex")
    app.selectbox[0].set_value(app.selectbox[0].options[1]).run()
    assert any("claimed by sam" in i.value for i in app.info)


# --- sign-in and roles ---------------------------------------------------------------------

def test_passwords_are_scrypt_hashed_and_checked(data_dir):
    stored = access.hash_password("s3cret-enough-pass")
    assert stored.startswith("scrypt$16384$8$1$") and "s3cret" not in stored
    assert access.verify_password("s3cret-enough-pass", stored)
    assert not access.verify_password("wrong", stored)


def test_a_bad_users_file_names_the_file_and_the_field(data_dir, tmp_path, monkeypatch):
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  pat:\n    role: boss\n    password_hash: nope\n")
    monkeypatch.setenv(access.USERS_ENV, str(path))
    with pytest.raises(access.DashboardConfigError) as error:
        access.authenticate("pat", "x")
    assert str(path) in str(error.value)
    assert "users.pat.role" in str(error.value) and "users.pat.password_hash" in str(error.value)
    monkeypatch.setenv(access.USERS_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(access.DashboardConfigError, match="WHOLESALER_DASHBOARD_USERS"):
        access.users_file_path()


def test_the_shared_password_signs_in_a_viewer(data_dir):
    assert access.authenticate("", PASSWORD) == access.SignedIn("viewer", "viewer")
    assert access.authenticate("", "wrong") is None


def _sign_in(app: AppTest, user: str, password: str) -> AppTest:
    app.text_input[0].input(user)
    app.text_input[1].input(password)
    app.button[0].click().run()
    assert not app.exception, app.exception
    return app


def test_users_sign_in_with_their_role_and_the_shared_password_stops_working(
        outreach, tmp_path, monkeypatch):
    path = tmp_path / "secrets" / "users.yaml"
    access.add_user(path, "alex", "closer", "alex-password-long")
    access.add_user(path, "val", "viewer", "val-password-long")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(access.USERS_ENV, str(path))

    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    assert [t.label for t in app.text_input] == ["User", "Password"]
    _sign_in(app, "alex", PASSWORD)
    assert app.error and not app.metric  # the shared password is not accepted
    _sign_in(app, "alex", "alex-password-long")
    assert app.session_state["role"] == "closer"
    assert any("Signed in as **alex** (closer)" in c.value for c in app.sidebar.caption)

    app = _sign_in(AppTest.from_file(str(APP), default_timeout=30).run(), "val",
                   "val-password-long")
    assert app.session_state["role"] == "viewer" and app.metric


# --- the real app in Chromium ---------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# What each page shows once its main content is there (besides the footer).
PAGE_MARKERS = {
    "Overview": "Response rate",
    "Campaigns": "Per touch",
    "Conversations": "threads (the",
    "ROI": "Break-even",
    "Leads": "leads shown",
    "Handoffs": "open handoffs",
}


def test_every_page_in_chromium_for_a_closer_with_screenshots(outreach, tmp_path,
                                                              monkeypatch):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from scrapers.appraiser.scraper import CHROMIUM_ARGS, chromium_path

    if not chromium_path().exists():
        pytest.skip(f"{chromium_path()} is absent: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    users = tmp_path / "users.yaml"
    access.add_user(users, "alex", "closer", "alex-password-long")
    monkeypatch.setenv(access.USERS_ENV, str(users))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium_path()),
                                                 headless=True, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.get_by_label("User", exact=True).fill("alex")
            page.get_by_label("Password", exact=True).fill("alex-password-long")
            page.get_by_role("button", name="Sign in").click()
            for title, marker in PAGE_MARKERS.items():
                page.get_by_role("link", name=title, exact=True).click()
                page.get_by_role("heading", name=title, exact=True).wait_for(timeout=30_000)
                page.get_by_text(marker).first.wait_for(timeout=30_000)
                page.get_by_text("Snapshot published").wait_for(timeout=30_000)
                page.screenshot(path=str(shots / f"{title.lower()}.png"), full_page=True)
                body = page.inner_text("body")
                assert "Traceback" not in body and "Error" not in body.split("\n")[0]
            browser.close()
        assert sorted(p.stem for p in shots.iterdir()) == sorted(
            title.lower() for title in PAGE_MARKERS)
        assert all(p.stat().st_size > 10_000 for p in shots.iterdir())
    finally:
        server.terminate()
        server.wait(timeout=20)
