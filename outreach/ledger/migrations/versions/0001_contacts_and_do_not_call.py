"""contacts and do-not-call

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21

Owners, their parcels and contacts (phones and emails encrypted, with a keyed lookup hash),
contact sources and imports, do-not-call lists, numbers and scrubs, and the audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "contact_imports",
        sa.Column("contact_import_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=True),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejects_file", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("contact_import_id", name=op.f("pk_contact_imports")),
    )
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_imports_file_sha256"), ["file_sha256"], unique=False
        )

    op.create_table(
        "dnc_lists",
        sa.Column("dnc_list_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("area_code", sa.String(length=3), nullable=True),
        sa.Column("is_change_list", sa.Boolean(), nullable=False),
        sa.Column("source_file", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("downloaded_on", sa.Date(), nullable=False),
        sa.Column("downloaded_on_basis", sa.String(length=20), nullable=False),
        sa.Column("numbers_added", sa.Integer(), nullable=False),
        sa.Column("numbers_removed", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dnc_list_id", name=op.f("pk_dnc_lists")),
    )
    with op.batch_alter_table("dnc_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_lists_file_sha256"), ["file_sha256"], unique=False)

    op.create_table(
        "owners",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("owner_key", sa.String(length=400), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=False),
        sa.Column("mailing_address", sa.String(length=300), nullable=True),
        sa.Column("mailing_city", sa.String(length=100), nullable=True),
        sa.Column("mailing_state", sa.String(length=40), nullable=True),
        sa.Column("mailing_zip", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_owners")),
        sa.UniqueConstraint(
            "market_code", "owner_key", name=op.f("uq_owners_market_code_owner_key")
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("value_hint", sa.String(length=80), nullable=False),
        sa.Column("number_type", sa.String(length=30), nullable=True),
        sa.Column("line_type", sa.String(length=30), nullable=True),
        sa.Column("email_domain_status", sa.String(length=30), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("confidence_reason", sa.Text(), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("is_wrong_number", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_contacts_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contacts")),
        sa.UniqueConstraint(
            "owner_id",
            "channel",
            "value_hash",
            name=op.f("uq_contacts_owner_id_channel_value_hash"),
        ),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_value_hash"), ["value_hash"], unique=False)

    op.create_table(
        "dnc_numbers",
        sa.Column("list_key", sa.String(length=20), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("area_code", sa.String(length=3), nullable=True),
        sa.Column("dnc_list_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dnc_list_id"],
            ["dnc_lists.dnc_list_id"],
            name=op.f("fk_dnc_numbers_dnc_list_id_dnc_lists"),
        ),
        sa.PrimaryKeyConstraint("list_key", "phone_hash", name=op.f("pk_dnc_numbers")),
    )
    op.create_table(
        "owner_parcels",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("parcel_id", sa.String(length=40), nullable=False),
        sa.Column("market_code", sa.String(length=40), nullable=False),
        sa.Column("linked_by", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.owner_id"], name=op.f("fk_owner_parcels_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("owner_id", "parcel_id", name=op.f("pk_owner_parcels")),
    )
    with op.batch_alter_table("owner_parcels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_owner_parcels_market_parcel", ["market_code", "parcel_id"], unique=False
        )

    op.create_table(
        "contact_sources",
        sa.Column("contact_source_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("source_kind", sa.String(length=30), nullable=False),
        sa.Column("source_ref", sa.String(length=500), nullable=False),
        sa.Column("vendor_phone_type", sa.String(length=30), nullable=True),
        sa.Column("is_vendor_dnc", sa.Boolean(), nullable=True),
        sa.Column("is_vendor_litigator", sa.Boolean(), nullable=True),
        sa.Column("contact_import_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.contact_id"],
            name=op.f("fk_contact_sources_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_import_id"],
            ["contact_imports.contact_import_id"],
            name=op.f("fk_contact_sources_contact_import_id_contact_imports"),
        ),
        sa.PrimaryKeyConstraint("contact_source_id", name=op.f("pk_contact_sources")),
        sa.UniqueConstraint(
            "contact_id",
            "source_name",
            "source_ref",
            name=op.f("uq_contact_sources_contact_id_source_name_source_ref"),
        ),
    )
    with op.batch_alter_table("contact_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_sources_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "dnc_scrubs",
        sa.Column("dnc_scrub_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("scrubbed_at", sa.DateTime(), nullable=False),
        sa.Column("is_listed", sa.Boolean(), nullable=False),
        sa.Column("listed_on", sa.JSON(), nullable=False),
        sa.Column("national_downloaded_on", sa.Date(), nullable=True),
        sa.Column("state_downloaded_on", sa.Date(), nullable=True),
        sa.Column("is_sms_blocked", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.contact_id"], name=op.f("fk_dnc_scrubs_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("dnc_scrub_id", name=op.f("pk_dnc_scrubs")),
    )
    with op.batch_alter_table("dnc_scrubs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_scrubs_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dnc_scrubs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dnc_scrubs_contact_id"))

    op.drop_table("dnc_scrubs")
    with op.batch_alter_table("contact_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_sources_contact_id"))

    op.drop_table("contact_sources")
    with op.batch_alter_table("owner_parcels", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_parcels_market_parcel")

    op.drop_table("owner_parcels")
    op.drop_table("dnc_numbers")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_value_hash"))
        batch_op.drop_index(batch_op.f("ix_contacts_owner_id"))

    op.drop_table("contacts")
    op.drop_table("owners")
    with op.batch_alter_table("dnc_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dnc_lists_file_sha256"))

    op.drop_table("dnc_lists")
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_imports_file_sha256"))

    op.drop_table("contact_imports")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
