"""The SQL of the log's hot paths, per dialect: the log runs on PostgreSQL and SQLite only.

Appends run in every domain transaction and integration moves thousands of entries a second, so on PostgreSQL
each step is one statement over arrays sent in psycopg's binary format (the text format escapes every element
with a regular expression, four times the CPU), on the same connection and transaction as the caller. SQLite,
in process, gets plain parameterised statements. Writes whose results nobody reads are deferred
(``core.deferred``): they go out with the next statement or the COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete, insert, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import deferred
from ledger.models import Entry, PendingEntry, SubjectHead

PENDING_COLUMNS = ("event_id", "type", "subject", "body")


def insert_for(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the log runs on PostgreSQL or SQLite, not {dialect}")


# Appending.

_PG_LOGGED = (
    "SELECT event_id FROM ledger_entries WHERE event_id = ANY(%(ids)b::varchar[]) "
    "UNION ALL SELECT event_id FROM ledger_pending WHERE event_id = ANY(%(ids)b::varchar[])"
)
_PG_QUEUE = (  # in the batch's order, so that pending ids follow it; an event id already queued is left alone
    "INSERT INTO ledger_pending (event_id, type, subject, body) "
    "SELECT event_id, type, subject, body FROM unnest(%(event_id)b::varchar[], %(type)b::varchar[], "
    "%(subject)b::varchar[], %(body)b::bytea[]) WITH ORDINALITY AS batch(event_id, type, subject, body, position) "
    "ORDER BY position ON CONFLICT (event_id) DO NOTHING"
)
_PG_QUEUE_ONE = (  # one event, as a decision logs: plain parameters cost less to send than arrays of one
    "INSERT INTO ledger_pending (event_id, type, subject, body) VALUES (%(event_id)s, %(type)s, %(subject)s, "
    "%(body)b) ON CONFLICT (event_id) DO NOTHING"
)

_ids = bindparam("ids", type_=Entry.event_id.type, expanding=True)
_LOGGED = union_all(
    select(Entry.event_id).where(Entry.event_id.in_(_ids)),
    select(PendingEntry.event_id).where(PendingEntry.event_id.in_(_ids)),
)
_QUEUE = sqlite.insert(PendingEntry).on_conflict_do_nothing(index_elements=[PendingEntry.event_id])


def logged(conn: Connection, event_ids: list[str]) -> set[str]:
    """The events among ``event_ids`` already queued or sequenced, in one statement: the integrator moving an
    entry from the queue to the tree meanwhile cannot hide it."""
    if deferred.defers(conn):
        return {row[0] for row in deferred.read(conn, _PG_LOGGED, {"ids": event_ids})}
    return set(conn.scalars(_LOGGED, {"ids": event_ids}))


def queue(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue rows (``PENDING_COLUMNS``) in their order; on PostgreSQL with the COMMIT, or whatever comes first."""
    if not deferred.defers(conn):
        conn.execute(_QUEUE, list(rows))
    elif len(rows) == 1:
        deferred.write_sql(conn, _PG_QUEUE_ONE, {c: rows[0][c] for c in PENDING_COLUMNS})
    else:
        deferred.write_sql(conn, _PG_QUEUE, {c: [row[c] for row in rows] for c in PENDING_COLUMNS})


# Sequencing.

