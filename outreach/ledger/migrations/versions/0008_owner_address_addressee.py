"""owner addresses name their addressee

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21

`owner_addresses.addressee`: whom to address at that address when it is not the owner of
record. The roll's fiduciary (a trustee, a personal representative; NAL FIDU_NAME) is stored
as its own source (`fl_dor_roll_fiduciary`, kind `fiduciary`) with its name here. Existing
rows keep NULL (the owner of record).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("owner_addresses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("addressee", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("owner_addresses", schema=None) as batch_op:
        batch_op.drop_column("addressee")
