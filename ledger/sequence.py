"""Sequencing: pending entries, oldest first, get the next indices of the tree and leave the queue.

Runs inside the integrator's transaction, so an entry is either still pending or sequenced, never both and
never lost. Here each entry is linked into the chain of its subject: its ``prev`` becomes the leaf hash of the
subject's entry before it in the tree (kept in ``ledger_subject_heads``, which only the integrator writes), and
only then is it hashed into a leaf. An event id that is somehow already sequenced is dropped from the queue
rather than logged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ledger import sql
from ledger.entry import linked
from ledger.merkle import leaf_hash


@dataclass(frozen=True)
class Sequenced:
    first: int
    leaves: list[bytes]


def sequence(session: Session, next_index: int, limit: int) -> Sequenced:
    conn = session.connection()
    pending = sql.oldest_pending(conn, limit)
    if not pending:
        return Sequenced(next_index, [])
    already = sql.sequenced(conn, [event_id for _, event_id, _, _, _ in pending])
    heads = sql.heads(conn, sorted({subject for _, _, _, subject, _ in pending}))
    moved: dict[str, bytes | None] = {}
    entries: list[dict[str, Any]] = []
    for _, event_id, kind, subject, queued in pending:
        if event_id in already:
            continue
        already.add(event_id)
        body = linked(queued, heads.get(subject))
        leaf = leaf_hash(body)
        heads[subject] = moved[subject] = leaf
        row = {"event_id": event_id, "type": kind, "subject": subject, "leaf_hash": leaf, "body": body}
        entries.append({"idx": next_index + len(entries), **row})
    sql.move_pending(conn, entries, [pending_id for pending_id, *_ in pending], moved)
    return Sequenced(next_index, [e["leaf_hash"] for e in entries])
