"""workflow: the unguessable id of a request's public record

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:40:00

Existing requests get their ids here: 128 random bits on SQLite (as new requests get them), a random UUID's 122
bits in hex on PostgreSQL, made by the server so that a large table is filled in one statement.

SQLite adds a NOT NULL column only with a constant default, and drops neither the default nor the NOT NULL
without rebuilding the table, which the foreign keys into it forbid inside the migration's transaction: there the
column keeps an empty default nobody uses (every insert supplies an id, and the unique index refuses a second
empty one).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_REQUESTS = sa.table("seal_requests", sa.column("id", sa.Integer()), sa.column("public_id", sa.String(32)))


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column(
        "seal_requests",
        sa.Column("public_id", sa.String(length=32), nullable=not sqlite, server_default="" if sqlite else None),
    )
    if sqlite:
        ids = bind.execute(sa.select(_REQUESTS.c.id)).scalars().all()
        if ids:
            bind.execute(
                _REQUESTS.update().where(_REQUESTS.c.id == sa.bindparam("request")),
                [{"request": request, "public_id": secrets.token_urlsafe(16)} for request in ids],
            )
    else:
        op.execute("UPDATE seal_requests SET public_id = replace(gen_random_uuid()::text, '-', '')")
        op.alter_column("seal_requests", "public_id", existing_type=sa.String(length=32), nullable=False)
    op.create_index(op.f("ix_seal_requests_public_id"), "seal_requests", ["public_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_seal_requests_public_id"), table_name="seal_requests")
    op.drop_column("seal_requests", "public_id")
