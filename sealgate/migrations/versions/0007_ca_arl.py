"""ca: revocation lists of the root (ARL) beside the issuing CA's CRLs

CRL numbers count per issuer (RFC 5280 §5.2.3), so the key of ca_crls becomes (issuer_id, number).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ca_crls") as batch:
        batch.drop_constraint("pk_ca_crls", type_="primary")
        batch.create_primary_key("pk_ca_crls", ["issuer_id", "number"])


def downgrade() -> None:
    # One numbering for all issuers again: keep only the CRLs of the issuing CA in force, which never share a number.
    op.execute(
        sa.text(
            "DELETE FROM ca_crls WHERE issuer_id IN "
            "(SELECT id FROM ca_certificates WHERE role = 'root' OR retired_at IS NOT NULL)"
        )
    )
    with op.batch_alter_table("ca_crls") as batch:
        batch.drop_constraint("pk_ca_crls", type_="primary")
        batch.create_primary_key("pk_ca_crls", ["number"])
