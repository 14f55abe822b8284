"""workflow: the organisation a delivery endpoint stands for, and the hosted inbox of bureaus

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:40:00

A bureau of the catalogue (``agriculture``) is linked to the organisation of the directory that is that bureau
(yazhou.agri) on its delivery endpoint. The endpoints' table is rebuilt on SQLite to take the foreign key; no
table refers to it, so the rebuild is allowed inside the migration's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_delivery_endpoints_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_delivery_endpoints_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
        )
    op.create_table(
        "bureau_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("bureau", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_bureau_deliveries_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["seal_requests.id"], name=op.f("fk_bureau_deliveries_request_id_seal_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bureau_deliveries")),
        sa.UniqueConstraint(
            "organisation_id", "idempotency_key", name=op.f("uq_bureau_deliveries_organisation_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_bureau_deliveries_request_id"), "bureau_deliveries", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bureau_deliveries_request_id"), table_name="bureau_deliveries")
    op.drop_table("bureau_deliveries")
    with op.batch_alter_table("delivery_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_delivery_endpoints_organisation_id_organisations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_delivery_endpoints_organisation_id"))
        batch_op.drop_column("organisation_id")
