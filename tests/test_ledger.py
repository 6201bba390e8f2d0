"""The outreach ledger: migrations on SQLite and PostgreSQL, personal data encrypted at rest
with lookups by keyed hash, key rotation, do-not-call lists and contact scrubs."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, select

from outreach.ledger import pii
from outreach.ledger.db import (
    head_revision,
    ledger_engine,
    ledger_revision,
    ledger_session,
    upgrade_ledger,
)
from outreach.ledger.dnc_store import (
    DncListLoad,
    lists_holding,
    load_dnc_list,
    registry_is_stale,
    scrub_contact,
)
from outreach.ledger.key_rotation import ENCRYPTED_COLUMNS, rotate_ledger_keys
from outreach.ledger.models import Base, Contact, EncryptedString, Owner

PHONE = "+14075550123"
EMAIL = "pat.owner@example.com"


@pytest.fixture
def ledger(tmp_path, pii_keys) -> Engine:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    return engine


def _add_owner_with_contacts(engine: Engine) -> tuple[int, int]:
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        owner = Owner(market_code="orange_fl", owner_key="PAT OWNER|12 ELM ST|32801",
                      owner_name="PAT OWNER", mailing_address="12 ELM ST")
        session.add(owner)
        session.flush()
        phone = Contact(owner_id=owner.owner_id, channel="phone", value=PHONE,
                        value_hash=keyring.lookup_hash("phone", PHONE),
                        value_hint=pii.mask_phone(PHONE), is_valid=True, confidence=0.8)
        email = Contact(owner_id=owner.owner_id, channel="email", value=EMAIL,
                        value_hash=keyring.lookup_hash("email", EMAIL),
                        value_hint=pii.mask_email(EMAIL), is_valid=True, confidence=0.6)
        session.add_all([phone, email])
        session.flush()
        return phone.contact_id, email.contact_id


def test_migrations_bring_a_new_database_to_head_and_rerun_safely(ledger):
    assert ledger_revision(ledger) == head_revision()
    upgrade_ledger(ledger)
    assert ledger_revision(ledger) == head_revision()
    tables = set(sa.inspect(ledger).get_table_names())
    assert {"owners", "contacts", "contact_sources", "dnc_lists", "dnc_numbers",
            "dnc_scrubs", "audit_log"} <= tables


def test_sqlite_ledger_commits_are_durable_and_concurrent(ledger):
    # An attempt row must outlive a power loss, or the touch would be sent twice: WAL with
    # synchronous FULL (NORMAL may undo the last commits), readers beside one writer.
    with ledger.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrated_schema_matches_the_models(ledger):
    """Autogenerate finds nothing to do: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with ledger.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_phones_and_emails_are_not_stored_in_plain_text(ledger, tmp_path):
    phone_id, _ = _add_owner_with_contacts(ledger)
    with ledger.connect() as connection:
        stored = connection.execute(sa.text("SELECT value FROM contacts")).scalars().all()
    assert all(PHONE not in value and EMAIL not in value for value in stored)
    ledger.dispose()
    raw_bytes = b"".join(path.read_bytes() for path in tmp_path.glob("outreach.db*"))
    assert PHONE.encode() not in raw_bytes and b"4075550123" not in raw_bytes
    assert EMAIL.encode() not in raw_bytes
    with ledger_session(ledger) as session:
        wanted = pii.current_keyring().lookup_hash("phone", PHONE)
        found = session.scalars(select(Contact).where(Contact.value_hash == wanted)).one()
        assert found.contact_id == phone_id and found.value == PHONE


def test_key_rotation_re_encrypts_so_the_old_key_can_go(ledger, pii_keys, monkeypatch):
    _add_owner_with_contacts(ledger)
    with ledger.connect() as connection:
        before = connection.execute(sa.text("SELECT value FROM contacts")).scalars().all()
    new_key = pii.new_fernet_key()
    monkeypatch.setenv(pii.KEYS_ENV, f"{new_key},{pii_keys}")
    pii.reset_keyring()
    with ledger_session(ledger) as session:
        reports = rotate_ledger_keys(session)
    assert [(r.table, r.rows) for r in reports] == [("contacts", 2), ("messages", 0)]
    with ledger.connect() as connection:
        after = connection.execute(sa.text("SELECT value FROM contacts")).scalars().all()
    assert set(after).isdisjoint(before)
    monkeypatch.setenv(pii.KEYS_ENV, new_key)
    pii.reset_keyring()
    with ledger_session(ledger) as session:
        assert sorted(session.scalars(select(Contact.value))) == sorted([PHONE, EMAIL])
    monkeypatch.setenv(pii.KEYS_ENV, pii_keys)
    pii.reset_keyring()
    with ledger_session(ledger) as session, pytest.raises(pii.PiiKeyError, match="rotate"):
        list(session.scalars(select(Contact.value)))


def test_every_encrypted_model_column_is_rotated():
    encrypted = {(table.name, column.name) for table in Base.metadata.tables.values()
                 for column in table.columns if isinstance(column.type, EncryptedString)}
    assert encrypted == {(table, column) for table, _, column in ENCRYPTED_COLUMNS}


