"""identity: who made each account, who approved each post grant, and posts asked for awaiting a second
administrator

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:30:00

Accounts and grants that exist already were made by the operator's CLI or before the second approval existed:
their new columns stay empty. The new columns of ``users`` and ``post_grants`` come with their foreign keys; the
tables that refer to them stay as they are, since SQLite adds the columns in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_REFERENCES = (("users", "created_by_id"), ("post_grants", "approved_by_id"))


def _add_reference(table: str, column: str) -> None:
    """A nullable column referring to a user. SQLite adds it with its named foreign key in place: rebuilding a table
    that others refer to would fail their foreign keys inside the migration's transaction."""
    name = f"fk_{table}_{column}_users"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES users (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(name), table, "users", [column], ["id"])


def upgrade() -> None:
    for table, column in _REFERENCES:
        _add_reference(table, column)
    op.create_table(
        "post_grant_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("post", sa.String(length=16), nullable=False),
        sa.Column("valid_from", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_post_grant_requests_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["post_grants.id"], name=op.f("fk_post_grant_requests_grant_id_post_grants")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_post_grant_requests_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_post_grant_requests_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_post_grant_requests_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_grant_requests")),
    )
    op.create_index("ix_post_grant_requests_state", "post_grant_requests", ["state"], unique=False)
    op.create_index(op.f("ix_post_grant_requests_user_id"), "post_grant_requests", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_post_grant_requests_user_id"), table_name="post_grant_requests")
    op.drop_index("ix_post_grant_requests_state", table_name="post_grant_requests")
    op.drop_table("post_grant_requests")
    for table, column in reversed(_REFERENCES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_{column}_users"), type_="foreignkey")
            batch_op.drop_column(column)
