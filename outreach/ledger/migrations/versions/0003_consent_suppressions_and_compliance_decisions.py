"""consent, suppressions and compliance decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Consent records (contact, channel, source, wording, granted and revoked times), permanent
suppressions / opt-outs (per owner and/or contact value hash, per channel or all, with the
message that caused them), and every decision of the compliance gate (outreach/compliance).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("suppression_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("value_hash", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.owner_id"],
                                name=op.f("fk_suppressions_owner_id_owners")),
        sa.PrimaryKeyConstraint("suppression_id", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppressions_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suppressions_value_hash"), ["value_hash"],
                              unique=False)

    op.create_table(
        "compliance_decisions",
        sa.Column("compliance_decision_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("planned_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("is_allowed", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("refusal_codes", sa.String(length=500), nullable=False),
        sa.Column("rule_set_version", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.contact_id"],
                                name=op.f("fk_compliance_decisions_contact_id_contacts")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.owner_id"],
                                name=op.f("fk_compliance_decisions_owner_id_owners")),
        sa.PrimaryKeyConstraint("compliance_decision_id", name=op.f("pk_compliance_decisions")),
    )
    with op.batch_alter_table("compliance_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_compliance_decisions_contact_planned",
                              ["contact_id", "planned_at"], unique=False)
        batch_op.create_index("ix_compliance_decisions_owner_planned",
                              ["owner_id", "planned_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_compliance_decisions_reference"), ["reference"],
                              unique=False)

    op.create_table(
        "consents",
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("wording", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.contact_id"],
                                name=op.f("fk_consents_contact_id_contacts")),
        sa.PrimaryKeyConstraint("consent_id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index("ix_consents_contact_channel", ["contact_id", "channel"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_contact_channel")
    op.drop_table("consents")
    with op.batch_alter_table("compliance_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_decisions_reference"))
        batch_op.drop_index("ix_compliance_decisions_owner_planned")
        batch_op.drop_index("ix_compliance_decisions_contact_planned")
    op.drop_table("compliance_decisions")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppressions_value_hash"))
        batch_op.drop_index(batch_op.f("ix_suppressions_owner_id"))
    op.drop_table("suppressions")
