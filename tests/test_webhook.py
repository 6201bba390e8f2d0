"""The webhook receiver (outreach/webhook/) running for real: uvicorn on a loopback port in a
thread (and once through `wholesaler webhook serve` in a subprocess), a migrated SQLite ledger
in tmp_path, and httpx posting what Twilio posts, signed with the `twilio` library's
RequestValidator (the real client cannot post webhooks). Outbound SMS for the status
callbacks are sent by the send path through the official client to tests/twilio_server.py,
so the callback URLs (with their ``mid``) are the ones Twilio would really be given."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).parent))

from sending_fixtures import (
    INSIDE_WINDOW,
    MESSAGING_SERVICE_SID,
    TODAY,
    add_lead,
    drip,
    load_lists,
    orange,
)
from smtp_mailbox import free_port
from twilio_server import TwilioServer

from outreach.channels.outbox import OutboxChannel
from outreach.channels.sms import TwilioSmsChannel
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import (
    AuditEntry,
    Enrollment,
    LeadStatusChange,
    Message,
    MessageEvent,
    Suppression,
)
from outreach.replies.classify import ReplyClassifier
from outreach.replies.settings import ReplySettings
from outreach.sending import Channels, SendSettings, send_due, unsubscribe_token
from outreach.service_settings import TwilioSettings
from outreach.twilio_client import twilio_rest_client
from outreach.webhook.app import EMPTY_TWIML, create_app, loggable_path
from outreach.webhook.settings import WebhookConfig, WebhookSettingsError, load_webhook_config

PROJECT = Path(__file__).resolve().parent.parent
PUBLIC = "https://hooks.example.com"
TOKEN = "webhook-test-auth-token-0123456789ab"
SECRET = "unsubscribe-secret-for-webhook-tests-" + "q" * 8
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CONFIG = SendSettings(wholesaler_unsubscribe_base_url=f"{PUBLIC}/unsubscribe",
                      wholesaler_unsubscribe_secret=SECRET,
                      wholesaler_twilio_status_callback_url=f"{PUBLIC}/twilio/status",
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")
# `process_inbound` lives in outreach/replies/process.py (the replies side); until it exists the
# background step fails, is logged, and leaves the row to the replies sweep.
PROCESSING = importlib.util.find_spec("outreach.replies.process") is not None
TABLES = (Message, MessageEvent, Suppression, Enrollment, LeadStatusChange, AuditEntry)


# ------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pii_keys: str) -> Path:
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_LLM_PROVIDER", "none")
    monkeypatch.setenv("WHOLESALER_UNSUBSCRIBE_SECRET", SECRET)
    return tmp_path


@pytest.fixture
def engine(env: Path) -> Engine:
    engine = ledger_engine(f"sqlite:///{env / 'outreach.db'}")
    upgrade_ledger(engine)
    load_lists(engine)
    return engine


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` on uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def classifier() -> ReplyClassifier:
    return ReplyClassifier.from_settings(ReplySettings(wholesaler_llm_provider="none"))


def webhook_app(engine: Engine, *, public_url: str | None = PUBLIC,
                token: str | None = TOKEN, insecure_dev: bool = False) -> Any:
    config = WebhookConfig(public_url=public_url,
                           auth_token=SecretStr(token) if token else None,
                           insecure_dev=insecure_dev)
    return create_app(engine, config, classifier=classifier(),
                      channels=Channels.outbox(Path(os.environ["WHOLESALER_DATA_DIR"])
                                               / "outbox"),
                      unsubscribe_key=SECRET.encode())


@pytest.fixture
def hook(engine: Engine) -> Iterator[str]:
    with serving(webhook_app(engine)) as base:
        yield base


def sign(path_and_query: str, params: dict[str, Any], token: str = TOKEN,
         public: str = PUBLIC) -> str:
    return RequestValidator(token).compute_signature(public + path_and_query, params)


def post_signed(base: str, path_and_query: str, params: dict[str, Any],
                **kwargs: Any) -> httpx.Response:
    return httpx.post(base + path_and_query, data=params, timeout=10,
                      headers={"X-Twilio-Signature": sign(path_and_query, params, **kwargs)})


def inbound(sid: str, sender: str, body: str, **extra: str) -> dict[str, str]:
    """The parameters Twilio posts for an inbound SMS to a Messaging Service."""
    return {"ToCountry": "US", "ToState": "FL", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "ORLANDO", "FromZip": "32801", "SmsSid": sid, "FromState": "FL",
            "SmsStatus": "received", "FromCity": "ORLANDO", "Body": body, "FromCountry": "US",
            "To": "+14075550999", "MessagingServiceSid": MESSAGING_SERVICE_SID,
            "ToZip": "32801", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01", **extra}


def counts(engine: Engine) -> dict[str, int]:
    with ledger_session(engine) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in TABLES}


def inbound_rows(engine: Engine, sid: str) -> list[Message]:
    with ledger_session(engine) as session:
        return list(session.scalars(select(Message).where(
            Message.direction == "inbound", Message.provider_message_id == sid)))


def wait_processed(engine: Engine, message_id: int, seconds: float = 20) -> Message | None:
    """The row once `process_inbound` (run after the answer) has stored its decision."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with ledger_session(engine) as session:
            row = session.get(Message, message_id)
            if row is not None and row.processed_at is not None:
                return row
        time.sleep(0.05)
    return None


