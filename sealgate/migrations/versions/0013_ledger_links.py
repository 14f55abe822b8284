"""ledger: the integrator links each subject's chain as it sequences; queued entries have no leaf hash yet

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:30:00

``ledger_pending`` loses ``leaf_hash``: a queued entry is hashed once the integrator has set its ``prev``.
``ledger_subject_heads`` now holds the newest *sequenced* entry of each subject, so it is rebuilt from the tree.
Entries queued before the upgrade keep their bodies: the integrator sets their ``prev`` again, to the same value
(appends then locked the head, so the queue's order was each chain's order). A downgrade needs an empty queue
(run ``sealgate log integrate`` first): the old appends would find no leaf hash to chain to otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_HEADS_OF_THE_TREE = (
    "INSERT INTO ledger_subject_heads (subject, leaf_hash) "
    "SELECT e.subject, e.leaf_hash FROM ledger_entries e "
    "JOIN (SELECT subject, max(idx) AS idx FROM ledger_entries GROUP BY subject) newest ON newest.idx = e.idx"
)


def _heads_of_the_tree() -> None:
    op.execute("DELETE FROM ledger_subject_heads")
    op.execute(_HEADS_OF_THE_TREE)


def upgrade() -> None:
    with op.batch_alter_table("ledger_pending") as batch:
        batch.drop_column("leaf_hash")
    _heads_of_the_tree()


def downgrade() -> None:
    queued = op.get_bind().execute(sa.text("SELECT count(*) FROM ledger_pending")).scalar_one()
    if queued:
        raise RuntimeError(f"{queued} entries are queued: integrate them before downgrading the log")
    with op.batch_alter_table("ledger_pending") as batch:
        batch.add_column(sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False))
    _heads_of_the_tree()
