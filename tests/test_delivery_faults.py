"""Fault tests of the send path: a send run in a subprocess is killed (`os._exit` at the
`WHOLESALER_CRASH_AT` points of outreach/sending.py) between "attempt written" and "provider
called", and between "provider accepted" and "provider id recorded". After a restart and
`reconcile_unknown`, no recipient has two copies of a touch (counted at the Twilio server,
which checks every request against Twilio's OpenAPI spec)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).parent))

from sending_fixtures import (
    INSIDE_WINDOW,
    MESSAGING_SERVICE_SID,
    add_lead,
    drip,
    load_lists,
    orange,
)
from twilio_server import TwilioServer

from outreach.channels.outbox import OutboxChannel
from outreach.channels.sms import TwilioSmsChannel
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import Enrollment, Message, MessageEvent
from outreach.sending import (
    CRASH_EXIT_CODE,
    Channels,
    apply_status_callback,
    reconcile_unknown,
    resolve_held,
)
from outreach.service_settings import twilio_settings
from outreach.twilio_client import twilio_rest_client

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PHONES = ["+14075550901", "+14075550902", "+14075550903"]


def channels_from_environment() -> Channels:
    settings = twilio_settings()
    return Channels(sms=TwilioSmsChannel(lambda: twilio_rest_client(settings, 10),
                                         MESSAGING_SERVICE_SID, retry_pause_seconds=0),
                    email=OutboxChannel(channel="email"))


def child_main(ledger_url: str, now: str) -> None:
    """The send run of the subprocess (see `run_child`)."""
    from outreach.sending import SendSettings, send_due

    engine = ledger_engine(ledger_url)
    config = SendSettings(wholesaler_unsubscribe_secret="s" * 40, wholesaler_sms_per_second=0)
    report = send_due(engine, drip(), orange(), datetime.fromisoformat(now),
                      channels=channels_from_environment(), workers=1, config=config)
    print(report.as_metadata())


@pytest.fixture
def setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, str,
                                                                             TwilioServer]]:
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.setenv(pii.HASH_KEY_ENV, "test-hash-key-" + "y" * 32)
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    pii.reset_keyring()
    url = f"sqlite:///{tmp_path / 'outreach.db'}"
    engine = ledger_engine(url)
    upgrade_ledger(engine)
    load_lists(engine)
    for position, phone in enumerate(PHONES):
        add_lead(engine, phones=[phone], score=10 - position)
    with TwilioServer() as server:
        for name, value in server.settings_env().items():
            monkeypatch.setenv(name, value)
        yield engine, url, server
    pii.reset_keyring()


def run_child(url: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("WHOLESALER_CRASH_AT", None)
    if crash_at:
        env["WHOLESALER_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, __file__, url, INSIDE_WINDOW.isoformat()],
                          env=env, capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_ROOT, check=False)


def copies_per_recipient(server: TwilioServer) -> dict[str, int]:
    counts = dict.fromkeys(PHONES, 0)
    for message in server.messages.values():
        counts[message["to"]] += 1
    return counts


def rows(engine: Engine) -> dict[str, Message]:
    with ledger_session(engine) as session:
        return {row.counterpart: row for row in session.scalars(select(Message))}


def touches(engine: Engine) -> list[int]:
    with ledger_session(engine) as session:
        return list(session.scalars(select(Enrollment.touches_sent)
                                    .order_by(Enrollment.enrollment_id)))


def test_killed_after_the_attempt_is_written_is_held_never_resent(setting):
    engine, url, server = setting
    crashed = run_child(url, "after_attempt_written:2")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert copies_per_recipient(server) == {PHONES[0]: 1, PHONES[1]: 0, PHONES[2]: 0}
    assert rows(engine)[PHONES[1]].status == "sending"

    restarted = run_child(url, None)
    assert restarted.returncode == 0, restarted.stderr
    assert "'skipped_already_attempted': 1" in restarted.stdout
    assert copies_per_recipient(server) == {PHONES[0]: 1, PHONES[1]: 0, PHONES[2]: 1}

    channels = channels_from_environment()
    soon = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=1), channels,
                             grace=timedelta(minutes=15))
    assert (soon.checked, soon.pending, soon.resolved) == (1, 1, 0)
    later = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=30), channels,
                              grace=timedelta(minutes=15))
    assert (later.held, later.resolved) == (1, 0)
    held = rows(engine)[PHONES[1]]
    assert held.status == "unknown" and held.provider_message_id is None
    assert touches(engine) == [1, 0, 1]  # the held touch does not advance

    again = run_child(url, None)  # a later run still does not send it blindly
    assert again.returncode == 0, again.stderr
    assert copies_per_recipient(server)[PHONES[1]] == 0
    # A person checks and finds it never went: the next run sends it, once.
    assert resolve_held(engine, held.message_id, was_sent=False, by="ops@example") == "deferred"
    final = run_child(url, None)
    assert final.returncode == 0, final.stderr
    assert copies_per_recipient(server) == dict.fromkeys(PHONES, 1)
    assert touches(engine) == [1, 1, 1]
    assert len(rows(engine)) == 3
    server.assert_spec_clean()


def test_killed_after_the_provider_accepted_is_reconciled_from_the_message_list(setting):
    engine, url, server = setting
    crashed = run_child(url, "after_provider_accepted:2")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert copies_per_recipient(server) == {PHONES[0]: 1, PHONES[1]: 1, PHONES[2]: 0}
    stuck = rows(engine)[PHONES[1]]
    assert stuck.status == "sending" and stuck.provider_message_id is None

    restarted = run_child(url, None)
    assert restarted.returncode == 0, restarted.stderr
    assert copies_per_recipient(server) == dict.fromkeys(PHONES, 1)

    elsewhere = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=1),
                                  channels_from_environment(), market_code="lake_fl")
    assert elsewhere.checked == 0
    report = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=1),
                               channels_from_environment(), grace=timedelta(minutes=15),
                               market_code="orange_fl")
    assert (report.checked, report.resolved) == (1, 1)
    closed = rows(engine)[PHONES[1]]
    [sid] = [sid for sid, m in server.messages.items() if m["to"] == PHONES[1]]
    assert closed.status == "queued" and closed.provider_message_id == sid
    assert closed.cost_usd and closed.cost_usd > 0
    assert touches(engine) == [1, 1, 1]
    with ledger_session(engine) as session:
        sources = list(session.scalars(select(MessageEvent.source).where(
            MessageEvent.message_id == closed.message_id)))
    assert sources == ["send", "reconcile"]
    again = run_child(url, None)
    assert again.returncode == 0, again.stderr
    assert copies_per_recipient(server) == dict.fromkeys(PHONES, 1)
    server.assert_spec_clean()


def test_a_status_callback_closes_an_attempt_whose_provider_id_was_lost(setting):
    engine, url, server = setting
    crashed = run_child(url, "after_provider_accepted:1")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    stuck = rows(engine)[PHONES[0]]
    [sid] = list(server.messages)
    assert apply_status_callback(engine, sid, "delivered",
                                 message_id=stuck.message_id) == stuck.message_id
    closed = rows(engine)[PHONES[0]]
    assert (closed.status, closed.provider_message_id) == ("delivered", sid)
    assert touches(engine)[0] == 1
    assert reconcile_unknown(engine, INSIDE_WINDOW + timedelta(hours=1),
                             channels_from_environment()).checked == 0


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