def lead_status(engine: Engine, owner_id: int) -> str | None:
    with ledger_session(engine) as session:
        return session.scalar(select(LeadStatusChange.status)
                              .where(LeadStatusChange.owner_id == owner_id)
                              .order_by(LeadStatusChange.changed_at.desc(),
                                        LeadStatusChange.lead_status_change_id.desc())
                              .limit(1))


def enrollment_of(engine: Engine, enrollment_id: int) -> Enrollment:
    with ledger_session(engine) as session:
        row = session.get(Enrollment, enrollment_id)
        assert row is not None
        return row


# ------------------------------------------------------------------------------------------
# Inbound SMS


def test_signed_inbound_sms_is_stored_once_and_a_replay_changes_nothing(engine, hook):
    lead = add_lead(engine, phones=["+14075550111"])
    sid = "SM" + "1" * 32
    params = inbound(sid, "+14075550111", "Is this about my house on Elm? Call me")
    response = post_signed(hook, "/twilio/sms", params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    [row] = inbound_rows(engine, sid)
    assert (row.owner_id, row.channel, row.provider) == (lead.owner_id, "sms", "twilio")
    assert row.contact_id == lead.phone_ids[0] and row.body.startswith("Is this about")
    # Classification runs after the answer (a background task); the decision lands later.
    processed = wait_processed(engine, row.message_id) if PROCESSING else None
    assert processed is not None or not PROCESSING
    before = counts(engine)

    replay = post_signed(hook, "/twilio/sms", params)
    assert replay.status_code == 200 and replay.text == EMPTY_TWIML
    time.sleep(0.3)  # a replay must not start a second processing either
    assert counts(engine) == before
    assert len(inbound_rows(engine, sid)) == 1
    if processed is not None:
        assert processed.decision and processed.classification["intent"]


def test_unsigned_forged_and_wrong_url_signatures_are_refused_and_nothing_is_written(
        engine, hook):
    add_lead(engine, phones=["+14075550112"])
    sid = "SM" + "2" * 32
    params = inbound(sid, "+14075550112", "STOP", OptOutType="STOP")
    before = counts(engine)
    unsigned = httpx.post(hook + "/twilio/sms", data=params, timeout=10)
    forged = httpx.post(hook + "/twilio/sms", data=params, timeout=10,
                        headers={"X-Twilio-Signature": sign("/twilio/sms", params,
                                                            token="not-the-token-" + "x" * 20)})
    # Signed without OptOutType, then the parameter added: every parameter is checked.
    signed_short = {key: value for key, value in params.items() if key != "OptOutType"}
    tampered = httpx.post(hook + "/twilio/sms", data=params, timeout=10,
                          headers={"X-Twilio-Signature": sign("/twilio/sms", signed_short)})
    # Signed for the URL the app sees instead of the public one Twilio posts to.
    local = httpx.post(hook + "/twilio/sms", data=params, timeout=10,
                       headers={"X-Twilio-Signature": sign("/twilio/sms", params,
                                                           public=hook)})
    status = httpx.post(hook + "/twilio/status", timeout=10, data={
        "MessageSid": sid, "MessageStatus": "delivered"})
    for response in (unsigned, forged, tampered, local, status):
        assert response.status_code == 403, response.text
    assert counts(engine) == before
    assert inbound_rows(engine, sid) == []
    # A body that is not a form, and one too large, never reach the ledger either.
    assert httpx.post(hook + "/twilio/sms", json=params, timeout=10).status_code == 415
    huge = {**params, "Body": "x" * 70_000}
    assert post_signed(hook, "/twilio/sms", huge).status_code == 413
    assert counts(engine) == before


def test_stop_with_opt_out_type_is_suppressed_by_the_time_the_answer_returns(engine, hook):
    lead = add_lead(engine, phones=["+14075550113"])
    sid = "SM" + "3" * 32
    response = post_signed(hook, "/twilio/sms",
                           inbound(sid, "+14075550113", "Stop", OptOutType="STOP"))
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    # No waiting: the opt-out is part of the stored receipt.
    [row] = inbound_rows(engine, sid)
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression).where(
            Suppression.message_id == row.message_id)).all()
    assert suppression.reason == "opt_out" and suppression.owner_id == lead.owner_id
    assert suppression.lifted_at is None
    assert enrollment_of(engine, lead.enrollment_id).status == "stopped"
    assert lead_status(engine, lead.owner_id) == "opted_out"

    # An unknown sender is stored (never dropped) and suppressed by its number's hash.
    stranger = "SM" + "4" * 32
    assert post_signed(hook, "/twilio/sms", inbound(
        stranger, "+13215550199", "stop texting me", OptOutType="STOP")).status_code == 200
    [unknown] = inbound_rows(engine, stranger)
    assert unknown.owner_id is None
    with ledger_session(engine) as session:
        assert session.scalar(select(Suppression.reason).where(
            Suppression.message_id == unknown.message_id)) == "opt_out"


