"""replies, handoffs, LLM calls, deals, mailbox cursors

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

Messages gain a purpose (touch, opt-out confirmation, auto-reply, handoff notice …), a thread
link, and for inbound replies the classification, the decision and when it was processed.
Suppressions can be lifted (START after STOP) and keep their row. New tables: handoffs to a
human closer, every LLM call with its raw prompt and response, deals (under contract, closed
with the assignment fee, cancelled), and the IMAP poller's cursor per mailbox folder.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("in_reply_to_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("classification", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("decision", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_in_reply_to_id"), ["in_reply_to_id"],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_messages_in_reply_to_id_messages"),
                                    "messages", ["in_reply_to_id"], ["message_id"])
    op.execute("UPDATE messages SET purpose = 'touch' WHERE direction = 'outbound'")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lifted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("lifted_by_message_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lifted_reason", sa.Text(), nullable=True))

    op.create_table(
        "mailbox_cursors",
        sa.Column("mailbox_cursor_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_cursor_id", name=op.f("pk_mailbox_cursors")),
        sa.UniqueConstraint("account", "folder", name=op.f("uq_mailbox_cursors_account_folder")),
    )

    op.create_table(
        "handoffs",
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("trigger_message_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("closer", sa.String(length=100), nullable=True),
        sa.Column("notified_sms_message_id", sa.Integer(), nullable=True),
        sa.Column("notified_email_message_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.owner_id"],
                                name=op.f("fk_handoffs_owner_id_owners")),
        sa.ForeignKeyConstraint(["trigger_message_id"], ["messages.message_id"],
                                name=op.f("fk_handoffs_trigger_message_id_messages")),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_handoffs")),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoffs_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_handoffs_status_created", ["status", "created_at"],
                              unique=False)

    op.create_table(
        "llm_calls",
        sa.Column("llm_call_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("prompt_name", sa.String(length=100), nullable=False),
        sa.Column("prompt_version", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("raw_response", sa.Text(), nullable=True),
        sa.Column("parsed", sa.JSON(), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("failed_checks", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("used", sa.String(length=20), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.owner_id"],
                                name=op.f("fk_llm_calls_owner_id_owners")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.message_id"],
                                name=op.f("fk_llm_calls_message_id_messages")),
        sa.PrimaryKeyConstraint("llm_call_id", name=op.f("pk_llm_calls")),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_calls_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_llm_calls_purpose_created", ["purpose", "created_at"],
                              unique=False)

    op.create_table(
        "deals",
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("parcel_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("contract_price_usd", sa.Float(), nullable=True),
        sa.Column("assignment_fee_usd", sa.Float(), nullable=True),
        sa.Column("contracted_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.owner_id"],
                                name=op.f("fk_deals_owner_id_owners")),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_deals")),
    )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deals_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_deals_market_status", ["market_code", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index("ix_deals_market_status")
        batch_op.drop_index(batch_op.f("ix_deals_owner_id"))
    op.drop_table("deals")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_llm_calls_purpose_created")
        batch_op.drop_index(batch_op.f("ix_llm_calls_owner_id"))
    op.drop_table("llm_calls")
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index("ix_handoffs_status_created")
        batch_op.drop_index(batch_op.f("ix_handoffs_owner_id"))
    op.drop_table("handoffs")
    op.drop_table("mailbox_cursors")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_column("lifted_reason")
        batch_op.drop_column("lifted_by_message_id")
        batch_op.drop_column("lifted_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_in_reply_to_id_messages"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_messages_in_reply_to_id"))
        batch_op.drop_column("processed_at")
        batch_op.drop_column("decision")
        batch_op.drop_column("classification")
        batch_op.drop_column("in_reply_to_id")
        batch_op.drop_column("purpose")