_PG_OLDEST = "SELECT id, event_id, type, subject, body FROM ledger_pending ORDER BY id LIMIT %(limit)s"
_PG_SEQUENCED = "SELECT event_id FROM ledger_entries WHERE event_id = ANY(%(ids)b::varchar[])"
_PG_HEADS = "SELECT subject, leaf_hash FROM ledger_subject_heads WHERE subject = ANY(%(subjects)b::varchar[])"
_PG_SEQUENCE = (
    "INSERT INTO ledger_entries (idx, event_id, type, subject, leaf_hash, body) "
    "SELECT %(first)s + position - 1, event_id, type, subject, leaf_hash, body FROM unnest(%(event_id)b::varchar[], "
    "%(type)b::varchar[], %(subject)b::varchar[], %(leaf_hash)b::bytea[], %(body)b::bytea[]) WITH ORDINALITY "
    "AS batch(event_id, type, subject, leaf_hash, body, position)"
)
_PG_DELETE_PENDING = "DELETE FROM ledger_pending WHERE id = ANY(%(ids)b::bigint[])"
_PG_MOVE_HEADS = (
    "INSERT INTO ledger_subject_heads (subject, leaf_hash) "
    "SELECT * FROM unnest(%(subjects)b::varchar[], %(leaves)b::bytea[]) "
    "ON CONFLICT (subject) DO UPDATE SET leaf_hash = excluded.leaf_hash"
)
_heads = SubjectHead.__table__.c
_HEADS = select(SubjectHead.subject, SubjectHead.leaf_hash).where(
    SubjectHead.subject.in_(bindparam("subjects", expanding=True))
)
_upsert = sqlite.insert(SubjectHead)
_MOVE_HEADS = _upsert.on_conflict_do_update(
    index_elements=[_heads.subject], set_={"leaf_hash": _upsert.excluded.leaf_hash}
)
ENTRY_COLUMNS = ("idx", "event_id", "type", "subject", "leaf_hash", "body")


def oldest_pending(conn: Connection, limit: int) -> list[tuple[int, str, str, str, bytes]]:
    """(pending id, event id, type, subject, body) of the oldest queued entries."""
    if deferred.defers(conn):
        return cast(list[tuple[int, str, str, str, bytes]], deferred.read(conn, _PG_OLDEST, {"limit": limit}))
    query = select(PendingEntry.id, PendingEntry.event_id, PendingEntry.type, PendingEntry.subject, PendingEntry.body)
    return [(i, e, t, s, b) for i, e, t, s, b in conn.execute(query.order_by(PendingEntry.id).limit(limit))]


def sequenced(conn: Connection, event_ids: list[str]) -> set[str]:
    if deferred.defers(conn):
        return {row[0] for row in deferred.read(conn, _PG_SEQUENCED, {"ids": event_ids})}
    return set(conn.scalars(select(Entry.event_id).where(Entry.event_id.in_(event_ids))))


def heads(conn: Connection, subjects: list[str]) -> dict[str, bytes | None]:
    """The leaf hash of the newest sequenced entry of each of ``subjects`` that has one."""
    if deferred.defers(conn):
        return dict(cast(list[tuple[str, bytes | None]], deferred.read(conn, _PG_HEADS, {"subjects": subjects})))
    return dict(cast(list[tuple[str, bytes | None]], conn.execute(_HEADS, {"subjects": subjects}).all()))


def move_pending(
    conn: Connection, entries: Sequence[dict[str, Any]], done: list[int], heads: dict[str, bytes | None]
) -> None:
    """Store sequenced ``entries`` (``ENTRY_COLUMNS``), numbered from ``entries[0]["idx"]`` on, empty the queue of
    the pending ids ``done``, and move the heads of the subjects to ``heads``."""
    if deferred.defers(conn):  # sent with the integrator's next statement or its COMMIT
        if entries:
            columns = {c: [e[c] for e in entries] for c in ENTRY_COLUMNS[1:]}
            deferred.write_sql(conn, _PG_SEQUENCE, {"first": entries[0]["idx"], **columns})
            deferred.write_sql(conn, _PG_MOVE_HEADS, {"subjects": list(heads), "leaves": list(heads.values())})
        deferred.write_sql(conn, _PG_DELETE_PENDING, {"ids": done})
        return
    if entries:
        conn.execute(insert(Entry), list(entries))
        conn.execute(_MOVE_HEADS, [{"subject": s, "leaf_hash": h} for s, h in heads.items()])
    conn.execute(delete(PendingEntry).where(PendingEntry.id.in_(done)))
