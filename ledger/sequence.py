"""Sequencing: pending entries, oldest first, get the next indices of the tree and leave the queue.

Runs inside the integrator's transaction, so an entry is either still pending or sequenced, never both and
never lost. An event id that is somehow already sequenced is dropped from the queue rather than logged twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ledger.models import Entry, PendingEntry


@dataclass(frozen=True)
class Sequenced:
    first: int
    leaves: list[bytes]


def sequence(session: Session, next_index: int, limit: int) -> Sequenced:
    pending = session.execute(
        select(
            PendingEntry.id,
            PendingEntry.event_id,
            PendingEntry.type,
            PendingEntry.subject,
            PendingEntry.leaf_hash,
            PendingEntry.body,
        )
        .order_by(PendingEntry.id)
        .limit(limit)
    ).all()
    if not pending:
        return Sequenced(next_index, [])
    ids = [row.event_id for row in pending]
    already = set(session.scalars(select(Entry.event_id).where(Entry.event_id.in_(ids))))
    rows: list[dict[str, object]] = []
    leaves: list[bytes] = []
    seen: set[str] = set()
    for row in pending:
        if row.event_id in already or row.event_id in seen:
            continue
        seen.add(row.event_id)
        rows.append(
            {
                "idx": next_index + len(rows),
                "event_id": row.event_id,
                "type": row.type,
                "subject": row.subject,
                "leaf_hash": row.leaf_hash,
                "body": row.body,
            }
        )
        leaves.append(row.leaf_hash)
    if rows:
        session.execute(insert(Entry), rows)
    session.execute(delete(PendingEntry).where(PendingEntry.id.in_([row.id for row in pending])))
    return Sequenced(next_index, leaves)