def test_a_public_url_with_a_path_prefix_behind_a_proxy(engine):
    """The proxy serves https://example.com/wholesaler/... and strips the prefix."""
    public = "https://example.com/wholesaler"
    add_lead(engine, phones=["+14075550114"])
    sid = "SM" + "5" * 32
    params = inbound(sid, "+14075550114", "who is this?")
    with serving(webhook_app(engine, public_url=public)) as base:
        wrong = post_signed(base, "/twilio/sms", params)  # signed for hooks.example.com
        assert wrong.status_code == 403
        right = httpx.post(base + "/twilio/sms", data=params, timeout=10, headers={
            "X-Twilio-Signature": sign("/twilio/sms", params, public=public)})
        assert right.status_code == 200
    assert len(inbound_rows(engine, sid)) == 1


def test_insecure_dev_mode_accepts_unsigned_webhooks(engine, caplog):
    caplog.set_level("WARNING")
    sid = "SM" + "6" * 32
    with serving(webhook_app(engine, token=None, insecure_dev=True)) as base:
        response = httpx.post(base + "/twilio/sms", timeout=10,
                              data=inbound(sid, "+14075550115", "hello"))
    assert response.status_code == 200
    assert len(inbound_rows(engine, sid)) == 1
    assert any("INSECURE DEVELOPMENT MODE" in record.getMessage() for record in caplog.records)
    with pytest.raises(WebhookSettingsError):
        WebhookConfig(public_url=PUBLIC, auth_token=None)


# ------------------------------------------------------------------------------------------
# Status callbacks


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


