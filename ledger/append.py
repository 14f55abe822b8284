"""Appending: a domain transaction adds its events to the pending queue, in the same transaction as its change.

Appends for one subject are serialised by a row lock on the subject's head (an upsert that returns the current
head), so every entry's ``prev`` names the entry before it and the chain of a subject never forks. Appends are
idempotent on the event id: one statement looks in the queue and among sequenced entries together, so the
integrator moving an entry between the two cannot hide it. The SQL, per dialect, is in ``ledger.sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ledger import sql
from ledger.entry import Event, encoded


@dataclass(frozen=True)
class Appended:
    event_id: str
    leaf_hash: bytes
    duplicate: bool


def append(session: Session, event: Event, *, fresh: bool = False) -> Appended:
    return append_many(session, [event], fresh=fresh)[0]


def append_many(session: Session, events: Sequence[Event], *, fresh: bool = False) -> list[Appended]:
    """Queue ``events`` in order; the caller's commit makes them (and only then) visible to the integrator.

    ``fresh`` says the events carry ids just made up (random UUIDs), which cannot have been logged before, so
    the look for duplicates is skipped: it is a round trip on the path of every decision.
    """
    if not events:
        return []
    conn = session.connection()
    heads = sql.lock_heads(conn, sorted({e.subject for e in events}))  # one lock order for all: no deadlocks
    known = {} if fresh else sql.logged(conn, [e.id for e in events])
    results: list[Appended] = []
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.id in known:
            results.append(Appended(event.id, known[event.id], duplicate=True))
            continue
        entry = encoded(event, heads[event.subject])
        heads[event.subject] = entry.leaf_hash
        known[event.id] = entry.leaf_hash
        rows.append(
            {
                "event_id": event.id,
                "type": event.type,
                "subject": event.subject,
                "leaf_hash": entry.leaf_hash,
                "body": entry.body,
            }
        )
        results.append(Appended(event.id, entry.leaf_hash, duplicate=False))
    if rows:
        sql.queue(conn, rows, heads)
    return results
