"""owner addresses with their sources

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Every postal address seen for an owner, with its source and time (roll, appraiser page).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owner_addresses",
        sa.Column("owner_address_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("source_kind", sa.String(length=30), nullable=False),
        sa.Column("source_ref", sa.String(length=500), nullable=False),
        sa.Column("address_key", sa.String(length=300), nullable=False),
        sa.Column("line1", sa.String(length=300), nullable=False),
        sa.Column("line2", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=True),
        sa.Column("zip", sa.String(length=10), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_owner_addresses_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("owner_address_id", name=op.f("pk_owner_addresses")),
        sa.UniqueConstraint(
            "owner_id",
            "kind",
            "source_name",
            "address_key",
            name=op.f("uq_owner_addresses_owner_id_kind_source_name_address_key"),
        ),
    )
    with op.batch_alter_table("owner_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_owner_addresses_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("owner_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_addresses_owner_id"))

    op.drop_table("owner_addresses")
