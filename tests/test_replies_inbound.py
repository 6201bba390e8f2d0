"""Inbound replies end to end (outreach/replies/inbound.py, process.py, respond.py,
handoff.py): a real SQLite ledger (PostgreSQL too when TEST_POSTGRES_URL is set), leads
seeded through the ledger models, touches sent by the real send path into the outbox, and
the replies side's messages delivered through the outbox, the official `twilio` client
against the local Twilio server, and SMTP to aiosmtpd on loopback."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 (the crash test runs our own Python, fixed argv, no shell)
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
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
from smtp_mailbox import Mailbox, running_mailbox
from twilio_server import TwilioServer

from outreach.channels.email import SmtpSender, SmtpSettings
from outreach.channels.outbox import read_outbox
from outreach.channels.sms import TwilioSmsChannel
from outreach.channels.smtp import SmtpEmailChannel
from outreach.compliance.gate import MarketPolicy, SendRequest, evaluate_send
from outreach.compliance.store import load_gate_facts, record_consent
from outreach.ledger.db import ledger_session
from outreach.ledger.models import (
    ComplianceDecision,
    Consent,
    Contact,
    ConversationState,
    Enrollment,
    Handoff,
    LeadStatusChange,
    Message,
    Suppression,
)
from outreach.replies.classify import ReplyClassifier
from outreach.replies.inbound import (
    InboundMessage,
    InboundReceipt,
    process_inbound,
    process_pending,
    receive_inbound,
)
from outreach.replies.intent import IntentClassifier
from outreach.replies.sentiment import VaderSentiment
from outreach.sending import Channels, SendSettings, pick_contact, send_due
from outreach.service_settings import TwilioSettings
from outreach.twilio_client import twilio_rest_client

CONFIG = SendSettings(wholesaler_unsubscribe_base_url="https://example.com/u",
                      wholesaler_unsubscribe_secret="unsubscribe-secret-for-tests-" + "z" * 20,
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")
OUR_NUMBER = "+14075550100"
CLOSER_PHONE = "+14075550142"  # markets/orange_fl.yaml handoff.closer_phone
CLOSER_EMAIL = "closer.orange@example.com"
_sids = count(1)
# For tests/conftest.py's `env` (which also clears the LLM and closer variables); `engine`
# is the conftest's migrated SQLite ledger.
LEDGER_ENV = {"WHOLESALER_UNSUBSCRIBE_SECRET": "unsubscribe-secret-for-tests-" + "z" * 20,
              "WHOLESALER_AGENT_NAME": "Sam",
              "WHOLESALER_DASHBOARD_URL": "https://dash.example.com"}


@pytest.fixture(scope="module")
def classifier() -> ReplyClassifier:
    return ReplyClassifier(IntentClassifier(), VaderSentiment())


def sms(sender: str, body: str, at: datetime = INSIDE_WINDOW, *, sid: str | None = None,
        opt_out_type: str | None = None) -> InboundMessage:
    return InboundMessage(channel="sms", provider="twilio",
                          provider_message_id=sid or f"SM{next(_sids):032x}",
                          from_address=sender, to_address=OUR_NUMBER, body=body,
                          received_at=at, opt_out_type=opt_out_type)


def outbox_lines(env: Path) -> list[dict[str, object]]:
    return read_outbox(env / "outbox")


def replies_to(engine: Engine, inbound_id: int) -> list[Message]:
    with ledger_session(engine) as session:
        return list(session.scalars(select(Message).where(
            Message.in_reply_to_id == inbound_id, Message.direction == "outbound")
            .order_by(Message.message_id)))


def lead_statuses(engine: Engine, owner_id: int) -> list[tuple[str, str]]:
    with ledger_session(engine) as session:
        return [(row.status, row.note) for row in session.scalars(
            select(LeadStatusChange).where(LeadStatusChange.owner_id == owner_id)
            .order_by(LeadStatusChange.lead_status_change_id))]


def get(engine: Engine, model: type, key: int):  # type: ignore[no-untyped-def]
    with ledger_session(engine) as session:
        return session.get(model, key)


def process(engine: Engine, message_id: int, classifier: ReplyClassifier, env: Path,
            now: datetime = INSIDE_WINDOW + timedelta(minutes=1),
            channels: Channels | None = None) -> str:
    return process_inbound(engine, message_id, classifier=classifier,
                           channels=channels or Channels.outbox(env / "outbox"), now=now)


# ------------------------------------------------------------------------------------------
# Opt-out first


def _opt_out_flow(engine: Engine, env: Path, classifier: ReplyClassifier) -> None:
    lead = add_lead(engine, phones=["+14075550111", "+14075550112"],
                    emails=["pat@example.com"], score=90)
    other = add_lead(engine, phones=["+14075550113"], score=80, owner_name="JONES ANA")
    channels = Channels.outbox(env / "outbox")
    # 06:00 in Orlando: the first touch is deferred (a pending touch the opt-out cancels).
    early = send_due(engine, drip(), orange(), OUTSIDE_WINDOW, channels=channels,
                     config=CONFIG)
    assert early.deferred == 2

    stop = sms("+1 (407) 555-0111", "Please stop texting me, lose my number",
               OUTSIDE_WINDOW + timedelta(minutes=5))
    receipt = receive_inbound(engine, stop)
    assert (receipt.is_duplicate, receipt.owner_id, receipt.opted_out) == (
        False, lead.owner_id, True)
    # Recorded at once, before any processing or model.
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression))
        assert (suppression.owner_id, suppression.channel, suppression.reason) == (
            lead.owner_id, "all", "opt_out")
        assert suppression.message_id == receipt.message_id
        contact = session.get(Contact, lead.phone_ids[0])
        assert suppression.value_hash == contact.value_hash
        assert session.scalar(select(Consent.revoked_at).where(
            Consent.contact_id == lead.phone_ids[0])) is not None
        stored = session.get(Message, receipt.message_id)
        assert (stored.direction, stored.status, stored.contact_id) == (
            "inbound", "received", lead.phone_ids[0])
        assert stored.counterpart == "+14075550111" and stored.processed_at is None
        pending = session.scalar(select(Message).where(
            Message.enrollment_id == lead.enrollment_id))
        assert pending.status == "cancelled"
        untouched = session.scalar(select(Message).where(
            Message.enrollment_id == other.enrollment_id))
        assert untouched.status == "deferred"
    stopped = get(engine, Enrollment, lead.enrollment_id)
    assert (stopped.status, stopped.stop_reason) == ("stopped", "opt_out")
    assert lead_statuses(engine, lead.owner_id)[-1][0] == "opted_out"

    # The same MessageSid delivered again: the stored row, nothing changes.
    again = receive_inbound(engine, stop)
    assert (again.message_id, again.is_duplicate, again.opted_out) == (
        receipt.message_id, True, True)

    assert process(engine, receipt.message_id, classifier, env,
                   now=stop.received_at + timedelta(minutes=1)) == "opt_out"
    [confirmation] = replies_to(engine, receipt.message_id)
    assert (confirmation.purpose, confirmation.status) == ("opt_out_confirmation", "outboxed")
    assert confirmation.idempotency_key == f"reply:{receipt.message_id}:opt_out_confirmation"
    assert "unsubscribed" in confirmation.body and "START" in confirmation.body
    [line] = outbox_lines(env)
    assert line["to"] == "•••-•••-0111" and line["body"] == confirmation.body
    # Processing again (a retried sweep) sends nothing more.
    assert process(engine, receipt.message_id, classifier, env) == "opt_out"
    # A second STOP: no second suppression, no second confirmation.
    second = receive_inbound(engine, sms("+14075550111", "STOP",
                                         stop.received_at + timedelta(minutes=2)))
    assert second.opted_out is False
    assert process(engine, second.message_id, classifier, env,
                   now=stop.received_at + timedelta(minutes=3)) == "opt_out"
    assert replies_to(engine, second.message_id) == [] and len(outbox_lines(env)) == 1
    with ledger_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 1
        row = session.get(Message, second.message_id)
        assert "no second confirmation" in row.classification["decision_reason"]

    # The day's run: nothing to the person who opted out (any number, any channel).
    later = send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=channels,
                     config=CONFIG)
    assert later.outboxed == 1
    assert [line["to"] for line in outbox_lines(env)][1:] == ["•••-•••-0113"]


def test_stop_in_free_text_suppresses_at_once_and_confirms_once(engine, env, classifier):
    _opt_out_flow(engine, env, classifier)


@pytest.mark.postgres
def test_stop_flow_on_postgresql(env, postgres_ledger, classifier):
    load_lists(postgres_ledger)
    _opt_out_flow(postgres_ledger, env, classifier)


@pytest.mark.parametrize(("body", "opt_out_type"), [
    ("STOP", None), ("stop please", None), ("Unsubscribe", None), ("STOPALL", None),
    ("OPT OUT", None), ("stpo", None), ("don't text me again", None), ("No más", None),
    ("REVOKE", None), ("whatever you say", "STOP"),
])
def test_opt_out_variants_are_honoured_on_receive(engine, env, body, opt_out_type):
    lead = add_lead(engine, phones=["+14075550121"])
    receipt = receive_inbound(engine, sms("+14075550121", body, opt_out_type=opt_out_type))
    assert receipt.opted_out and receipt.owner_id == lead.owner_id
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "opt_out"


def test_twilio_answered_the_keyword_so_no_confirmation_of_ours(engine, env, classifier):
    add_lead(engine, phones=["+14075550122"])
    receipt = receive_inbound(engine, sms("+14075550122", "STOP", opt_out_type="STOP"))
    assert process(engine, receipt.message_id, classifier, env) == "opt_out"
    assert replies_to(engine, receipt.message_id) == [] and outbox_lines(env) == []


def test_confirmation_later_than_five_minutes_is_refused_by_the_gate(engine, env, classifier):
    add_lead(engine, phones=["+14075550123"])
    receipt = receive_inbound(engine, sms("+14075550123", "remove me from your list"))
    assert process(engine, receipt.message_id, classifier, env,
                   now=INSIDE_WINDOW + timedelta(minutes=20)) == "opt_out"
    [late] = replies_to(engine, receipt.message_id)
    assert (late.status, late.error_code) == ("refused", "reply_too_late")
    assert outbox_lines(env) == []


def test_unknown_sender_is_stored_and_its_number_suppressed(engine, env, classifier):
    hello = receive_inbound(engine, sms("+14075550131", "hello? who is this"))
    assert (hello.owner_id, hello.opted_out) == (None, False)
    assert process(engine, hello.message_id, classifier, env) == "needs_review"
    stop = receive_inbound(engine, sms("+14075550132", "STOP"))
    assert stop.owner_id is None and stop.opted_out
    assert process(engine, stop.message_id, classifier, env) == "opt_out"
    assert outbox_lines(env) == []  # nothing is sent to a stranger
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression))
        assert suppression.owner_id is None and suppression.value_hash is not None
        stored = session.get(Message, hello.message_id)
        assert stored.owner_id is None and stored.counterpart == "+14075550131"
    # The number shows up later as some owner's contact: it is not sendable.
    lead = add_lead(engine, phones=["+14075550132"])
    with ledger_session(engine) as session:
        assert pick_contact(session, lead.owner_id, "sms") is None


def test_start_lifts_the_opt_out_and_the_gate_allows_again(engine, env, classifier):
    lead = add_lead(engine, phones=["+14075550141"])
    stop = receive_inbound(engine, sms("+14075550141", "STOP"))
    process(engine, stop.message_id, classifier, env)
    start_at = INSIDE_WINDOW + timedelta(minutes=30)
    start = receive_inbound(engine, sms("+14075550141", "START", start_at))
    assert not start.opted_out
    assert process(engine, start.message_id, classifier, env,
                   now=start_at + timedelta(minutes=1)) == "resubscribe"
    [confirmation] = replies_to(engine, start.message_id)
    assert (confirmation.purpose, confirmation.status) == ("resubscribe_confirmation",
                                                           "outboxed")
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression))  # kept, marked lifted
        assert suppression.lifted_at is not None
        assert suppression.lifted_by_message_id == start.message_id
        assert pick_contact(session, lead.owner_id, "sms").contact_id == lead.phone_ids[0]

    def touch_decision():  # type: ignore[no-untyped-def]
        when = INSIDE_WINDOW + timedelta(days=1)
        with ledger_session(engine) as session:
            facts = load_gate_facts(session, lead.owner_id, lead.phone_ids[0], when)
            return evaluate_send(SendRequest(
                channel="sms", owner_id=lead.owner_id, contact_id=lead.phone_ids[0],
                to_address="+14075550141", market=MarketPolicy.from_market(orange()),
                planned_at=when, mailing_state="FL", property_state="FL"), facts)

    # The consent the opt-out revoked stays revoked: a new consent is needed in a
    # consent_required market; no suppression refuses any more.
    assert touch_decision().refusal_codes == ("no_consent",)
    with ledger_session(engine) as session:
        record_consent(session, lead.phone_ids[0], "sms", "web form /sell", "Yes, text me",
                       start_at + timedelta(hours=1))
    assert touch_decision().allowed


def test_help_answers_with_identity_also_after_an_opt_out(engine, env, classifier):
    add_lead(engine, phones=["+14075550151"])
    stop = receive_inbound(engine, sms("+14075550151", "STOP"))
    process(engine, stop.message_id, classifier, env)
    help_ = receive_inbound(engine, sms("+14075550151", "HELP",
                                        INSIDE_WINDOW + timedelta(minutes=2)))
    assert process(engine, help_.message_id, classifier, env,
                   now=INSIDE_WINDOW + timedelta(minutes=3)) == "help"
    [answer] = replies_to(engine, help_.message_id)
    assert answer.purpose == "help" and answer.status == "outboxed"
    assert "Sunshine Porch Home Buyers" in answer.body and "Sam" in answer.body
    assert "STOP" in answer.body and "replies@sunshineporch.example" in answer.body


# ------------------------------------------------------------------------------------------
# Decisions


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with running_mailbox() as running:
        yield running


def live_channels(twilio: TwilioServer, smtp_port: int) -> Channels:
    settings = TwilioSettings(twilio_account_sid=twilio.account_sid,
                              twilio_auth_token=twilio.auth_token,
                              wholesaler_twilio_base_url=twilio.base_url)
    market = orange()
    return Channels(
        sms=TwilioSmsChannel(lambda: twilio_rest_client(settings, timeout_seconds=10),
                             MESSAGING_SERVICE_SID, retry_pause_seconds=0),
        email=SmtpEmailChannel(SmtpSender(SmtpSettings("127.0.0.1", smtp_port, starttls=False,
                                                       timeout_seconds=5)),
                               market.email.from_address))


def test_interested_hands_off_to_the_closer_by_sms_and_email(engine, env, classifier,
                                                             twilio, smtp):
    mailbox, port = smtp
    lead = add_lead(engine, phones=["+14075550161"], emails=["kim@example.com"],
                    owner_name="DOE KIM")
    outbox = Channels.outbox(env / "outbox")
    send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=outbox, config=CONFIG)
    # Day 3's email touch is planned but deferred (a pending touch the handoff cancels).
    with ledger_session(engine) as session:
        session.add(Message(direction="outbound", channel="email", owner_id=lead.owner_id,
                            enrollment_id=lead.enrollment_id, touch_number=2,
                            idempotency_key=f"{lead.enrollment_id}:2:email",
                            provider="outbox", status="deferred", purpose="touch"))
    at = INSIDE_WINDOW + timedelta(hours=2)
    reply = receive_inbound(engine, sms("+14075550161", "Yes, I'd consider selling. "
                                        "Call me after 5", at))
    channels = live_channels(twilio, port)
    assert process(engine, reply.message_id, classifier, env, now=at + timedelta(minutes=1),
                   channels=channels) == "handoff"
    twilio.assert_spec_clean()
    with ledger_session(engine) as session:
        [handoff] = session.scalars(select(Handoff))
        assert (handoff.owner_id, handoff.status, handoff.closer) == (
            lead.owner_id, "waiting", "Dana Closer")
        assert handoff.trigger_message_id == reply.message_id
        state = session.get(ConversationState, lead.owner_id)
        assert (state.state, state.is_human_takeover) == ("handoff", True)
        deferred = session.scalar(select(Message).where(
            Message.idempotency_key == f"{lead.enrollment_id}:2:email"))
        assert deferred.status == "cancelled"
        notices = {m.channel: m for m in session.scalars(select(Message).where(
            Message.purpose == "handoff_notice"))}
        assert handoff.notified_sms_message_id == notices["sms"].message_id
        assert handoff.notified_email_message_id == notices["email"].message_id
        assert notices["sms"].contact_id is None and notices["sms"].status == "queued"
        decision = session.get(ComplianceDecision, notices["sms"].compliance_decision_id)
        assert decision.is_allowed and "staff_recipient" in json.dumps(decision.reasons)
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "handoff"
    assert lead_statuses(engine, lead.owner_id)[-1][0] == "interested"
    [texted] = twilio.messages.values()
    link = f"https://dash.example.com/handoffs?owner={lead.owner_id}"
    assert texted["to"] == CLOSER_PHONE and link in texted["body"]
    assert "DOE KIM" in texted["body"] and "consider selling" in texted["body"]
    [mail] = mailbox.messages
    assert mail["To"] == CLOSER_EMAIL and "Hot lead" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert link in text and "Seller (sms): Yes, I'd consider selling" in text
    assert "Us (sms): Hi Kim, this is Sam with Sunshine Porch" in text

    # Under human takeover: a question gets no automatic answer and no second handoff; the
    # closer gets the new message.
    question = receive_inbound(engine, sms("+14075550161", "How did you get my number?",
                                           at + timedelta(minutes=10)))
    assert process(engine, question.message_id, classifier, env,
                   now=at + timedelta(minutes=11), channels=channels) == "human_takeover"
    forwarded = replies_to(engine, question.message_id)
    assert {m.purpose for m in forwarded} == {"handoff_notice"}
    assert {m.counterpart for m in forwarded} == {CLOSER_PHONE, CLOSER_EMAIL}
    assert len(twilio.messages) == 2 and len(mailbox.messages) == 2
    assert "How did you get my number?" in mailbox.messages[1].get_body(
        ("plain",)).get_content()
    with ledger_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1


def test_question_gets_a_fixed_answer_deferred_outside_hours(engine, env, classifier):
    lead = add_lead(engine, phones=["+14075550171"])
    send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=Channels.outbox(env / "outbox"),
             config=CONFIG)
    night = INSIDE_WINDOW + timedelta(hours=10)  # 01:00 in Orlando
    question = receive_inbound(engine, sms("+14075550171", "How did you get my number?",
                                           night))
    with ledger_session(engine) as session:
        touch = session.scalar(select(Message).where(Message.purpose == "touch"))
        assert session.get(Message, question.message_id).in_reply_to_id == touch.message_id
    assert process(engine, question.message_id, classifier, env,
                   now=night + timedelta(minutes=1)) == "auto_reply"
    [answer] = replies_to(engine, question.message_id)
    assert (answer.purpose, answer.status, answer.error_code) == ("auto_reply", "deferred",
                                                                 "outside_hours")
    assert len(outbox_lines(env)) == 1  # only the touch
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "reply"
    # The morning sweep sends it (the same row).
    morning = INSIDE_WINDOW + timedelta(days=1)
    assert process_pending(engine, classifier=classifier,
                           channels=Channels.outbox(env / "outbox"), now=morning) == []
    [answer] = replies_to(engine, question.message_id)
    assert (answer.status, answer.template) == ("outboxed", "answer_how_did_you_get_my_number")
    assert "public property records" in answer.body and "STOP" in answer.body
    assert answer.segments <= 2
    assert outbox_lines(env)[-1]["body"] == answer.body
    assert lead_statuses(engine, lead.owner_id)[-1][0] == "replied"


def test_question_answer_written_by_the_llm_is_checked_and_falls_back(engine, env, classifier,
                                                                      monkeypatch):
    from llm_server import LLMServer

    from outreach.ledger.models import LlmCall

    first = add_lead(engine, phones=["+14075550172"])
    second = add_lead(engine, phones=["+14075550173"], owner_name="JONES ANA")
    send_due(engine, drip(), orange(), INSIDE_WINDOW, channels=Channels.outbox(env / "outbox"),
             config=CONFIG)
    with LLMServer() as server:
        monkeypatch.setenv("WHOLESALER_LLM_PROVIDER", "ollama")
        monkeypatch.setenv("WHOLESALER_OLLAMA_URL", server.url)
        server.answer = {"body": "Hi Pat, this is Sam with Sunshine Porch Home Buyers. We found "
                                 "your number in public property records for Orange County.",
                         "subject": None}
        good = receive_inbound(engine, sms("+14075550172", "How did you get my number?"))
        assert process(engine, good.message_id, classifier, env) == "auto_reply"
        # A model answer that names a price fails the checks: the fixed answer goes out.
        server.answer = {"body": "Hi Ana, we can pay $150,000 cash for your house.",
                         "subject": None}
        bad = receive_inbound(engine, sms("+14075550173", "How did you get my number?"))
        assert process(engine, bad.message_id, classifier, env) == "auto_reply"
    [written] = replies_to(engine, good.message_id)
    assert written.template == "llm:how_did_you_get_my_number_v1"
    assert written.body.startswith("Hi Pat, this is Sam") and "STOP" in written.body
    [fixed] = replies_to(engine, bad.message_id)
    assert fixed.template == "answer_how_did_you_get_my_number" and "$" not in fixed.body
    with ledger_session(engine) as session:
        calls = {call.owner_id: call for call in session.scalars(select(LlmCall))}
    assert calls[first.owner_id].used == "model" and calls[first.owner_id].prompt
    assert calls[second.owner_id].used == "fallback"
    assert "no_money" in calls[second.owner_id].failed_checks
    assert "$150,000" in calls[second.owner_id].raw_response


def test_not_interested_stops_the_campaign_and_marks_the_lead_cold(engine, env, classifier):
    lead = add_lead(engine, phones=["+14075550181"])
    reply = receive_inbound(engine, sms("+14075550181", "No thanks, not interested"))
    assert process(engine, reply.message_id, classifier, env) == "not_interested"
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "not_interested"
    assert lead_statuses(engine, lead.owner_id)[-1] == ("dead", "cold")
    assert get(engine, ConversationState, lead.owner_id).state == "cold"
    assert outbox_lines(env) == []


def test_wrong_number_marks_that_number_only(engine, env, classifier):
    lead = add_lead(engine, phones=["+14075550191", "+14075550192"])
    reply = receive_inbound(engine, sms("+14075550191", "Wrong number, no one by that name"))
    assert process(engine, reply.message_id, classifier, env) == "wrong_number"
    with ledger_session(engine) as session:
        first, second = (session.get(Contact, cid) for cid in lead.phone_ids)
        assert first.is_wrong_number and not second.is_wrong_number
        assert pick_contact(session, lead.owner_id, "sms").contact_id == second.contact_id
    assert get(engine, Enrollment, lead.enrollment_id).status == "not_started"
    # The owner's only number: nothing sendable is left, the drip stops.
    alone = add_lead(engine, phones=["+14075550193"], owner_name="ROE SAM")
    reply = receive_inbound(engine, sms("+14075550193", "wrong number"))
    assert process(engine, reply.message_id, classifier, env) == "wrong_number"
    assert get(engine, Enrollment, alone.enrollment_id).stop_reason == "wrong_number"


def test_email_reply_threads_by_in_reply_to_even_from_another_address(engine, env,
                                                                       classifier):
    lead = add_lead(engine, emails=["pat@example.com"], enrolled_on=TODAY, touches_sent=1,
                    last_sent_on=TODAY)
    day3 = INSIDE_WINDOW + timedelta(days=3)
    send_due(engine, drip(), orange(), day3, channels=Channels.outbox(env / "outbox"),
             config=CONFIG)
    with ledger_session(engine) as session:
        touch = session.scalar(select(Message).where(Message.purpose == "touch"))
    reply = InboundMessage(channel="email", provider="imap",
                           provider_message_id="<reply-1@mail.example.net>",
                           from_address="Chris Smith <Chris.Smith@Example.NET>",
                           to_address="replies@sunshineporch.example",
                           body="Not interested, please unsubscribe us.",
                           subject="Re: About your property", received_at=day3,
                           in_reply_to=(f"<{touch.provider_message_id}>",))
    receipt = receive_inbound(engine, reply)
    assert receipt.owner_id == lead.owner_id and receipt.opted_out
    with ledger_session(engine) as session:
        stored = session.get(Message, receipt.message_id)
        assert stored.in_reply_to_id == touch.message_id and stored.contact_id is None
        assert stored.counterpart == "Chris.Smith@example.net"
    assert receive_inbound(engine, reply).is_duplicate


# ------------------------------------------------------------------------------------------
# Crash safety


def test_crash_after_receive_loses_nothing(engine, env, classifier):
    lead = add_lead(engine, phones=["+14075550199"])
    url = str(engine.url.render_as_string(hide_password=False))
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        from outreach.ledger.db import ledger_engine
        from outreach.replies.inbound import InboundMessage, receive_inbound
        engine = ledger_engine({url!r})
        receive_inbound(engine, InboundMessage(
            channel="sms", provider="twilio", provider_message_id="SM" + "c" * 32,
            from_address="+14075550199", to_address=None, body="take me off your list",
            received_at=datetime.fromisoformat({INSIDE_WINDOW.isoformat()!r})))
        receive_inbound(engine, InboundMessage(
            channel="sms", provider="twilio", provider_message_id="SM" + "d" * 32,
            from_address="+14075550199", to_address=None, body="how does this work?",
            received_at=datetime.fromisoformat({INSIDE_WINDOW.isoformat()!r})))
        os._exit(86)  # the process dies before anything is processed
    """)
    done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ),
                          cwd=Path(__file__).parent.parent, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 86, done.stderr
    with ledger_session(engine) as session:
        assert session.scalar(select(Suppression.owner_id)) == lead.owner_id
        assert session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "inbound", Message.processed_at.is_(None))) == 2
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "opt_out"
    done_pairs = process_pending(engine, classifier=classifier,
                                 channels=Channels.outbox(env / "outbox"),
                                 now=INSIDE_WINDOW + timedelta(minutes=2))
    assert [decision for _, decision in done_pairs] == ["opt_out", "needs_review"]
    # The question after the opt-out gets no answer: the person is suppressed; the
    # opt-out gets its one confirmation.
    assert [line["body"] for line in outbox_lines(env)] == [
        replies_to(engine, done_pairs[0][0])[0].body]
    assert process_pending(engine, classifier=classifier,
                           channels=Channels.outbox(env / "outbox"),
                           now=INSIDE_WINDOW + timedelta(minutes=3)) == []


