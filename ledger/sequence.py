"""Sequencing: pending entries, oldest first, get the next indices of the tree and leave the queue.

Runs inside the integrator's transaction, so an entry is either still pending or sequenced, never both and
never lost. An event id that is somehow already sequenced is dropped from the queue rather than logged twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ledger import sql


@dataclass(frozen=True)
class Sequenced:
    first: int
    leaves: list[bytes]


def sequence(session: Session, next_index: int, limit: int) -> Sequenced:
    conn = session.connection()
    pending = sql.oldest_pending(conn, limit)
    if not pending:
        return Sequenced(next_index, [])
    already = sql.sequenced(conn, [event_id for _, event_id, _ in pending])
    kept: list[int] = []
    dropped: list[int] = []
    leaves: list[bytes] = []
    for pending_id, event_id, leaf in pending:
        if event_id in already:
            dropped.append(pending_id)
            continue
        already.add(event_id)
        kept.append(pending_id)
        leaves.append(leaf)
    sql.move_pending(conn, next_index, kept, dropped)
    return Sequenced(next_index, leaves)
