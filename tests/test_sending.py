"""The send path (outreach/sending.py) against real peers: the outbox files, the official
`twilio` client against the local Twilio server that checks every request against Twilio's
OpenAPI spec, and aiosmtpd on loopback. Ledgers are tmp_path SQLite files (and PostgreSQL for
the core path when TEST_POSTGRES_URL is set); leads are seeded through the ledger models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).parent))

from sending_fixtures import (
    INSIDE_WINDOW,
    MESSAGING_SERVICE_SID,
    OUTSIDE_WINDOW,
    TODAY,
    add_lead,
    drip,
    load_lists,
    orange,
)
from smtp_mailbox import Mailbox, free_port, running_mailbox
from twilio_server import TwilioServer

from outreach.channels.email import SmtpSender, SmtpSettings
from outreach.channels.outbox import OutboxChannel, read_outbox
from outreach.channels.sms import TwilioSmsChannel
from outreach.channels.smtp import SmtpEmailChannel
from outreach.ledger.db import ledger_session
from outreach.ledger.models import (
    ComplianceDecision,
    Contact,
    Enrollment,
    LeadStatusChange,
    Message,
    MessageEvent,
    Suppression,
)
from outreach.sending import (
    Channels,
    SendSettings,
    apply_status_callback,
    owner_first_name,
    reconcile_unknown,
    send_due,
    unsubscribe_token,
    verify_unsubscribe_token,
)
from outreach.service_settings import TwilioSettings
from outreach.twilio_client import twilio_rest_client

SECRET = "unsubscribe-secret-for-tests-" + "z" * 20
CONFIG = SendSettings(wholesaler_unsubscribe_base_url="https://example.com/u",
                      wholesaler_unsubscribe_secret=SECRET,
                      wholesaler_twilio_status_callback_url="https://hooks.example.com/twilio/status",
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")


# `env` and `engine`: tests/conftest.py (keys, data folder, migrated SQLite ledger).


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


def twilio_channels(server: TwilioServer, outbox: Path, **kwargs: Any) -> Channels:
    settings = TwilioSettings(twilio_account_sid=server.account_sid,
                              twilio_auth_token=server.auth_token,
                              wholesaler_twilio_base_url=server.base_url)
    sms = TwilioSmsChannel(lambda: twilio_rest_client(settings, timeout_seconds=10),
                           MESSAGING_SERVICE_SID, retry_pause_seconds=0, **kwargs)
    return Channels(sms=sms, email=OutboxChannel(outbox, "email"))


def messages(engine: Engine) -> list[Message]:
    with ledger_session(engine) as session:
        return list(session.scalars(select(Message).order_by(Message.message_id)))


def enrollment(engine: Engine, enrollment_id: int) -> Enrollment:
    with ledger_session(engine) as session:
        row = session.get(Enrollment, enrollment_id)
        assert row is not None
        return row


def per_recipient(server: TwilioServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in server.messages.values():
        counts[message["to"]] = counts.get(message["to"], 0) + 1
    return counts


# ------------------------------------------------------------------------------------------
# The outbox path, on SQLite and PostgreSQL


def _exercise_core(engine: Engine, outbox: Path) -> None:
    first = add_lead(engine, phones=["+14075550101"], score=90)
    second = add_lead(engine, phones=["+14075550102"], score=80, owner_name="JONES ANA")
    unconsented = add_lead(engine, phones=["+14075550103"], score=70, consent=False)
    nobody = add_lead(engine, score=60)
    channels = Channels.outbox(outbox)

    early = send_due(engine, drip(), orange(), OUTSIDE_WINDOW, channels=channels, config=CONFIG)
    assert early.outboxed == 0 and early.deferred == 2
    assert early.deferred_reasons == {"outside_hours": 2}
    assert early.refused == {"no_consent": 1, "no_sendable_contact": 1}
    assert read_outbox(outbox) == []
    assert enrollment(engine, first.enrollment_id).touches_sent == 0

    report = send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=channels, config=CONFIG)
    assert report.outboxed == 2 and report.deferred == 0 and report.refused == {}
    lines = sorted(read_outbox(outbox), key=lambda line: line["to"])
    assert [line["to"] for line in lines] == ["•••-•••-0101", "•••-•••-0102"]
    assert lines[0]["body"].startswith("Hi Pat, this is Sam with Sunshine Porch Home Buyers")
    assert "Reply STOP" in lines[0]["body"] and lines[0]["touch"] == 1
    assert lines[0]["campaign"] == "fl_cash_offer_v1"
    rows = messages(engine)
    by_key = {row.idempotency_key: row for row in rows}
    assert len(rows) == 4, "the deferred rows were reused, not duplicated"
    sent = by_key[f"{first.enrollment_id}:1:sms"]
    assert sent.status == "outboxed" and sent.provider_message_id == f"outbox-{sent.message_id}"
    assert sent.counterpart == "+14075550101" and sent.segments >= 1 and sent.cost_usd == 0.0
    # The run's clock starts at its `now` and runs on: judged and recorded moments after it.
    assert INSIDE_WINDOW <= sent.planned_at <= sent.sent_at < INSIDE_WINDOW + timedelta(minutes=1)
    assert by_key[f"{unconsented.enrollment_id}:1:sms"].status == "refused"
    assert by_key[f"{nobody.enrollment_id}:1:sms"].error_code == "no_sendable_contact"
    with ledger_session(engine) as session:
        decision = session.get(ComplianceDecision, sent.compliance_decision_id)
        assert decision.is_allowed and decision.reference == sent.idempotency_key
        events = session.scalars(select(MessageEvent.status).where(
            MessageEvent.message_id == sent.message_id).order_by(MessageEvent.message_event_id))
        assert list(events) == ["deferred", "sending", "outboxed"]
        statuses = session.scalars(select(LeadStatusChange.status).where(
            LeadStatusChange.owner_id == first.owner_id))
        assert list(statuses) == ["contacted"]
        assert session.scalar(select(func.count()).select_from(LeadStatusChange).where(
            LeadStatusChange.owner_id == unconsented.owner_id)) == 0
    moved = enrollment(engine, first.enrollment_id)
    assert (moved.status, moved.touches_sent, moved.last_sent_on) == ("in_progress", 1, TODAY)
    skipped = enrollment(engine, unconsented.enrollment_id)
    assert (skipped.touches_sent, skipped.last_sent_on) == (1, None)

    again = send_due(engine, drip(), orange(), INSIDE_WINDOW + timedelta(hours=1),
                     channels=channels, config=CONFIG)
    assert again.due == 0 and again.outboxed == 0 and len(read_outbox(outbox)) == 2
    # Day 3: the email touch of the first two goes out (the skipped lead has no email).
    day3 = send_due(engine, drip(), orange(), INSIDE_WINDOW + timedelta(days=3),
                    channels=channels, config=CONFIG)
    assert day3.refused == {"no_sendable_contact": 4}
    assert second.enrollment_id


def test_outbox_run_on_sqlite(engine, env):
    _exercise_core(engine, env / "outbox")


@pytest.mark.postgres
def test_outbox_run_on_postgresql(env, postgres_ledger):
    load_lists(postgres_ledger)
    _exercise_core(postgres_ledger, env / "outbox")


def test_channels_for_market_stay_in_the_outbox_unless_everything_is_live(twilio):
    environ = {**twilio.settings_env(), "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID}
    market, campaign = orange(), drip()
    assert not Channels.for_market(market, campaign, environ=environ).is_live
    live_campaign = campaign.model_copy(update={"live": True})
    assert not Channels.for_market(market, live_campaign, environ=environ).is_live
    live_market = market.model_copy(update={"live": True})
    assert not Channels.for_market(live_market, live_campaign, environ={}).is_live
    channels = Channels.for_market(live_market, live_campaign, environ=environ)
    assert channels.sms.provider == "twilio" and channels.email.provider == "outbox"


def test_daily_volume_cap_counts_todays_sends_and_keeps_score_order(engine, env):
    leads = [add_lead(engine, phones=[f"+1407555020{n}"], score=score)
             for n, score in enumerate((10, 90, 50))]
    capped = drip().model_copy(update={"daily_volume_cap": 2})
    report = send_due(engine, capped, orange(), INSIDE_WINDOW,
                      channels=Channels.outbox(env / "outbox"), config=CONFIG)
    assert report.outboxed == 2 and report.deferred_reasons == {"daily_volume_cap": 1}
    assert enrollment(engine, leads[0].enrollment_id).touches_sent == 0  # lowest score waits
    later = send_due(engine, capped, orange(), INSIDE_WINDOW + timedelta(hours=2),
                     channels=Channels.outbox(env / "outbox"), config=CONFIG)
    assert later.outboxed == 0 and later.deferred_reasons == {"daily_volume_cap": 1}
    tomorrow = send_due(engine, capped, orange(), INSIDE_WINDOW + timedelta(days=1),
                        channels=Channels.outbox(env / "outbox"), config=CONFIG)
    assert tomorrow.outboxed == 1


def test_limit_and_paused_campaign(engine, env):
    add_lead(engine, phones=["+14075550301"], score=2)
    add_lead(engine, phones=["+14075550302"], score=1)
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW,
                      channels=Channels.outbox(env / "outbox"), limit=1, config=CONFIG)
    assert report.due == 1 and report.outboxed == 1
    with ledger_session(engine) as session:
        session.execute(sa.text("UPDATE campaigns SET is_paused = true"))
    paused = send_due(engine, drip(), orange(), INSIDE_WINDOW,
                      channels=Channels.outbox(env / "outbox"), config=CONFIG)
    assert paused.paused and paused.outboxed == 0 and paused.as_metadata()["paused"]


# ------------------------------------------------------------------------------------------
# Twilio


def test_twilio_sends_then_status_callbacks_move_messages(engine, env, twilio):
    leads = [add_lead(engine, phones=[f"+1407555040{n}"], score=10 - n) for n in range(2)]
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1,
                      channels=twilio_channels(twilio, env / "outbox"), config=CONFIG)
    twilio.assert_spec_clean()
    assert report.sent == 2 and report.failed == 0
    assert per_recipient(twilio) == {"+14075550400": 1, "+14075550401": 1}
    [post, _] = twilio.requests_to("/Messages.json")
    assert post.form["MessagingServiceSid"] == [MESSAGING_SERVICE_SID]
    rows = messages(engine)
    assert [row.status for row in rows] == ["queued", "queued"]
    first = rows[0]
    assert post.form["StatusCallback"] == [
        f"https://hooks.example.com/twilio/status?mid={first.message_id}"]
    assert first.provider == "twilio" and first.provider_message_id in twilio.messages
    assert first.cost_usd == pytest.approx(first.segments * 0.0083)
    assert report.cost_usd == pytest.approx(sum(row.cost_usd for row in rows))
    assert enrollment(engine, leads[0].enrollment_id).touches_sent == 1

    sid = first.provider_message_id
    assert apply_status_callback(engine, sid, "sent") == first.message_id
    assert apply_status_callback(engine, sid, "delivered") == first.message_id
    assert apply_status_callback(engine, sid, "sent") == first.message_id  # late, out of order
    other = rows[1].provider_message_id
    apply_status_callback(engine, other, "undelivered", error_code=30007)
    assert apply_status_callback(engine, "SM" + "f" * 32, "delivered") is None
    after = {row.message_id: row for row in messages(engine)}
    assert after[first.message_id].status == "delivered"
    assert after[first.message_id].sent_at is not None
    assert (after[rows[1].message_id].status, after[rows[1].message_id].error_code) == (
        "undelivered", "30007")
    assert "filtered" in after[rows[1].message_id].error_message
    with ledger_session(engine) as session:
        sources = list(session.scalars(select(MessageEvent.source).where(
            MessageEvent.message_id == first.message_id)))
    assert sources.count("callback") == 3


def test_twilio_error_codes_opt_out_and_invalid_numbers(engine, env, twilio):
    opted = add_lead(engine, phones=["+14075550501"], score=90)
    invalid = add_lead(engine, phones=["+14075550502"], score=80)
    fine = add_lead(engine, phones=["+14075550503"], score=70)
    twilio.fail_next(400, code=21610, message="Attempt to send to unsubscribed recipient",
                     path_contains="/Messages.json")
    twilio.fail_next(400, code=21211, message="The 'To' number is not a valid phone number.",
                     path_contains="/Messages.json")
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1,
                      channels=twilio_channels(twilio, env / "outbox"), config=CONFIG)
    twilio.assert_spec_clean()
    assert report.sent == 1 and report.failed == 2
    assert report.failed_reasons == {"21610": 1, "21211": 1}
    with ledger_session(engine) as session:
        suppression = session.scalar(select(Suppression).where(
            Suppression.owner_id == opted.owner_id))
        assert (suppression.reason, suppression.channel) == ("opt_out", "sms")
        assert session.get(Contact, invalid.phone_ids[0]).is_valid is False
        assert "21211" in session.get(Contact, invalid.phone_ids[0]).rejection_reason
        assert session.scalar(select(LeadStatusChange.status).where(
            LeadStatusChange.owner_id == opted.owner_id)) == "opted_out"
    stopped = enrollment(engine, opted.enrollment_id)
    assert (stopped.status, stopped.stop_reason) == ("stopped", "opt_out")
    skipped = enrollment(engine, invalid.enrollment_id)
    assert (skipped.status, skipped.touches_sent) == ("in_progress", 1)
    assert enrollment(engine, fine.enrollment_id).touches_sent == 1
    assert [m["to"] for m in twilio.messages.values()] == ["+14075550503"]


class CreatesThenFails(TwilioServer):
    """Stores the message, then answers 500: the case where a retry would double it."""

    fail_after_create = 0

    def _create_message(self, request):  # type: ignore[no-untyped-def]
        result = super()._create_message(request)
        if self.fail_after_create > 0:
            self.fail_after_create -= 1
            return self._error(500, 20500, "Internal Server Error")
        return result


def test_retries_only_where_nothing_was_created(engine, env):
    add_lead(engine, phones=["+14075550601"], score=3)
    add_lead(engine, phones=["+14075550602"], score=2)
    add_lead(engine, phones=["+14075550603"], score=1)
    with CreatesThenFails() as server:
        # The first send is rate limited (429), then its retry meets a 503 before anything is
        # created: the list is asked, shows nothing, and the next retry goes through.
        server.fail_next(429, path_contains="/Messages.json")
        server.fail_next(503, path_contains="/Messages.json")
        channels = twilio_channels(server, env / "outbox")
        report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1,
                          channels=channels, limit=2, config=CONFIG)
        assert report.sent == 2
        server.fail_after_create = 1  # third: created, then a 500 answer
        third = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1,
                         channels=channels, config=CONFIG)
        assert third.sent == 1
        server.assert_spec_clean()
        assert per_recipient(server) == {"+14075550601": 1, "+14075550602": 1,
                                         "+14075550603": 1}
        posts = [r for r in server.requests_to("/Messages.json") if r.method == "POST"]
        assert [r.status for r in posts] == [429, 503, 201, 201, 500]
        lists = [r for r in server.requests_to("/Messages.json") if r.method == "GET"]
        assert [r.query["To"] for r in lists] == [["+14075550601"], ["+14075550603"]]
        sids = {row.provider_message_id for row in messages(engine)}
        assert sids == set(server.messages)


def test_twilio_unreachable_defers_without_sending(engine, env):
    lead = add_lead(engine, phones=["+14075550701"])
    port = free_port()
    settings = TwilioSettings(twilio_account_sid="AC" + "0" * 32, twilio_auth_token="x",
                              wholesaler_twilio_base_url=f"http://127.0.0.1:{port}")
    channels = Channels(sms=TwilioSmsChannel(lambda: twilio_rest_client(settings, 2),
                                             MESSAGING_SERVICE_SID),
                        email=OutboxChannel(env / "outbox", "email"))
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=channels, config=CONFIG)
    assert report.deferred_reasons == {"connect_failed": 1}
    [row] = messages(engine)
    assert row.status == "deferred"
    assert enrollment(engine, lead.enrollment_id).touches_sent == 0


class OptOutMidRun(TwilioServer):
    """Records an opt-out in the ledger (another connection, as the webhook would) when the
    first message of the run reaches it."""

    on_first_create: Any = None

    def _create_message(self, request):  # type: ignore[no-untyped-def]
        hook, self.on_first_create = self.on_first_create, None
        if hook is not None:
            hook()
        return super()._create_message(request)


def test_an_opt_out_during_a_run_stops_every_later_send_to_that_person(engine, env):
    from outreach.compliance.store import record_suppression

    add_lead(engine, phones=["+14075550801"], score=90)
    person = add_lead(engine, phones=["+14075550802"], score=80)
    same_number = add_lead(engine, phones=["+14075550802"], score=70, owner_name="ROE PAT")
    by_email = add_lead(engine, phones=["+14075550803"], score=60, owner_name="DOE KIM")
    with OptOutMidRun() as server:
        def opt_out() -> None:
            with ledger_session(engine) as session:
                # STOP from +14075550802: that number (under every owner) and its person ...
                record_suppression(session, "all", "opt_out", owner_id=person.owner_id,
                                   contact_id=person.phone_ids[0], detail="STOP")
                # ... and another person who asked, by email, to hear nothing more.
                record_suppression(session, "all", "opt_out", owner_id=by_email.owner_id,
                                   detail="email: remove me")

        server.on_first_create = opt_out
        report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1,
                          channels=twilio_channels(server, env / "outbox"), config=CONFIG)
        assert per_recipient(server) == {"+14075550801": 1}
    assert report.sent == 1
    # The stopped number is no longer a sendable contact of either owner; the person who
    # opted out by email is refused by the gate, whose facts are loaded per message.
    assert report.refused == {"no_sendable_contact": 2, "suppressed": 1}
    assert enrollment(engine, same_number.enrollment_id).touches_sent == 1


class CountsDecidedAhead(TwilioServer):
    """Counts, at each call, the attempts the run has decided and not yet recorded (rows
    still `sending`, this call's included), read from the ledger on its own connection."""

    ledger: Engine | None = None
    decided_ahead: list[int]

    def _create_message(self, request):  # type: ignore[no-untyped-def]
        assert self.ledger is not None
        with self.ledger.connect() as connection:
            self.decided_ahead.append(connection.execute(
                select(func.count()).select_from(Message)
                .where(Message.status == "sending")).scalar_one())
        return super()._create_message(request)


def test_a_throttled_run_decides_only_a_moment_of_sends_ahead(engine, env):
    # 40 texts at 20 a second (2 s): deciding the first batch of 100 at once would hold 40
    # decided sends for up to 2 s, during which an opt-out could not stop them. The run keeps
    # WHOLESALER_SEND_AHEAD_SECONDS (here half a second) of sends decided ahead of the calls,
    # plus the calls in flight and the results not yet recorded.
    for number in range(40):
        add_lead(engine, phones=[f"+1407555{number + 1000:04d}"], score=90 - number)
    throttled = CONFIG.model_copy(update={"wholesaler_sms_per_second": 20.0,
                                          "wholesaler_send_batch": 100,
                                          "wholesaler_send_ahead_seconds": 0.5})
    with CountsDecidedAhead() as server:
        server.ledger, server.decided_ahead = engine, []
        report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=2,
                          channels=twilio_channels(server, env / "outbox"), config=throttled)
        assert report.sent == 40 and len(server.decided_ahead) == 40
        # ahead 10 (20/s x 0.5 s) + 2 calls + up to a batch (10) of results awaiting record
        assert max(server.decided_ahead) <= 24, server.decided_ahead
    assert all(row.status == "queued" for row in messages(engine))


