"""Shared test fixtures: the project's paths, the optional ../shared reference folder, fresh
PostgreSQL databases on the test server (TEST_POSTGRES_URL), PII keys, and the ledger tests'
`env` (keys, a data folder in tmp_path, a clean environment) and `engine` (a migrated SQLite
ledger with fresh do-not-call lists).

A test module adds variables of its own to `env` with a module-level dict `LEDGER_ENV`
(name -> value).
"""

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


# Variables of the developer's shell that would change what a ledger test does (a model to
# ask, a closer to notify): cleared by `env`.
CLEARED_VARIABLES = ("WHOLESALER_LLM_PROVIDER", "WHOLESALER_OLLAMA_URL",
                     "WHOLESALER_OPENAI_BASE_URL", "WHOLESALER_SENTIMENT_MODEL_DIR",
                     "WHOLESALER_CLOSER_NAME", "WHOLESALER_CLOSER_PHONE",
                     "WHOLESALER_CLOSER_EMAIL")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pii_keys: str,
        request: pytest.FixtureRequest) -> Path:
    """tmp_path, with fresh PII keys, `WHOLESALER_DATA_DIR` inside it (the outbox lands in
    tmp_path/data/outbox), `CLEARED_VARIABLES` cleared and the module's `LEDGER_ENV` set."""
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    for name in CLEARED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in getattr(request.module, "LEDGER_ENV", {}).items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture
def engine(env: Path):  # type: ignore[no-untyped-def]
    """A SQLite ledger in tmp_path, migrated to the newest revision, with a fresh national
    registry copy and the Florida list (`sending_fixtures.load_lists`)."""
    from sending_fixtures import load_lists

    from outreach.ledger.db import ledger_engine, upgrade_ledger

    engine = ledger_engine(f"sqlite:///{env / 'outreach.db'}")
    upgrade_ledger(engine)
    load_lists(engine)
    try:
        yield engine
    finally:
        engine.dispose()
