"""Two send runs at the same instant, for two campaigns that reach the same people: the
per-person cap (3 SMS in 24 h across numbers) and the per-contact cap (1 a day) must hold
across the runs, not only within one. On PostgreSQL the decision transaction locks the
owners' rows (`lock_owners`, FOR NO KEY UPDATE); on SQLite it is a writer from its first
statement (BEGIN IMMEDIATE). Both ledgers are real (PostgreSQL only with TEST_POSTGRES_URL);
both runs write to the outbox, one folder each.

Also the batched pipeline with its planner process against the local Twilio server (which
checks every request against Twilio's OpenAPI spec): the same ledger as one message at a
time, and a run killed mid-way (`WHOLESALER_CRASH_AT`) never doubles a message after a
restart and `reconcile_unknown`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).parent))

from sending_fixtures import (
    INSIDE_WINDOW,
    MESSAGING_SERVICE_SID,
    TODAY,
    add_lead,
    campaign_record,
    drip,
    load_lists,
    orange,
)
from twilio_server import TwilioServer

from outreach.channels.outbox import read_outbox
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import Enrollment, LeadStatusChange, Message, MessageEvent
from outreach.sending import (
    CRASH_EXIT_CODE,
    SOLICITATION_STATUSES,
    Channels,
    SendSettings,
    reconcile_unknown,
    send_due,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

CONFIG = SendSettings(wholesaler_unsubscribe_secret="c" * 40, wholesaler_sms_per_second=0,
                      wholesaler_send_batch=8)
SECOND = "fl_cash_offer_v1_b"
SINGLE_PHONE_OWNERS = 24
CAPPED_OWNERS = 8


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.setenv(pii.HASH_KEY_ENV, "test-hash-key-" + "y" * 32)
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    pii.reset_keyring()
    yield tmp_path
    pii.reset_keyring()


def seed(engine: Engine) -> tuple[list[int], list[int]]:
    """Owners enrolled in both campaigns: some with one phone (the per-contact cap decides),
    some with three phones of which two had an SMS an hour ago (the per-person cap decides).
    Returns (single-phone owners, capped owners)."""
    load_lists(engine)
    second_id = campaign_record(engine, SECOND)
    singles, capped = [], []
    for n in range(SINGLE_PHONE_OWNERS):
        lead = add_lead(engine, phones=[f"+140755511{n:02d}"], score=100 - n)
        singles.append(lead.owner_id)
    earlier = INSIDE_WINDOW - timedelta(hours=1)
    for n in range(CAPPED_OWNERS):
        lead = add_lead(engine, phones=[f"+140755512{n:02d}", f"+140755513{n:02d}",
                                        f"+140755514{n:02d}"], score=50 - n)
        capped.append(lead.owner_id)
        with ledger_session(engine) as session:
            for position, contact_id in enumerate(lead.phone_ids[1:], start=1):
                session.add(Message(direction="outbound", channel="sms", provider="outbox",
                                    status="queued", idempotency_key=f"earlier:{lead.owner_id}:"
                                    f"{position}", owner_id=lead.owner_id,
                                    contact_id=contact_id, planned_at=earlier,
                                    attempted_at=earlier, sent_at=earlier, purpose="touch"))
    with ledger_session(engine) as session:
        for owner_id in singles + capped:
            first = session.scalar(select(Enrollment).where(Enrollment.owner_id == owner_id))
            session.add(Enrollment(campaign_id=second_id, owner_id=owner_id,
                                   market_code="orange_fl", parcel_id=first.parcel_id,
                                   tier="A", score=first.score, status="not_started",
                                   touches_sent=0, enrolled_on=TODAY))
    return singles, capped


def run_both_at_once(engine: Engine, folder: Path) -> list[object]:
    campaigns = [drip(), drip().model_copy(update={"name": SECOND})]
    start = threading.Barrier(len(campaigns))
    reports: list[object] = [None] * len(campaigns)
    errors: list[BaseException] = []

    def run(position: int) -> None:
        try:
            start.wait()
            reports[position] = send_due(
                engine, campaigns[position], orange(), INSIDE_WINDOW, workers=4,
                channels=Channels.outbox(folder / f"outbox_{position}"), config=CONFIG)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(campaigns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return reports


def check_caps(engine: Engine, folder: Path, singles: list[int], capped: list[int]) -> None:
    reports = run_both_at_once(engine, folder)
    since = INSIDE_WINDOW - timedelta(hours=24)
    with ledger_session(engine) as session:
        rows = session.execute(select(Message.owner_id, Message.contact_id, Message.status,
                                      Message.error_code)
                               .where(Message.direction == "outbound",
                                      Message.attempted_at > since)).all()
    went = [row for row in rows if row.status in SOLICITATION_STATUSES]
    per_owner = Counter(row.owner_id for row in went)
    per_contact = Counter(row.contact_id for row in went)
    assert max(per_contact.values()) == 1, "a contact got two messages on one day"
    assert max(per_owner.values()) <= 3, "a person got more than 3 SMS in 24 h"
    # Each person got exactly one of the two touches (the other run deferred its touch).
    assert all(per_owner[owner] == 1 for owner in singles)
    assert all(per_owner[owner] == 3 for owner in capped)  # 2 earlier + 1 now
    outboxed = sum(len(read_outbox(folder / f"outbox_{n}")) for n in range(2))
    assert outboxed == len(singles) + len(capped)
    assert sum(report.outboxed for report in reports) == outboxed  # type: ignore[attr-defined]
    deferred = Counter()
    for report in reports:
        deferred.update(report.deferred_reasons)  # type: ignore[attr-defined]
    assert sum(deferred.values()) == len(singles) + len(capped)
    assert set(deferred) <= {"contact_cap_day", "person_cap_24h"}


@pytest.mark.postgres
def test_two_campaigns_at_once_keep_the_caps_on_postgresql(keys, postgres_ledger):
    singles, capped = seed(postgres_ledger)
    check_caps(postgres_ledger, keys, singles, capped)


def test_two_campaigns_at_once_keep_the_caps_on_sqlite(keys):
    engine = ledger_engine(f"sqlite:///{keys / 'outreach.db'}")
    upgrade_ledger(engine)
    singles, capped = seed(engine)
    check_caps(engine, keys, singles, capped)


# ------------------------------------------------------------------------------------------
# Batches and the planner process: the same results, and a kill never doubles a message


def twilio_channels_from_environment() -> Channels:
    from outreach.channels.outbox import OutboxChannel
    from outreach.channels.sms import TwilioSmsChannel
    from outreach.service_settings import twilio_settings
    from outreach.twilio_client import twilio_rest_client

    settings = twilio_settings()
    return Channels(sms=TwilioSmsChannel(lambda: twilio_rest_client(settings, 10),
                                         MESSAGING_SERVICE_SID, retry_pause_seconds=0),
                    email=OutboxChannel(channel="email"))


PIPELINE = SendSettings(wholesaler_unsubscribe_secret="c" * 40, wholesaler_sms_per_second=0,
                        wholesaler_send_batch=7, wholesaler_send_process_min=1)
LEADS = 40


def child_main(ledger_url: str) -> None:
    """A batched run with the planner process (run by `run_child`)."""
    report = send_due(ledger_engine(ledger_url), drip(), orange(), INSIDE_WINDOW, workers=4,
                      channels=twilio_channels_from_environment(), config=PIPELINE)
    print(report.as_metadata())


@pytest.fixture
def pipeline_setting(keys: Path, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[tuple[Engine, str, TwilioServer]]:
    url = f"sqlite:///{keys / 'outreach.db'}"
    engine = ledger_engine(url)
    upgrade_ledger(engine)
    load_lists(engine)
    for n in range(LEADS):
        add_lead(engine, phones=[f"+14075552{n:03d}"], score=100 - n,
                 consent=n % 5 != 4)  # every fifth is refused: no consent
    with TwilioServer() as server:
        for name, value in server.settings_env().items():
            monkeypatch.setenv(name, value)
        yield engine, url, server


def run_child(url: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("WHOLESALER_CRASH_AT", None)
    if crash_at:
        env["WHOLESALER_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, __file__, url], env=env, capture_output=True,
                          text=True, timeout=180, cwd=PROJECT_ROOT, check=False)


def test_the_planner_process_sends_each_allowed_touch_once(pipeline_setting):
    engine, url, server = pipeline_setting
    done = run_child(url, None)
    assert done.returncode == 0, done.stderr
    assert "'sent': 32" in done.stdout and "'no_consent': 8" in done.stdout
    copies = Counter(message["to"] for message in server.messages.values())
    assert len(copies) == 32 and set(copies.values()) == {1}
    server.assert_spec_clean()
    with ledger_session(engine) as session:
        rows = session.execute(select(Message.status, Message.provider_message_id,
                                      Message.cost_usd, Message.enrollment_id)).all()
        touched = session.scalars(select(Enrollment.touches_sent)).all()
        events = Counter(session.scalars(select(MessageEvent.status)))
        contacted = session.scalars(select(LeadStatusChange.owner_id).where(
            LeadStatusChange.status == "contacted")).all()
    assert Counter(row.status for row in rows) == {"queued": 32, "refused": 8}
    assert {row.provider_message_id for row in rows if row.status == "queued"} == set(
        server.messages)
    assert all(row.cost_usd and row.cost_usd > 0 for row in rows if row.status == "queued")
    assert set(touched) == {1}  # sent or skipped past (refused), each once
    assert events == {"sending": 32, "queued": 32, "refused": 8}
    assert len(contacted) == len(set(contacted)) == 32
    again = run_child(url, None)
    assert again.returncode == 0 and "'due': 0" in again.stdout
    assert len(server.messages) == 32


def test_a_batched_run_killed_mid_way_never_doubles_a_message(pipeline_setting):
    engine, url, server = pipeline_setting
    crashed = run_child(url, "after_provider_accepted:12")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    first = Counter(message["to"] for message in server.messages.values())
    assert set(first.values()) == {1} and 12 <= len(first) < 32

    restarted = run_child(url, None)
    assert restarted.returncode == 0, restarted.stderr
    channels = twilio_channels_from_environment()
    soon = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=1), channels,
                             grace=timedelta(minutes=15))
    later = reconcile_unknown(engine, INSIDE_WINDOW + timedelta(minutes=30), channels,
                              grace=timedelta(minutes=15))
    copies = Counter(message["to"] for message in server.messages.values())
    assert set(copies.values()) == {1}, "a recipient got a touch twice"
    with ledger_session(engine) as session:
        statuses = Counter(session.scalars(select(Message.status)))
    # Each allowed touch either went once (closed from the send or from Twilio's list) or was
    # decided but never called before the kill: held for a person, never sent blindly.
    assert statuses["queued"] == len(copies) and statuses["refused"] == 8
    assert statuses["unknown"] == later.held == 32 - len(copies)
    assert soon.resolved >= 1 and statuses["sending"] == 0
    again = run_child(url, None)
    assert again.returncode == 0
    assert Counter(message["to"] for message in server.messages.values()) == copies
    server.assert_spec_clean()


if __name__ == "__main__":
    child_main(sys.argv[1])