def test_a_run_that_reaches_the_end_of_the_window_stops_there(engine, env, twilio):
    # Florida texts end at 20:00 in Orlando. A run started 3 s before, throttled to two texts
    # a second (its tenth decision comes at least 4.5 s after its first): its clock runs with
    # the wall clock, so the texts it decides after 20:00 are deferred, not sent on the
    # strength of the run's start time.
    for number in range(10):
        add_lead(engine, phones=[f"+1407555{number + 2000:04d}"], score=90 - number)
    closing = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    throttled = CONFIG.model_copy(update={"wholesaler_sms_per_second": 2.0,
                                          "wholesaler_send_window_margin_seconds": 0})
    report = send_due(engine, drip(), orange(), closing - timedelta(seconds=3), workers=1,
                      channels=twilio_channels(twilio, env / "outbox"), config=throttled)
    assert 1 <= report.sent < 10
    assert report.deferred_reasons == {"outside_hours": 10 - report.sent}
    assert len(twilio.messages) == report.sent
    for row in messages(engine):
        assert row.planned_at == row.attempted_at or row.attempted_at is None
        if row.status == "queued":
            assert row.planned_at < closing
        else:
            assert row.status == "deferred" and row.planned_at >= closing
            assert "20:00" in (row.error_message or ""), row.error_message