def test_status_callbacks_move_sent_messages_and_21610_records_the_opt_out(engine, env, hook,
                                                                          twilio):
    leads = [add_lead(engine, phones=[f"+1407555020{n}"], score=10 - n) for n in range(2)]
    settings = TwilioSettings(twilio_account_sid=twilio.account_sid,
                              twilio_auth_token=twilio.auth_token,
                              wholesaler_twilio_base_url=twilio.base_url)
    channels = Channels(sms=TwilioSmsChannel(lambda: twilio_rest_client(settings),
                                             MESSAGING_SERVICE_SID, retry_pause_seconds=0),
                        email=OutboxChannel(env / "outbox", "email"))
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW, workers=1, channels=channels,
                      config=CONFIG)
    assert report.sent == 2
    callbacks = [request.form["StatusCallback"][0]
                 for request in twilio.requests_to("/Messages.json")]
    with ledger_session(engine) as session:
        rows = {row.enrollment_id: row for row in session.scalars(
            select(Message).where(Message.direction == "outbound"))}
    first, second = rows[leads[0].enrollment_id], rows[leads[1].enrollment_id]
    assert callbacks[0] == f"{PUBLIC}/twilio/status?mid={first.message_id}"
    path = {first.message_id: callbacks[0].removeprefix(PUBLIC),
            second.message_id: callbacks[1].removeprefix(PUBLIC)}

    def callback(row: Message, status: str, **extra: str) -> httpx.Response:
        params = {"AccountSid": twilio.account_sid, "MessageSid": row.provider_message_id,
                  "SmsSid": row.provider_message_id, "MessageStatus": status,
                  "SmsStatus": status, "To": "+14075550200",
                  "MessagingServiceSid": MESSAGING_SERVICE_SID, "ApiVersion": "2010-04-01",
                  **extra}
        return post_signed(hook, path[row.message_id], params)

    assert callback(first, "sent").status_code == 200
    assert callback(first, "delivered").status_code == 200
    before = counts(engine)
    assert callback(first, "delivered").status_code == 200  # a replay changes nothing
    assert counts(engine) == before

    # A forged callback (signed for another mid) is refused and changes nothing.
    forged = httpx.post(hook + path[second.message_id], timeout=10, data={
        "MessageSid": second.provider_message_id, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": sign(path[first.message_id], {
            "MessageSid": second.provider_message_id, "MessageStatus": "delivered"})})
    assert forged.status_code == 403

    assert callback(second, "undelivered", ErrorCode="21610").status_code == 200
    with ledger_session(engine) as session:
        after = {row.message_id: row for row in session.scalars(select(Message))}
        opt_outs = list(session.scalars(select(Suppression).where(
            Suppression.message_id == second.message_id)))
        events = list(session.scalars(select(MessageEvent.status).where(
            MessageEvent.message_id == first.message_id, MessageEvent.source == "callback")))
    assert after[first.message_id].status == "delivered"
    assert after[first.message_id].sent_at is not None
    assert events == ["sent", "delivered"]
    assert (after[second.message_id].status, after[second.message_id].error_code) == (
        "undelivered", "21610")
    assert [row.reason for row in opt_outs] == ["opt_out"]
    assert enrollment_of(engine, leads[1].enrollment_id).stop_reason == "opt_out"

    # An unknown MessageSid answers 200 (Twilio would retry otherwise) and writes nothing.
    before = counts(engine)
    unknown = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    assert post_signed(hook, "/twilio/status", unknown).status_code == 200
    assert counts(engine) == before


# ------------------------------------------------------------------------------------------
# Email unsubscribe


def email_touch(engine: Engine, env: Path, address: str, score: float) -> tuple[Any, Message]:
    """One lead whose day-3 email touch went to the outbox; its message row."""
    lead = add_lead(engine, emails=[address], score=score, enrolled_on=TODAY, touches_sent=1,
                    last_sent_on=TODAY)
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW + timedelta(days=3),
                      channels=Channels.outbox(env / "outbox"), config=CONFIG, workers=1)
    assert report.outboxed >= 1, report
    with ledger_session(engine) as session:
        message = session.scalar(select(Message).where(
            Message.enrollment_id == lead.enrollment_id, Message.channel == "email"))
    assert message is not None and message.status == "outboxed"
    return lead, message


