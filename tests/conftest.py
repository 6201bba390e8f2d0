"""Shared test fixtures: the project's paths, the optional ../shared reference folder, and
fresh PostgreSQL databases on the test server (TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


@pytest.fixture
def shared_reference() -> Path:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"{SHARED_REFERENCE} is absent (it sits beside the clone only in CI)")
    return SHARED_REFERENCE


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards; skips (with
    the reason) where TEST_POSTGRES_URL is not set."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set (CI sets it for the server on 127.0.0.1)")
    import sqlalchemy as sa

    database = f"wholesaler_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    try:
        yield sa.engine.make_url(url).set(database=database).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_ledger(postgres_url: str):  # type: ignore[no-untyped-def]
    """A ledger engine on a fresh PostgreSQL database, migrated to the newest revision."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger

    engine = ledger_engine(postgres_url)
    upgrade_ledger(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pii_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fresh PII keys for the test through the environment (as production sets them); yields
    the Fernet key."""
    from outreach.ledger import pii

    key = pii.new_fernet_key()
    monkeypatch.setenv(pii.KEYS_ENV, key)
    monkeypatch.setenv(pii.HASH_KEY_ENV, "test-hash-key-" + "x" * 32)
    pii.reset_keyring()
    yield key
    pii.reset_keyring()
