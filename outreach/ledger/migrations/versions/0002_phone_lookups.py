"""phone lookups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Paid line-type lookups of phones (Twilio Lookup v2), one row per billed lookup, keyed by the
phone's keyed lookup hash: the cache and the cost ledger of `contacts.line_type`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_lookups",
        sa.Column("phone_lookup_id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("is_valid", sa.Boolean(), nullable=True),
        sa.Column("line_type", sa.String(length=30), nullable=True),
        sa.Column("carrier_name", sa.String(length=200), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("looked_up_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone_lookup_id", name=op.f("pk_phone_lookups")),
    )
    with op.batch_alter_table("phone_lookups", schema=None) as batch_op:
        batch_op.create_index("ix_phone_lookups_hash_at", ["phone_hash", "looked_up_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("phone_lookups", schema=None) as batch_op:
        batch_op.drop_index("ix_phone_lookups_hash_at")
    op.drop_table("phone_lookups")