def test_the_window_must_still_be_open_when_a_decided_send_goes(engine, env, twilio):
    # Two minutes before the end of the window: with the default margin (the calls follow the
    # decisions by a moment, longer when the provider is slow) the run sends nothing more.
    add_lead(engine, phones=["+14075552100"], score=90)
    add_lead(engine, phones=["+14075552101"], score=80)
    closing = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    late = send_due(engine, drip(), orange(), closing - timedelta(seconds=90), workers=2,
                    channels=twilio_channels(twilio, env / "outbox"), config=CONFIG)
    assert late.sent == 0 and late.deferred_reasons == {"outside_hours": 2}
    with ledger_session(engine) as session:
        details = [json.dumps(decision.reasons) for decision
                   in session.scalars(select(ComplianceDecision))]
    assert details and all("as late as" in detail for detail in details), details
    assert twilio.messages == {}
    earlier = send_due(engine, drip(), orange(), closing - timedelta(minutes=10), workers=2,
                       channels=twilio_channels(twilio, env / "outbox"), config=CONFIG)
    assert earlier.sent == 2 and len(twilio.messages) == 2


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class here")
@pytest.mark.parametrize(("idle", "expected"), [(True, "idle"), (False, "nice 10")])
def test_the_planner_process_gives_way_to_the_calls(idle, expected):
    # In a child interpreter: the class and the nice value cannot be undone by the test.
    code = ("import json, os, sys; from outreach.sending import SendSettings, _give_way; "
            "done = _give_way(SendSettings(wholesaler_send_planner_idle=sys.argv[1] == '1')); "
            "print(json.dumps([done, os.sched_getscheduler(0) == os.SCHED_IDLE, os.nice(0)]))")
    result = subprocess.run([sys.executable, "-c", code, "1" if idle else "0"],
                            capture_output=True, text=True, check=True, timeout=120)
    done, is_idle, nice = json.loads(result.stdout)
    assert done == expected and is_idle is idle
    assert nice == (os.nice(0) if idle else min(19, os.nice(0) + 10))


