"""repair: what 0007 and 0008 do, for a database stamped past them while they were still empty

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 18:30:00

0007 and 0008 first landed as empty placeholders (commit df3fff0); 0008 got its body in 7a2a9a1 and 0007 in
cc69c2a. A database made by the code in between is stamped 0008 without what the empty ones would have made, and
Alembic never runs them again: made at df3fff0 or b104516 it has no ``seal_requests.public_id``; made at 7a2a9a1
or e22cd56 its ``ca_crls`` is still keyed on ``number`` alone. This adds what is missing, each part as 0007 or
0008 makes it, so such a database ends as one upgraded in order; on any other database it finds nothing to do.

The downgrade does nothing: a repaired database cannot be told from one upgraded in order, and what this adds
belongs to 0007 and 0008, whose own downgrades take it away.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_REQUESTS = sa.table("seal_requests", sa.column("id", sa.Integer()), sa.column("public_id", sa.String(32)))
_PUBLIC_ID_INDEX = "ix_seal_requests_public_id"


def upgrade() -> None:
    bind = op.get_bind()
    found = sa.inspect(bind)
    if found.get_pk_constraint("ca_crls")["constrained_columns"] == ["number"]:
        _key_crls_by_issuer()
    if "public_id" not in {column["name"] for column in found.get_columns("seal_requests")}:
        _add_public_ids(bind)
    if _PUBLIC_ID_INDEX not in {index["name"] for index in found.get_indexes("seal_requests")}:
        op.create_index(op.f(_PUBLIC_ID_INDEX), "seal_requests", ["public_id"], unique=True)


def _key_crls_by_issuer() -> None:
    """0007: CRL numbers count per issuer (RFC 5280 §5.2.3)."""
    with op.batch_alter_table("ca_crls") as batch:
        batch.drop_constraint("pk_ca_crls", type_="primary")
        batch.create_primary_key("pk_ca_crls", ["issuer_id", "number"])


def _add_public_ids(bind: sa.Connection) -> None:
    """0008's column and its ids for existing requests; on SQLite with 0008's empty default (its docstring says
    why)."""
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


def downgrade() -> None:
    pass