def test_unsubscribe_link_get_confirms_and_post_opts_out_once(engine, env, hook):
    lead, message = email_touch(engine, env, "pat@example.com", 5)
    token = unsubscribe_token(message.message_id, message.counterpart_hash, SECRET.encode())
    assert f"{PUBLIC}/unsubscribe/{token}" in message.body  # the link the email carried
    url = f"{hook}/unsubscribe/{token}"
    before = counts(engine)

    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert "pat@example.com" not in page.text and "Unsubscribe" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert counts(engine) == before  # a GET (a link scanner) never unsubscribes

    # RFC 8058 one-click, as a mail client sends it.
    done = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200 and "unsubscribed" in done.text
    with ledger_session(engine) as session:
        [suppression] = session.scalars(select(Suppression).where(
            Suppression.message_id == message.message_id)).all()
    assert (suppression.channel, suppression.reason, suppression.owner_id) == (
        "email", "opt_out", lead.owner_id)
    assert suppression.value_hash == message.counterpart_hash
    stopped = enrollment_of(engine, lead.enrollment_id)
    assert (stopped.status, stopped.stop_reason) == ("stopped", "opt_out")
    assert lead_status(engine, lead.owner_id) == "opted_out"

    after = counts(engine)
    assert httpx.post(url, data={"List-Unsubscribe": "One-Click"},
                      timeout=10).status_code == 200
    again = httpx.get(url, timeout=10)
    assert again.status_code == 200 and "already unsubscribed" in again.text
    assert counts(engine) == after

    # The next send run refuses the email touch for this person.
    report = send_due(engine, drip(), orange(), INSIDE_WINDOW + timedelta(days=10),
                      channels=Channels.outbox(env / "outbox"), config=CONFIG)
    assert report.outboxed == 0


