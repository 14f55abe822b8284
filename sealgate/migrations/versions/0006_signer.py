"""signer: sealings, and the sealed document of a request

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signer_sealings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature_sha256", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"]),
        sa.ForeignKeyConstraint(["certificate_id"], ["ca_certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signature_sha256"),
    )
    op.create_index("ix_signer_sealings_subject", "signer_sealings", ["subject"])
    op.create_index("ix_signer_sealings_sealed_sha256", "signer_sealings", ["sealed_sha256"])
    op.add_column("seal_requests", sa.Column("sealed_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seal_requests") as batch:
        batch.drop_column("sealed_sha256")
    op.drop_index("ix_signer_sealings_sealed_sha256", table_name="signer_sealings")
    op.drop_index("ix_signer_sealings_subject", table_name="signer_sealings")
    op.drop_table("signer_sealings")
