"""Appending: a domain transaction adds its events to the pending queue, in the same transaction as its change.

Appends for one subject are serialised by a row lock on the subject's head (an upsert that returns the current
head), so every entry's ``prev`` names the entry before it and the chain of a subject never forks. Appends are
idempotent on the event id: one statement looks in the queue and among sequenced entries together, so the
integrator moving an entry between the two cannot hide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, union_all, update
from sqlalchemy.orm import Session

from ledger.entry import Event, encoded
from ledger.models import Entry, PendingEntry, SubjectHead
from ledger.sql import insert_for


@dataclass(frozen=True)
class Appended:
    event_id: str
    leaf_hash: bytes
    duplicate: bool


def append(session: Session, event: Event) -> Appended:
    return append_many(session, [event])[0]


def append_many(session: Session, events: Sequence[Event]) -> list[Appended]:
    """Queue ``events`` in order; the caller's commit makes them (and only then) visible to the integrator."""
    if not events:
        return []
    heads = _lock_heads(session, sorted({e.subject for e in events}))
    known = _already_logged(session, [e.id for e in events])
    results: list[Appended] = []
    rows: list[dict[str, object]] = []
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
        session.execute(insert(PendingEntry), rows)
        session.execute(update(SubjectHead), [{"subject": s, "leaf_hash": h} for s, h in heads.items()])
    return results


def _lock_heads(session: Session, subjects: list[str]) -> dict[str, bytes | None]:
    statement = insert_for(session, SubjectHead).values([{"subject": s, "leaf_hash": None} for s in subjects])
    locked = statement.on_conflict_do_update(
        index_elements=[SubjectHead.subject], set_={"subject": statement.excluded.subject}
    ).returning(SubjectHead.subject, SubjectHead.leaf_hash)
    return {subject: head for subject, head in session.execute(locked)}


def _already_logged(session: Session, event_ids: list[str]) -> dict[str, bytes]:
    found = union_all(
        select(Entry.event_id, Entry.leaf_hash).where(Entry.event_id.in_(event_ids)),
        select(PendingEntry.event_id, PendingEntry.leaf_hash).where(PendingEntry.event_id.in_(event_ids)),
    )
    return {event_id: leaf for event_id, leaf in session.execute(found)}
