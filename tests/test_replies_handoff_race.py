"""At most one open handoff per owner (migration 0007, `handoff.start_handoff`), on SQLite
and on PostgreSQL (with TEST_POSTGRES_URL):

- the partial unique index refuses a second `waiting` / `claimed` handoff of one owner and
  allows any number of closed ones;
- migration 0007 runs forward on a ledger that already holds duplicate open handoffs: every
  row stays, one per owner stays open (the claimed one, else the newest), the others are
  closed with an audit entry;
- two transactions opening a handoff for the same owner at the same instant: the second
  gets the first one's handoff (on PostgreSQL the insert waits on the index and is refused,
  the test waits until it is blocked before the first commits);
- two interested replies of one owner processed by two threads at once: one handoff, one
  set of notices to the closer (the market file's), both replies attached to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sending_fixtures import INSIDE_WINDOW, add_lead, drip, load_lists, orange
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import AuditEntry, Handoff, Message, Owner
from outreach.replies.classify import ReplyClassifier
from outreach.replies.handoff import start_handoff
from outreach.replies.inbound import InboundMessage, process_inbound, receive_inbound
from outreach.replies.intent import IntentClassifier
from outreach.replies.sentiment import VaderSentiment
from outreach.sending import Channels, SendSettings, send_due

CONFIG = SendSettings(wholesaler_unsubscribe_base_url="https://example.com/u",
                      wholesaler_unsubscribe_secret="unsubscribe-secret-for-tests-" + "h" * 20,
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")
LEDGER_ENV = {"WHOLESALER_UNSUBSCRIBE_SECRET": "unsubscribe-secret-for-tests-" + "h" * 20}
AT = INSIDE_WINDOW + timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, env: Path) -> Iterator[Engine]:
    """A migrated ledger with fresh do-not-call lists: the tmp_path SQLite file, or a new
    database on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield request.getfixturevalue("engine")
        return
    engine = request.getfixturevalue("postgres_ledger")
    load_lists(engine)
    yield engine


def sms(sender: str, body: str, sid: str, at: datetime = AT) -> InboundMessage:
    return InboundMessage(channel="sms", provider="twilio", provider_message_id=sid,
                          from_address=sender, to_address="+14075550100", body=body,
                          received_at=at)


def open_handoffs(engine: Engine, owner_id: int) -> list[Handoff]:
    with ledger_session(engine) as session:
        return list(session.scalars(select(Handoff).where(
            Handoff.owner_id == owner_id, Handoff.status.in_(("waiting", "claimed")))))


def _handoff(owner_id: int, status: str, created_at: datetime) -> Handoff:
    return Handoff(owner_id=owner_id, market_code="orange_fl", reason="interested",
                   status=status, created_at=created_at)


# ------------------------------------------------------------------------------------------
# The index


def test_the_database_refuses_a_second_open_handoff_of_one_owner(ledger):
    owner_id = add_lead(ledger, phones=["+14075550301"]).owner_id
    other_id = add_lead(ledger, phones=["+14075550302"], owner_name="ROE LEE").owner_id
    with ledger_session(ledger) as session:
        session.add_all([_handoff(owner_id, "closed", AT), _handoff(owner_id, "closed", AT),
                         _handoff(owner_id, "waiting", AT), _handoff(other_id, "claimed", AT)])
    for status in ("waiting", "claimed"):
        with pytest.raises(IntegrityError), ledger_session(ledger) as session:
            session.add(_handoff(owner_id, status, AT))
    with ledger_session(ledger) as session:  # closing the open one frees the owner
        session.execute(sa.update(Handoff).where(Handoff.owner_id == owner_id,
                                                 Handoff.status == "waiting")
                        .values(status="closed", closed_at=AT))
        session.add(_handoff(owner_id, "waiting", AT + timedelta(days=1)))
    assert len(open_handoffs(ledger, owner_id)) == 1
    with ledger_session(ledger) as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 5


# ------------------------------------------------------------------------------------------
# Migration 0007 on a ledger holding duplicates


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_at_0006(request: pytest.FixtureRequest, env: Path) -> Iterator[Engine]:
    url = (f"sqlite:///{env / 'old.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = ledger_engine(url)
    upgrade_ledger(engine, "0006")
    try:
        yield engine
    finally:
        engine.dispose()


def test_migration_0007_keeps_every_row_and_one_open_handoff_per_owner(ledger_at_0006):
    engine = ledger_at_0006
    day = datetime(2026, 11, 20, tzinfo=UTC)
    with ledger_session(engine) as session:
        owners = [Owner(market_code="orange_fl", owner_key=f"OWNER {n}", owner_name=f"OWNER {n}")
                  for n in range(3)]
        session.add_all(owners)
        session.flush()
        first, second, third = (owner.owner_id for owner in owners)
        rows = [_handoff(first, "claimed", day), _handoff(first, "waiting", day),
                _handoff(first, "waiting", day + timedelta(hours=1)),
                _handoff(second, "waiting", day), _handoff(second, "waiting", day),
                _handoff(second, "closed", day), _handoff(third, "waiting", day)]
        session.add_all(rows)
        session.flush()
        ids = [row.handoff_id for row in rows]

    upgrade_ledger(engine)

    with ledger_session(engine) as session:
        status = dict(session.execute(select(Handoff.handoff_id, Handoff.status)).all())
        closed_at = dict(session.execute(select(Handoff.handoff_id, Handoff.closed_at)).all())
        audits = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "handoff_closed_as_duplicate")
            .order_by(AuditEntry.entity_id)))
    assert sorted(status) == sorted(ids)  # no row lost
    # Owner 1: the claimed one stays (a closer works on it); owner 2: the newest waiting.
    assert [status[i] for i in ids] == ["claimed", "closed", "closed", "closed", "waiting",
                                        "closed", "waiting"]
    assert all(closed_at[i] is not None for i in (ids[1], ids[2], ids[3]))
    assert closed_at[ids[5]] is None  # closed before, untouched
    assert sorted(int(entry.entity_id) for entry in audits) == sorted([ids[1], ids[2], ids[3]])
    assert {entry.detail["kept_handoff_id"] for entry in audits} == {ids[0], ids[4]}
    indexes = {index["name"]: index for index in sa.inspect(engine).get_indexes("handoffs")}
    assert indexes["uq_handoffs_open_owner"]["unique"]
    assert "email_references" in {column["name"] for column in
                                  sa.inspect(engine).get_columns("messages")}
    with pytest.raises(IntegrityError), ledger_session(engine) as session:
        session.add(_handoff(first, "waiting", day + timedelta(days=1)))


