"""workflow: a request keeps where its rendered document has the seal's anchor text

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:30:00

``seal_requests.anchor_located`` (JSON, empty for uploads and for requests made before): the place the rendering
knew, so that sealing does not search the PDF for it. An empty one is searched for, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("seal_requests") as batch:
        batch.add_column(sa.Column("anchor_located", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seal_requests") as batch:
        batch.drop_column("anchor_located")
