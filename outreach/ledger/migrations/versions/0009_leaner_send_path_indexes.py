"""leaner indexes on the send path's tables

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

Every planned touch writes a `compliance_decisions` row and a `messages` row; each index on
them is one more B-tree entry per message (and, under load, one more page written per
commit). This revision keeps the indexes that something reads and narrows the others:

- `compliance_decisions.reference` and `(contact_id, planned_at)`: dropped. Nothing looks a
  decision up by either (the gate's decision history reads `(owner_id, planned_at)`; the
  message row points at its decision by id); an audit by contact reads the warehouse copy.
- `messages.provider_message_id` and `messages.in_reply_to_id`: partial, `IS NOT NULL`. A
  touch is written without a provider id (it is set when the provider answers) and never
  answers a message, so the full indexes held an entry per touch that no lookup can use
  (lookups are `= value`, which the partial index serves on SQLite and PostgreSQL).

Nothing is lost on upgrade or downgrade: indexes only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PARTIAL = {"ix_messages_provider_message_id": "provider_message_id",
           "ix_messages_in_reply_to_id": "in_reply_to_id"}


def upgrade() -> None:
    op.drop_index("ix_compliance_decisions_reference", table_name="compliance_decisions")
    op.drop_index("ix_compliance_decisions_contact_planned", table_name="compliance_decisions")
    for name, column in PARTIAL.items():
        condition = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", [column], sqlite_where=condition,
                        postgresql_where=condition)


def downgrade() -> None:
    for name, column in PARTIAL.items():
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", [column])
    op.create_index("ix_compliance_decisions_contact_planned", "compliance_decisions",
                    ["contact_id", "planned_at"])
    op.create_index("ix_compliance_decisions_reference", "compliance_decisions", ["reference"])