def test_keys_must_be_given_together_and_well_formed(monkeypatch):
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.delenv(pii.HASH_KEY_ENV, raising=False)
    with pytest.raises(pii.PiiKeyError, match=pii.HASH_KEY_ENV):
        pii.keyring_from_environment()
    monkeypatch.setenv(pii.KEYS_ENV, "not-a-key")
    monkeypatch.setenv(pii.HASH_KEY_ENV, "k" * 40)
    with pytest.raises(pii.PiiKeyError, match="key 1 is not a Fernet key"):
        pii.keyring_from_environment()


def test_demo_keys_are_generated_once_with_owner_only_permissions(monkeypatch, tmp_path):
    monkeypatch.delenv(pii.KEYS_ENV, raising=False)
    monkeypatch.delenv(pii.HASH_KEY_ENV, raising=False)
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path))
    first = pii.keyring_from_environment()
    second = pii.keyring_from_environment()
    keys_file = tmp_path / "secrets" / "pii_keys.json"
    assert first == second and first.origin == str(keys_file)
    assert keys_file.stat().st_mode & 0o777 == 0o600


def _national_list(numbers: list[str], downloaded_on: date, *, change: bool = False,
                   removed: list[str] | None = None) -> DncListLoad:
    return DncListLoad(kind="national", source_file="407.txt", file_sha256="0" * 64,
                       downloaded_on=downloaded_on, downloaded_on_basis="argument",
                       numbers_added=numbers, numbers_removed=removed or [],
                       area_code="407", is_change_list=change)


def test_scrub_blocks_sms_for_listed_numbers_and_records_the_copy_date(ledger):
    phone_id, _ = _add_owner_with_contacts(ledger)
    with ledger_session(ledger) as session:
        load_dnc_list(session, _national_list([PHONE, "+14075550199"], date(2026, 11, 1)))
        scrub = scrub_contact(session, session.get(Contact, phone_id), today=date(2026, 11, 21))
        assert scrub.is_listed and scrub.listed_on == ["national"]
        assert scrub.is_sms_blocked and scrub.national_downloaded_on == date(2026, 11, 1)
        # A change list takes the number off; the next scrub is clear.
        load_dnc_list(session, _national_list([], date(2026, 11, 15), change=True,
                                              removed=[PHONE]))
        assert lists_holding(session, PHONE) == []
        clear = scrub_contact(session, session.get(Contact, phone_id), today=date(2026, 11, 21))
        assert not clear.is_listed and not clear.is_sms_blocked and clear.reason == "clear"
        assert clear.national_downloaded_on == date(2026, 11, 15)
    with ledger.connect() as connection:
        hashes = connection.execute(sa.text("SELECT phone_hash FROM dnc_numbers")).scalars().all()
    assert hashes and all(len(value) == 64 and PHONE[2:] not in value for value in hashes)


def test_a_full_list_replaces_the_earlier_copy_of_its_area_code(ledger):
    with ledger_session(ledger) as session:
        load_dnc_list(session, _national_list([PHONE], date(2026, 10, 1)))
        load_dnc_list(session, _national_list(["+14075550150"], date(2026, 11, 1)))
        assert lists_holding(session, PHONE) == []
        assert lists_holding(session, "+14075550150") == ["national"]


def test_stale_or_missing_registry_copy_blocks_sms(ledger):
    phone_id, _ = _add_owner_with_contacts(ledger)
    with ledger_session(ledger) as session:
        missing = scrub_contact(session, session.get(Contact, phone_id), today=date(2026, 11, 21))
        assert missing.is_sms_blocked and "no national registry copy for area code 407" in \
            missing.reason
        load_dnc_list(session, _national_list([], date(2026, 10, 1)))
        stale = scrub_contact(session, session.get(Contact, phone_id), today=date(2026, 11, 21))
        assert stale.is_sms_blocked and "older than 31 days" in stale.reason
    assert not registry_is_stale(date(2026, 10, 21), date(2026, 11, 21))
    assert registry_is_stale(date(2026, 10, 20), date(2026, 11, 21))


@pytest.mark.postgres
def test_migrations_and_encryption_on_postgresql(pii_keys, postgres_ledger):
    engine = postgres_ledger
    assert ledger_revision(engine) == head_revision()
    phone_id, _ = _add_owner_with_contacts(engine)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT value FROM contacts")).scalars().all()
    assert PHONE not in stored and EMAIL not in stored
    with ledger_session(engine) as session:
        load_dnc_list(session, _national_list([PHONE], date(2026, 11, 1)))
        load_dnc_list(session, _national_list([PHONE], date(2026, 11, 2), change=True))
        scrub = scrub_contact(session, session.get(Contact, phone_id), date(2026, 11, 21))
        assert scrub.is_listed


def test_provider_id_and_thread_lookups_use_their_partial_indexes(ledger):
    """Migration 0009 made both indexes partial (`IS NOT NULL`: touches have neither value);
    the lookups by value (a status callback's SID, the replies to a message) still use them."""
    engine = ledger
    with engine.connect() as connection:
        for column, index in (("provider_message_id", "ix_messages_provider_message_id"),
                              ("in_reply_to_id", "ix_messages_in_reply_to_id")):
            plan = " ".join(row[3] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT message_id FROM messages WHERE {column} = ?",
                ("SM0",)))
            assert f"INDEX {index} ({column}=?)" in plan, plan
