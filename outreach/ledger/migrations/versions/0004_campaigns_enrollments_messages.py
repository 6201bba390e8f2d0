"""campaigns, enrollments, messages, lead statuses, conversations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

The outreach engine's tables: campaigns (pause state), enrollments, messages in and out
(idempotency key, provider id, status, cost) with their status events, lead status changes and
conversation states.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.Column("paused_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "conversation_states",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("is_human_takeover", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_conversation_states_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_conversation_states")),
    )
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("parcel_id", sa.String(length=40), nullable=False),
        sa.Column("tier", sa.String(length=2), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("touches_sent", sa.Integer(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("last_sent_on", sa.Date(), nullable=True),
        sa.Column("stop_reason", sa.String(length=30), nullable=True),
        sa.Column("paused_status", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_enrollments_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_enrollments_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("enrollment_id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint(
            "campaign_id", "owner_id", name=op.f("uq_enrollments_campaign_id_owner_id")
        ),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollments_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_enrollments_status", ["campaign_id", "status"], unique=False)

    op.create_table(
        "lead_status_changes",
        sa.Column("lead_status_change_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_lead_status_changes_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("lead_status_change_id", name=op.f("pk_lead_status_changes")),
    )
    with op.batch_alter_table("lead_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_status_changes_owner_at", ["owner_id", "changed_at"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("touch_number", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("counterpart_hash", sa.String(length=64), nullable=True),
        sa.Column("counterpart", sa.Text(), nullable=True),
        sa.Column("template", sa.String(length=60), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("encoding", sa.String(length=10), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("compliance_decision_id", sa.Integer(), nullable=True),
        sa.Column("planned_at", sa.DateTime(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("body_purged_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compliance_decision_id"],
            ["compliance_decisions.compliance_decision_id"],
            name=op.f("fk_messages_compliance_decision_id_compliance_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.contact_id"], name=op.f("fk_messages_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_messages_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_messages_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_messages_idempotency_key")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_counterpart_hash"), ["counterpart_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_messages_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index("ix_messages_owner_created", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_messages_provider_message_id"), ["provider_message_id"], unique=False
        )
        batch_op.create_index("ix_messages_status", ["status"], unique=False)

    op.create_table(
        "message_events",
        sa.Column("message_event_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.message_id"],
            name=op.f("fk_message_events_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("message_event_id", name=op.f("pk_message_events")),
    )
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_events_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_events_message_id"))

    op.drop_table("message_events")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status")
        batch_op.drop_index(batch_op.f("ix_messages_provider_message_id"))
        batch_op.drop_index("ix_messages_owner_created")
        batch_op.drop_index(batch_op.f("ix_messages_enrollment_id"))
        batch_op.drop_index(batch_op.f("ix_messages_counterpart_hash"))

    op.drop_table("messages")
    with op.batch_alter_table("lead_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_status_changes_owner_at")

    op.drop_table("lead_status_changes")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_status")
        batch_op.drop_index(batch_op.f("ix_enrollments_owner_id"))

    op.drop_table("enrollments")
    op.drop_table("conversation_states")
    op.drop_table("campaigns")
