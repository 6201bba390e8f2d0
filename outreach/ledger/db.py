"""Ledger connections and schema migrations.

`ledger_engine()` opens the ledger named by `WHOLESALER_LEDGER_URL` (default: SQLite file
`data/outreach.db` in WAL mode, so a webhook can write while a send run reads). The schema is
owned by Alembic (`outreach/ledger/migrations`): `upgrade_ledger()` brings any existing
database forward without losing data, and `ledger_revision()` tells where a database stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pipelines import settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # FULL: each commit reaches the disk before it returns. With NORMAL a commit in WAL mode
    # can be undone by a power loss or an OS crash, and the send path relies on its attempt
    # rows surviving anything: an attempt lost after the provider was called would be sent
    # again (and a lost opt-out would be texted again). Costs one fsync per commit.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def ledger_engine(url: str | None = None) -> Engine:
    """An engine for the ledger at `url` (default: `settings.ledger_url()`)."""
    url = url or settings.ledger_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_ledger(engine: Engine, revision: str = "head") -> None:
    """Run every migration not yet applied (safe to run on every start)."""
    command.upgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def ledger_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def ledger_session(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
