"""ca: seals, certificates, CRLs, operations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:58:46.361944
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("suspended_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_seals_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seals")),
    )
    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.create_index("ix_seals_org_kind", ["organisation_id", "kind"], unique=False)

    op.create_table(
        "ca_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=True),
        sa.Column("key_label", sa.String(length=128), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("not_before", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.Column("machine", sa.String(length=64), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("expiry_warned_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["ca_certificates.id"], name=op.f("fk_ca_certificates_issuer_id_ca_certificates")
        ),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name=op.f("fk_ca_certificates_seal_id_seals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_ca_certificates_serial")),
        sa.UniqueConstraint("sha256", name=op.f("uq_ca_certificates_sha256")),
    )
    with op.batch_alter_table("ca_certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ca_certificates_not_after"), ["not_after"], unique=False)
        batch_op.create_index("ix_ca_certificates_role_current", ["role", "retired_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ca_certificates_seal_id"), ["seal_id"], unique=False)

    op.create_table(
        "ca_crls",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("this_update", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_update", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["ca_certificates.id"], name=op.f("fk_ca_crls_issuer_id_ca_certificates")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_ca_crls")),
    )
    op.create_table(
        "ca_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"], ["ca_certificates.id"], name=op.f("fk_ca_operations_certificate_id_ca_certificates")
        ),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_ca_operations_decided_by_id_users")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], name=op.f("fk_ca_operations_requested_by_id_users")),
        sa.ForeignKeyConstraint(
            ["result_id"], ["ca_certificates.id"], name=op.f("fk_ca_operations_result_id_ca_certificates")
        ),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name=op.f("fk_ca_operations_seal_id_seals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_operations")),
    )
    with op.batch_alter_table("ca_operations", schema=None) as batch_op:
        batch_op.create_index("ix_ca_operations_state", ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ca_operations", schema=None) as batch_op:
        batch_op.drop_index("ix_ca_operations_state")

    op.drop_table("ca_operations")
    op.drop_table("ca_crls")
    with op.batch_alter_table("ca_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ca_certificates_seal_id"))
        batch_op.drop_index("ix_ca_certificates_role_current")
        batch_op.drop_index(batch_op.f("ix_ca_certificates_not_after"))

    op.drop_table("ca_certificates")
    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.drop_index("ix_seals_org_kind")

    op.drop_table("seals")
