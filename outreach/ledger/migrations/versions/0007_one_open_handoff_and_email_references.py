"""one open handoff per owner; the References chain of inbound email

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

- `handoffs`: at most one open handoff (status `waiting` or `claimed`) per owner, enforced by
  a partial unique index (`uq_handoffs_open_owner`, SQLite and PostgreSQL). Two interested
  replies processed at the same instant could each open one before; a database that has
  such pairs keeps, per owner, the claimed one (a closer works on it), else the newest (the
  one the code reads), and the others are closed (`closed_at` set, an `audit_log` entry
  each), so no row is deleted.
- `messages.email_references`: for an inbound email, the thread it continues (its References
  header, else its In-Reply-To), so our answer can carry In-Reply-To and References and the
  seller's mail client threads it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN = ("waiting", "claimed")
OPEN_CONDITION = sa.text("status IN ('waiting', 'claimed')")


def _close_duplicate_open_handoffs() -> None:
    bind = op.get_bind()
    handoffs = sa.table("handoffs", sa.column("handoff_id", sa.Integer),
                        sa.column("owner_id", sa.Integer), sa.column("status", sa.String),
                        sa.column("closed_at", sa.DateTime))
    audit = sa.table("audit_log", sa.column("at", sa.DateTime), sa.column("actor", sa.String),
                     sa.column("action", sa.String), sa.column("entity_type", sa.String),
                     sa.column("entity_id", sa.String), sa.column("detail", sa.JSON))
    rows = bind.execute(sa.select(handoffs.c.handoff_id, handoffs.c.owner_id,
                                  handoffs.c.status)
                        .where(handoffs.c.status.in_(OPEN))).all()
    by_owner: dict[int, list[tuple[int, str]]] = {}
    for handoff_id, owner_id, status in rows:
        by_owner.setdefault(owner_id, []).append((handoff_id, status))
    now = datetime.now(UTC).replace(tzinfo=None)  # the ledger stores naive UTC
    for owner_id, open_rows in by_owner.items():
        if len(open_rows) < 2:
            continue
        kept = max(open_rows, key=lambda row: (row[1] == "claimed", row[0]))[0]
        for handoff_id, status in open_rows:
            if handoff_id == kept:
                continue
            bind.execute(handoffs.update().where(handoffs.c.handoff_id == handoff_id)
                         .values(status="closed", closed_at=now))
            bind.execute(audit.insert().values(
                at=now, actor="migration 0007", action="handoff_closed_as_duplicate",
                entity_type="handoff", entity_id=str(handoff_id),
                detail={"owner_id": owner_id, "was": status, "kept_handoff_id": kept}))


def upgrade() -> None:
    _close_duplicate_open_handoffs()
    op.create_index("uq_handoffs_open_owner", "handoffs", ["owner_id"], unique=True,
                    sqlite_where=OPEN_CONDITION, postgresql_where=OPEN_CONDITION)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_references", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("email_references")
    op.drop_index("uq_handoffs_open_owner", table_name="handoffs")
