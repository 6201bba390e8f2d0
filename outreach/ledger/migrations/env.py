"""Alembic environment for the ledger: runs migrations on the engine the caller passes in
(`outreach.ledger.db.upgrade_ledger`), or on `WHOLESALER_LEDGER_URL` from the alembic CLI."""

from __future__ import annotations

from alembic import context

from outreach.ledger.db import ledger_engine
from outreach.ledger.models import Base

config = context.config
engine = config.attributes.get("engine") or ledger_engine()

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
