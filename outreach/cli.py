"""`wholesaler ledger …`: migrate the outreach ledger, show where it stands, make and rotate
the keys that encrypt its personal data."""

from __future__ import annotations

import json

import typer

ledger_app = typer.Typer(help="The outreach ledger (SQLite by default, PostgreSQL via "
                              "WHOLESALER_LEDGER_URL).", no_args_is_help=True)


@ledger_app.command("upgrade")
def ledger_upgrade() -> None:
    """Apply every pending migration (safe to repeat; never drops data)."""
    from outreach.ledger.db import ledger_engine, ledger_revision, upgrade_ledger

    engine = ledger_engine()
    before = ledger_revision(engine)
    upgrade_ledger(engine)
    typer.echo(json.dumps({"ledger": engine.url.render_as_string(hide_password=True),
                           "from_revision": before, "to_revision": ledger_revision(engine)}))


@ledger_app.command("status")
def ledger_status() -> None:
    """Where the ledger stands: its revision against the newest migration, and row counts."""
    import sqlalchemy as sa

    from outreach.ledger.db import head_revision, ledger_engine, ledger_revision
    from outreach.ledger.models import Base

    engine = ledger_engine()
    revision = ledger_revision(engine)
    tables = set(sa.inspect(engine).get_table_names())
    counts = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in tables:
                counts[table.name] = connection.execute(
                    sa.select(sa.func.count()).select_from(table)).scalar_one()
    typer.echo(json.dumps({"ledger": engine.url.render_as_string(hide_password=True),
                           "revision": revision, "head": head_revision(),
                           "is_current": revision == head_revision(), "rows": counts}, indent=2))
    if revision != head_revision():
        raise typer.Exit(1)


@ledger_app.command("new-key")
def ledger_new_key() -> None:
    """Print a new Fernet key for WHOLESALER_PII_KEYS (put it first, then rotate-keys)."""
    from outreach.ledger.pii import new_fernet_key

    typer.echo(new_fernet_key())


@ledger_app.command("rotate-keys")
def ledger_rotate_keys() -> None:
    """Re-encrypt every stored phone and email under the first key of WHOLESALER_PII_KEYS."""
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.key_rotation import rotate_ledger_keys

    with ledger_session(ledger_engine()) as session:
        reports = rotate_ledger_keys(session)
    typer.echo(json.dumps([{"table": r.table, "column": r.column, "rows": r.rows}
                           for r in reports]))