def test_unsubscribe_multipart_one_click_and_forged_tokens(engine, env, hook):
    lead, message = email_touch(engine, env, "ana@example.com", 4)
    token = unsubscribe_token(message.message_id, message.counterpart_hash, SECRET.encode())
    before = counts(engine)
    forged = [f"{message.message_id}.{'A' * 24}",
              unsubscribe_token(message.message_id, message.counterpart_hash,
                                b"another-secret-" + b"k" * 20),
              f"{message.message_id + 1}.{token.split('.')[1]}", "not-a-token"]
    for bad in forged:
        assert httpx.get(f"{hook}/unsubscribe/{bad}", timeout=10).status_code == 404
        assert httpx.post(f"{hook}/unsubscribe/{bad}", timeout=10,
                          data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert counts(engine) == before
    # RFC 8058 says the POST SHOULD be multipart/form-data.
    done = httpx.post(f"{hook}/unsubscribe/{token}", timeout=10,
                      files={"List-Unsubscribe": (None, "One-Click")})
    assert done.status_code == 200
    assert lead_status(engine, lead.owner_id) == "opted_out"


# ------------------------------------------------------------------------------------------
# Health, settings, the command line


def test_healthz_reports_the_ledger(engine, env):
    with serving(webhook_app(engine)) as base:
        response = httpx.get(base + "/healthz", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"
    empty = ledger_engine(f"sqlite:///{env / 'empty.db'}")
    with serving(webhook_app(empty)) as base:
        response = httpx.get(base + "/healthz", timeout=10)
    assert response.status_code == 503
    assert response.json()["reason"] == "ledger not migrated"
    gone = ledger_engine(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/ledger")
    with serving(webhook_app(gone)) as base:
        response = httpx.get(base + "/healthz", timeout=20)
    assert response.status_code == 503
    assert response.json()["reason"].startswith("ledger unreachable")
    assert "secret" not in response.text


def test_settings_name_the_variable():
    with pytest.raises(WebhookSettingsError, match="TWILIO_AUTH_TOKEN"):
        load_webhook_config({})
    api_key = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "key-secret",
               "TWILIO_API_KEY_SID": "SK" + "0" * 32}
    with pytest.raises(WebhookSettingsError, match="WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN"):
        load_webhook_config(api_key)
    settings, config = load_webhook_config(
        {**api_key, "WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN": TOKEN,
         "WHOLESALER_WEBHOOK_PUBLIC_URL": PUBLIC + "/"})
    assert config.auth_token.get_secret_value() == TOKEN and config.public_url == PUBLIC
    assert (settings.wholesaler_webhook_host, settings.wholesaler_webhook_port) == (
        "127.0.0.1", 8787)
    with pytest.raises(WebhookSettingsError, match="WHOLESALER_WEBHOOK_PUBLIC_URL"):
        load_webhook_config({"TWILIO_AUTH_TOKEN": TOKEN,
                             "WHOLESALER_WEBHOOK_PUBLIC_URL": "hooks.example.com"})
    with pytest.raises(WebhookSettingsError, match="WHOLESALER_WEBHOOK_PORT"):
        load_webhook_config({"TWILIO_AUTH_TOKEN": TOKEN, "WHOLESALER_WEBHOOK_PORT": "0"})
    _, dev = load_webhook_config({}, insecure_dev=True)
    assert dev.insecure_dev and dev.auth_token is None
    assert loggable_path("/unsubscribe/12.abcDEF_-") == "/unsubscribe/[token]"


def test_wholesaler_webhook_serve_end_to_end(tmp_path, pii_keys):
    """The real command: refuses to start unsigned, then serves; its log is JSON and never
    shows the phone number or the text."""
    environment = {
        **os.environ, "WHOLESALER_DATA_DIR": str(tmp_path / "data"),
        "WHOLESALER_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "WHOLESALER_LLM_PROVIDER": "none", "WHOLESALER_UNSUBSCRIBE_SECRET": SECRET,
        "WHOLESALER_LOG_LEVEL": "INFO", "WHOLESALER_LOG_FORMAT": "json",
        pii.KEYS_ENV: pii_keys, pii.HASH_KEY_ENV: os.environ[pii.HASH_KEY_ENV]}
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SID",
                 "WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN"):
        environment.pop(name, None)
    command = [str(PROJECT / ".venv" / "bin" / "wholesaler"), "webhook", "serve"]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "pipelines.cli", "webhook", "serve"]
    refused = subprocess.run(command, env=environment, capture_output=True, text=True,
                             timeout=120, check=False)
    assert refused.returncode == 2 and "TWILIO_AUTH_TOKEN" in refused.stderr

    port = free_port()
    environment.update({"TWILIO_AUTH_TOKEN": TOKEN, "WHOLESALER_WEBHOOK_PUBLIC_URL": PUBLIC})
    process = subprocess.Popen([*command, "--port", str(port)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the receiver did not come up"
            time.sleep(0.2)
        sid = "SM" + "7" * 32
        body = "STOP texting me about the Elm house"
        params = inbound(sid, "+14075550177", body, OptOutType="STOP")
        assert post_signed(base, "/twilio/sms", params).status_code == 200
        assert post_signed(base, "/twilio/sms", params).status_code == 200
        assert httpx.post(base + "/twilio/sms", data=params, timeout=10).status_code == 403
        time.sleep(0.5)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    engine = ledger_engine(environment["WHOLESALER_LEDGER_URL"])
    assert len(inbound_rows(engine, sid)) == 1
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines, stderr
    text = "\n".join(json.dumps(line) for line in lines)
    assert "webhook receiver on http://127.0.0.1" in text
    assert "refused POST /twilio/sms" in text and sid in text
    assert "4075550177" not in text and "Elm house" not in text
    assert not re.search(r"\+1\d{10}", text)