def test_the_pace_keeps_seconds_of_sends_ahead_at_any_rate():
    from collections import deque

    from outreach.sending import _Pace

    throttled = _Pace(0.5, pool_size=4, batch_size=100, configured_rate=4.0)
    assert (throttled.ahead(), throttled.batch(), throttled.low_water()) == (2, 2, 4)
    unknown = _Pace(0.5, pool_size=4, batch_size=100, configured_rate=None)
    assert (unknown.ahead(), unknown.batch(), unknown.low_water()) == (None, 100, 50)
    fast = _Pace(0.5, pool_size=4, batch_size=100, configured_rate=None)
    fast.submitted()
    assert fast.started is not None
    fast.started -= 2.0  # two seconds into the run, 700 sends in the last second
    for _ in range(7):
        fast.observe(100)
    assert fast.ahead() == 350 and fast.batch() == 100 and fast.low_water() == 4 + 250
    fast.completed = deque((when - 1.5, count) for when, count in fast.completed)
    # nothing completed in the last second (a stalled provider): not known again
    assert (fast.ahead(), fast.batch(), fast.low_water()) == (None, 100, 50)
    capped = _Pace(0.5, pool_size=4, batch_size=100, configured_rate=40.0)
    capped.submitted()
    capped.observe(500)  # a burst never counts for more than the throttle allows
    assert capped.ahead() == 20 and capped.batch() == 20 and capped.low_water() == 4