# ------------------------------------------------------------------------------------------
# Command line


def test_cli_process_and_handoffs(engine, env, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("WHOLESALER_LEDGER_URL", str(engine.url))
    add_lead(engine, phones=["+14075550201"])
    hot = add_lead(engine, phones=["+14075550202"], owner_name="LANE JO")
    first = receive_inbound(engine, sms("+14075550201", "who is this?"))
    second = receive_inbound(engine, sms("+14075550202", "Yes, call me. I want to sell"))
    runner = CliRunner()
    result = runner.invoke(app, ["replies", "process", "--no-llm"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert lines == [{"message_id": first.message_id, "decision": "auto_reply"},
                     {"message_id": second.message_id, "decision": "handoff"}]
    listed = runner.invoke(app, ["replies", "handoffs"])
    assert listed.exit_code == 0, listed.output
    [handoff] = json.loads(listed.output)
    assert handoff["owner_id"] == hot.owner_id and handoff["owner_name"] == "LANE JO"
    assert handoff["link"] == f"https://dash.example.com/handoffs?owner={hot.owner_id}"
    assert handoff["notified_sms_message_id"] and handoff["notified_email_message_id"]
    # The notices went to the outbox (the market is not live).
    bodies = [line["body"] for line in read_outbox(env / "data" / "outbox")]
    assert any(handoff["link"] in body for body in bodies)
    assert runner.invoke(app, ["replies", "handoffs", "--status", "nope"]).exit_code == 2


def smtp_channels(env: Path, port: int) -> Channels:
    market = orange()
    return Channels(sms=Channels.outbox(env / "outbox").sms, email=SmtpEmailChannel(
        SmtpSender(SmtpSettings("127.0.0.1", port, starttls=False, timeout_seconds=5)),
        market.email.from_address))


def test_email_question_gets_a_can_spam_complete_answer_over_smtp(engine, env, classifier,
                                                                  smtp):
    mailbox, port = smtp
    add_lead(engine, emails=["pat@example.com"])
    question = InboundMessage(channel="email", provider="imap",
                              provider_message_id="<q-1@mail.example.net>",
                              from_address="Pat Smith <pat@example.com>",
                              to_address="replies@sunshineporch.example",
                              body="Thanks for the letter. How does this work exactly?",
                              subject="Your letter", received_at=INSIDE_WINDOW,
                              references=("<touch-1@sunshineporch.example>",
                                          "<q-0@mail.example.net>"))
    receipt = receive_inbound(engine, question)
    market = orange()
    channels = smtp_channels(env, port)
    assert process(engine, receipt.message_id, classifier, env, channels=channels) == \
        "auto_reply"
    [mail] = mailbox.messages
    assert mail["To"] == "pat@example.com" and mail["Subject"] == "Re: Your letter"
    # Threaded in the seller's mail client: the question's id, after the thread it continued.
    assert mail["In-Reply-To"] == "<q-1@mail.example.net>"
    assert mail["References"].split() == ["<touch-1@sunshineporch.example>",
                                          "<q-0@mail.example.net>", "<q-1@mail.example.net>"]
    text = mail.get_body(("plain",)).get_content()
    assert "explains the process" in text and market.email.postal_address in text
    # No WHOLESALER_UNSUBSCRIBE_BASE_URL here: the placeholder base (live email needs one).
    assert mail["List-Unsubscribe"].startswith("<https://unsubscribe.invalid/u/")
    [answer] = replies_to(engine, receipt.message_id)
    assert answer.status == "sent" and answer.provider_message_id == mail["Message-ID"]


def test_email_opt_out_confirmation_and_help_answer_are_threaded(engine, env, classifier,
                                                                  smtp):
    """The fixed answers by email (HELP, the opt-out confirmation) carry In-Reply-To and
    References too; a message that had no In-Reply-To chain gets References = its own id;
    the closer's notices are not part of the seller's thread."""
    mailbox, port = smtp
    add_lead(engine, emails=["lee@example.com"])
    channels = smtp_channels(env, port)

    def email(message_id: str, body: str, at: datetime,
              references: tuple[str, ...] = ()) -> InboundReceipt:
        return receive_inbound(engine, InboundMessage(
            channel="email", provider="imap", provider_message_id=message_id,
            from_address="lee@example.com", to_address="replies@sunshineporch.example",
            body=body, subject="Re: About your property", received_at=at,
            references=references))

    help_ = email("<help-1@mail.example.org>", "HELP", INSIDE_WINDOW)
    assert process(engine, help_.message_id, classifier, env, channels=channels) == "help"
    stop = email("<stop-1@mail.example.org>", "Unsubscribe me please",
                 INSIDE_WINDOW + timedelta(minutes=5), ("<help-1@mail.example.org>",))
    assert process(engine, stop.message_id, classifier, env, channels=channels,
                   now=INSIDE_WINDOW + timedelta(minutes=6)) == "opt_out"
    help_mail, confirmation = mailbox.messages
    assert help_mail["Subject"] == "Help: who we are"
    assert help_mail["In-Reply-To"] == "<help-1@mail.example.org>"
    assert help_mail["References"] == "<help-1@mail.example.org>"
    assert confirmation["Subject"] == "You are unsubscribed"
    assert confirmation["In-Reply-To"] == "<stop-1@mail.example.org>"
    assert confirmation["References"].split() == ["<help-1@mail.example.org>",
                                                  "<stop-1@mail.example.org>"]
    with ledger_session(engine) as session:
        assert session.get(Message, stop.message_id).email_references == \
            "<help-1@mail.example.org>"


def test_twilio_answered_help_and_start_so_we_send_nothing(engine, env, classifier):
    add_lead(engine, phones=["+14075550211"])
    help_ = receive_inbound(engine, sms("+14075550211", "HELP", opt_out_type="HELP"))
    assert process(engine, help_.message_id, classifier, env) == "help"
    start = receive_inbound(engine, sms("+14075550211", "START", opt_out_type="START"))
    assert process(engine, start.message_id, classifier, env) == "resubscribe"
    assert outbox_lines(env) == []


def test_the_same_message_delivered_twice_at_once_is_stored_once(engine, env):
    import threading

    lead = add_lead(engine, phones=["+14075550221"])
    message = sms("+14075550221", "STOP")
    barrier = threading.Barrier(4)
    receipts = []

    def deliver() -> None:
        barrier.wait()
        receipts.append(receive_inbound(engine, message))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(receipts) == 4
    assert sorted(r.is_duplicate for r in receipts) == [False, True, True, True]
    assert {r.message_id for r in receipts} == {receipts[0].message_id}
    assert all(r.opted_out and r.owner_id == lead.owner_id for r in receipts)
    with ledger_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 1
        assert session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "inbound")) == 1


def test_an_opt_out_only_the_model_recognised_is_honoured(engine, env):
    from llm_server import LLMServer

    from outreach.replies.llm import OllamaJsonChat

    lead = add_lead(engine, phones=["+14075550231"])
    text = "I would prefer to not receive these"
    receipt = receive_inbound(engine, sms("+14075550231", text))
    assert not receipt.opted_out  # the rules do not read this as an opt-out
    with LLMServer() as server:
        server.answer = {"intent": "opt_out", "confidence": 0.9, "reason": "asks us to stop"}
        model = ReplyClassifier(IntentClassifier(llm=OllamaJsonChat(server.url, "m", 5.0)),
                                VaderSentiment())
        assert process(engine, receipt.message_id, model, env) == "opt_out"
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression))
        assert suppression.owner_id == lead.owner_id and suppression.message_id == \
            receipt.message_id
        stored = session.get(Message, receipt.message_id)
        assert stored.classification["method"] == "llm_ollama"
        assert stored.classification["opt_out_by"] == "llm_ollama"
    assert get(engine, Enrollment, lead.enrollment_id).stop_reason == "opt_out"
    [confirmation] = replies_to(engine, receipt.message_id)
    assert confirmation.status == "outboxed"


def test_a_deferred_answer_is_cancelled_when_the_seller_writes_again(engine, env,
                                                                      classifier):
    add_lead(engine, phones=["+14075550241"])
    night = INSIDE_WINDOW + timedelta(hours=10)
    question = receive_inbound(engine, sms("+14075550241", "who is this?", night))
    assert process(engine, question.message_id, classifier, env,
                   now=night + timedelta(minutes=1)) == "auto_reply"
    [deferred] = replies_to(engine, question.message_id)
    assert deferred.status == "deferred"
    morning = INSIDE_WINDOW + timedelta(days=1)
    hot = receive_inbound(engine, sms("+14075550241", "ok yes I want to sell, call me",
                                      morning))
    assert process_pending(engine, classifier=classifier,
                           channels=Channels.outbox(env / "outbox"),
                           now=morning + timedelta(minutes=1)) == [
        (hot.message_id, "handoff")]
    [cancelled] = replies_to(engine, question.message_id)
    assert cancelled.status == "cancelled"
    # Only the closer's two notices went out; nothing automatic to the seller.
    assert sorted(str(line["to"]) for line in outbox_lines(env)) == [
        "c•••@example.com", "•••-•••-0142"]
