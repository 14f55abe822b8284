"""Appending: a domain transaction adds its events to the pending queue, in the same transaction as its change.

An append reads nothing: the queued rows go to PostgreSQL with the caller's COMMIT, in its one round trip
(``core.deferred``). The chain of a subject is linked later, by the integrator: it is the one process that
orders the tree, so as it sequences an entry it sets ``prev`` to the leaf of the subject's entry before it in
the tree, then hashes the entry (``ledger.sequence``). A chain so linked cannot fork, however many transactions
append to one subject at once, and it follows the order auditors replay. The alternatives cost more: linking at
append time needs the subject's head before the entry can be hashed, a round trip that locks the head until the
commit (it halved the rate of one-entry transactions); building the entry in SQL from a head read with the
COMMIT would mean producing RFC 8785 canonical JSON byte for byte in SQL.

So an entry's leaf hash is known once it is sequenced, not when it is queued: receipts and proofs are asked for
by event id (``LogReader.await_integrated``), never by a hash the append returned.

Appends are idempotent on the event id: the queue is unique on it (a second insert, even a concurrent one, does
nothing) and the integrator drops a queued event already in the tree. Unless the caller vouches that its ids are
new (``fresh``), one statement also looks in the queue and the tree, to tell the caller which events were there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ledger import sql
from ledger.entry import Event, encode


@dataclass(frozen=True)
class Appended:
    event_id: str
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
    known = set() if fresh else sql.logged(conn, [e.id for e in events])
    results: list[Appended] = []
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.id in known:
            results.append(Appended(event.id, duplicate=True))
            continue
        known.add(event.id)
        rows.append({"event_id": event.id, "type": event.type, "subject": event.subject, "body": encode(event, None)})
        results.append(Appended(event.id, duplicate=False))
    if rows:
        sql.queue(conn, rows)
    return results