# ------------------------------------------------------------------------------------------
# Email over SMTP


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with running_mailbox() as running:
        yield running


def test_email_touch_over_smtp_bounce_and_temporary_refusal(engine, env, smtp):
    handler, port = smtp
    day3 = INSIDE_WINDOW + timedelta(days=3)
    kwargs = {"enrolled_on": TODAY, "touches_sent": 1, "last_sent_on": TODAY}
    good = add_lead(engine, emails=["pat@example.com"], score=3, **kwargs)
    bounce = add_lead(engine, emails=["bounce@example.com"], score=2, **kwargs)
    later = add_lead(engine, emails=["later@example.com"], score=1, **kwargs)
    market = orange()
    channels = Channels(sms=OutboxChannel(env / "outbox", "sms"), email=SmtpEmailChannel(
        SmtpSender(SmtpSettings("127.0.0.1", port, starttls=False, timeout_seconds=5)),
        market.email.from_address))
    report = send_due(engine, drip(), market, day3, channels=channels, workers=1, config=CONFIG)
    assert report.sent == 1 and report.failed == 1 and report.deferred == 1
    assert report.deferred_reasons == {"smtp_451": 1}
    [received] = handler.messages
    assert received["To"] == "pat@example.com"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    rows = {row.enrollment_id: row for row in messages(engine)}
    sent = rows[good.enrollment_id]
    assert sent.status == "sent" and sent.provider_message_id == received["Message-ID"]
    assert sent.cost_usd == pytest.approx(market.costs.email_usd)
    url = received["List-Unsubscribe"].strip("<>").split(">")[0]
    assert url.startswith("https://example.com/u/")
    token = url.rsplit("/", 1)[1]
    with ledger_session(engine) as session:
        assert verify_unsubscribe_token(session, token, SECRET.encode()).message_id == \
            sent.message_id
        forged = f"{sent.message_id + 1}.{token.split('.')[1]}"
        assert verify_unsubscribe_token(session, forged, SECRET.encode()) is None
        bounced = session.scalar(select(Suppression).where(Suppression.reason == "bounce"))
        assert bounced.channel == "email" and bounced.message_id == rows[
            bounce.enrollment_id].message_id
    assert enrollment(engine, bounce.enrollment_id).stop_reason == "bounce"
    assert rows[later.enrollment_id].status == "deferred"
    assert enrollment(engine, later.enrollment_id).touches_sent == 1
    assert enrollment(engine, good.enrollment_id).touches_sent == 2

    # The server is gone: the outcome is unknown, held (SMTP has no list to reconcile from).
    controller_port_closed = Channels(sms=channels.sms, email=SmtpEmailChannel(
        SmtpSender(SmtpSettings("127.0.0.1", free_port(), starttls=False, timeout_seconds=2)),
        market.email.from_address))
    retry = send_due(engine, drip(), market, day3 + timedelta(hours=1),
                     channels=controller_port_closed, config=CONFIG)
    assert retry.unknown == 1
    held = reconcile_unknown(engine, day3 + timedelta(hours=2), controller_port_closed,
                             grace=timedelta(minutes=15))
    assert (held.checked, held.held, held.resolved) == (1, 1, 0)
    assert len(handler.messages) == 1