@pytest.mark.postgres
def test_migrated_postgresql_schema_matches_the_models(postgres_ledger):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from outreach.ledger.models import Base

    with postgres_ledger.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


# ------------------------------------------------------------------------------------------
# Two transactions at the same instant


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


def test_a_concurrent_insert_attaches_the_reply_to_the_first_handoff(ledger, caplog):
    lead = add_lead(ledger, phones=["+14075550311"])
    first = receive_inbound(ledger, sms("+14075550311", "Yes I'm interested", "SMrace1"))
    second = receive_inbound(ledger, sms("+14075550311", "Call me, I'd sell", "SMrace2"))
    market = orange()
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def second_transaction() -> None:
        try:
            with ledger_session(ledger) as session:
                trigger = session.get(Message, second.message_id)
                handoff, created = start_handoff(session, lead.owner_id, market, trigger,
                                                 "interested", AT)
                results.append((handoff.handoff_id, created))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    caplog.set_level(logging.INFO, logger="outreach.replies.handoff")
    with ledger_session(ledger) as session:
        # The first transaction has opened a handoff and not committed yet.
        row = Handoff(owner_id=lead.owner_id, market_code=market.code, reason="interested",
                      trigger_message_id=first.message_id, status="waiting", created_at=AT)
        session.add(row)
        session.flush()
        first_id = row.handoff_id
        racer = threading.Thread(target=second_transaction)
        racer.start()
        deadline = time.monotonic() + 20
        if ledger.dialect.name == "postgresql":
            # Its check found no open handoff; its insert now waits on the unique index.
            while not _waiting_on_a_lock(ledger):
                assert time.monotonic() < deadline and racer.is_alive(), errors
                time.sleep(0.05)
        else:
            time.sleep(0.5)  # SQLite: it waits for the write lock, then reads our handoff
    racer.join(30)
    assert not errors, errors
    assert results == [(first_id, False)]
    assert [h.handoff_id for h in open_handoffs(ledger, lead.owner_id)] == [first_id]
    if ledger.dialect.name == "postgresql":
        assert "a handoff was opened concurrently" in caplog.text


def test_two_interested_replies_processed_at_once_open_one_handoff(ledger, env):
    """Two threads process two interested replies of each of three owners at the same
    instant (a barrier). Each owner ends with one handoff and one set of notices (SMS and
    email to the market's closer); a reply whose processing saw the other's handoff
    committed already is a `human_takeover` and forwarded, never a second handoff."""
    leads = [add_lead(ledger, phones=[f"+1407555032{n}"], owner_name=f"SELLER {n}")
             for n in range(3)]
    outbox = Channels.outbox(env / "outbox")
    send_due(ledger, drip(), orange(), INSIDE_WINDOW, channels=outbox, config=CONFIG)
    pairs = [(receive_inbound(ledger, sms(lead.phones[0], "Yes I'm interested, call me",
                                          f"SMa{n}")).message_id,
              receive_inbound(ledger, sms(lead.phones[0], "I would sell it. What's your offer?",
                                          f"SMb{n}")).message_id)
             for n, lead in enumerate(leads)]
    decisions: dict[int, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(message_id: int) -> None:
        classifier = ReplyClassifier(IntentClassifier(), VaderSentiment())
        try:
            barrier.wait(30)
            decisions[message_id] = process_inbound(ledger, message_id, classifier=classifier,
                                                    channels=outbox,
                                                    now=AT + timedelta(minutes=1))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    for pair in pairs:
        barrier.reset()
        threads = [threading.Thread(target=worker, args=(message_id,)) for message_id in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors, errors

    for lead, pair in zip(leads, pairs, strict=True):
        [handoff] = open_handoffs(ledger, lead.owner_id)
        assert {decisions[message_id] for message_id in pair} <= {"handoff", "human_takeover"}
        with ledger_session(ledger) as session:
            notices = list(session.scalars(select(Message).where(
                Message.owner_id == lead.owner_id, Message.purpose == "handoff_notice")))
            replies = {message_id: session.get(Message, message_id) for message_id in pair}
        first_notices = [m for m in notices if ":msg" not in (m.idempotency_key or "")]
        assert sorted(m.channel for m in first_notices) == ["email", "sms"]
        assert handoff.notified_sms_message_id in {m.message_id for m in first_notices}
        for message_id, row in replies.items():
            assert row.processed_at is not None
            if decisions[message_id] == "handoff":  # attached to the one handoff
                assert row.classification["handoff_id"] == handoff.handoff_id
        follow_ups = [m for m in notices if ":msg" in (m.idempotency_key or "")]
        assert len(follow_ups) == 2 * list(decisions[m] for m in pair).count("human_takeover")