def test_small_helpers():
    assert owner_first_name("SMITH JOHN A") == "John"
    assert owner_first_name("MALVERNBOURNE BRIAN R & JESSICA A") == "Brian"
    assert owner_first_name("SUNNY HOLDINGS LLC") == "there"
    assert owner_first_name("CHER") == "Cher"
    token = unsubscribe_token(12, "abc", b"k" * 32)
    assert token.startswith("12.") and token != unsubscribe_token(12, "abd", b"k" * 32)


# ------------------------------------------------------------------------------------------
# The batch path's shortcuts give what the one-at-a-time functions give


def test_sms_segment_count_matches_smsutil():
    import random

    import smsutil

    from outreach.sending import _sms_segments

    rng = random.Random(7)
    alphabet = "ABCxyz019 \n\r!\"#$%&'()*+,-./:;<=>?@_"
    samples = ["Hi Pat, reply STOP to opt out.", "é" * 80, "[brackets] {braces}", "€5",
               "x" * 160, "x" * 161, "x" * 306, "x" * 307, "😀 emoji"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 700)))
                for _ in range(300)]
    for body in samples:
        split = smsutil.split(body)
        expected = (len(split.parts), "GSM-7" if split.encoding == "gsm0338" else "UCS-2")
        assert _sms_segments(body) == expected, body


def test_batch_gate_facts_equal_the_one_at_a_time_facts(engine, env):
    from outreach.compliance.store import (
        load_gate_facts,
        load_gate_facts_many,
        record_consent,
        record_suppression,
        revoke_consent,
    )
    from outreach.ledger.dnc_store import scrub_contact
    from outreach.sending import MessageHistory

    load_lists(engine, listed=["+14075551003"])
    plain = add_lead(engine, phones=["+14075551001"], emails=["a@example.com"])
    twice = add_lead(engine, phones=["+14075551002", "+14075551004"], owner_name="DOE KIM")
    listed = add_lead(engine, phones=["+14075551003"], scrub=False, consent=False)
    shared = add_lead(engine, phones=["+14075551002"], owner_name="ROE PAT")
    with ledger_session(engine) as session:
        record_suppression(session, "sms", "opt_out", contact_id=twice.phone_ids[0],
                           detail="STOP", created_at=INSIDE_WINDOW - timedelta(days=2))
        record_suppression(session, "email", "operator", owner_id=plain.owner_id,
                           detail="asked by letter")
        lifted = record_suppression(session, "all", "opt_out", owner_id=listed.owner_id)
        lifted.lifted_at = INSIDE_WINDOW - timedelta(days=1)
        record_consent(session, twice.phone_ids[1], "sms", "web", "Yes",
                       INSIDE_WINDOW - timedelta(days=9))
        revoke_consent(session, twice.phone_ids[1], "sms", INSIDE_WINDOW - timedelta(days=1),
                       "asked")
        scrub_contact(session, session.get(Contact, listed.phone_ids[0]), TODAY)
        scrub_contact(session, session.get(Contact, twice.phone_ids[1]), TODAY)
        for hours, contact_id in ((3, plain.phone_ids[0]), (30, plain.phone_ids[0]),
                                  (5, twice.phone_ids[1])):
            at = INSIDE_WINDOW - timedelta(hours=hours)
            owner = plain.owner_id if contact_id == plain.phone_ids[0] else twice.owner_id
            session.add(Message(direction="outbound", channel="sms", provider="outbox",
                                status="queued", idempotency_key=f"h:{hours}:{contact_id}",
                                owner_id=owner, contact_id=contact_id, planned_at=at,
                                attempted_at=at, purpose="touch"))
    pairs = [(plain.owner_id, plain.phone_ids[0]), (plain.owner_id, plain.email_ids[0]),
             (twice.owner_id, twice.phone_ids[0]), (twice.owner_id, twice.phone_ids[1]),
             (listed.owner_id, listed.phone_ids[0]), (shared.owner_id, shared.phone_ids[0])]
    with ledger_session(engine) as session:
        many = load_gate_facts_many(session, pairs, INSIDE_WINDOW, history=MessageHistory())
        for owner_id, contact_id in pairs:
            one = load_gate_facts(session, owner_id, contact_id, INSIDE_WINDOW,
                                  history=MessageHistory())
            assert many[(owner_id, contact_id)] == one, (owner_id, contact_id)
    assert many[pairs[0]].recent_solicitations and many[pairs[2]].suppressions
    assert many[pairs[4]].listed_on_now == ("national",) and not many[pairs[4]].suppressions
    assert many[pairs[5]].suppressions[0].scope == "contact"


def test_the_send_history_is_read_through_the_owner_index_not_every_message_sent(engine):
    """The gate's history of a batch (a hundred owners) and of one owner comes through
    `ix_messages_owner_created`: SQLite, without statistics, would otherwise take
    `ix_messages_status` and walk every message ever sent, once a batch."""
    from outreach.sending import MessageHistory

    executed: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "coalesce(messages.attempted_at" in statement:
            executed.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with ledger_session(engine) as session:
            since, until = INSIDE_WINDOW - timedelta(days=1), INSIDE_WINDOW
            MessageHistory().solicitations_for_owners(session, range(1, 101), since, until)
            MessageHistory().solicitations(session, 7, since, until)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    assert len(executed) == 2
    with engine.connect() as connection:
        for statement, parameters in executed:
            plan = [row[3] for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters)]
            assert plan == ["SEARCH messages USING INDEX ix_messages_owner_created (owner_id=?)"]
