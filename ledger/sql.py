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

from sqlalchemy import Connection, bindparam, delete, insert, select, text, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import deferred
from ledger.models import Entry, PendingEntry, SubjectHead

PENDING_COLUMNS = ("event_id", "type", "subject", "leaf_hash", "body")


def insert_for(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the log runs on PostgreSQL or SQLite, not {dialect}")


# Appending.

_PG_LOCK_HEADS = (
    "INSERT INTO ledger_subject_heads (subject) SELECT unnest(%(subjects)b::varchar[]) "
    "ON CONFLICT (subject) DO UPDATE SET subject = excluded.subject RETURNING subject, leaf_hash"
)
_PG_LOGGED = (
    "SELECT event_id, leaf_hash FROM ledger_entries WHERE event_id = ANY(%(ids)b::varchar[]) "
    "UNION ALL SELECT event_id, leaf_hash FROM ledger_pending WHERE event_id = ANY(%(ids)b::varchar[])"
)
_PG_QUEUE = (  # the new entries and the moved heads in one statement: a round trip less per append
    "WITH queued AS (INSERT INTO ledger_pending (event_id, type, subject, leaf_hash, body) "
    "SELECT event_id, type, subject, leaf_hash, body FROM unnest(%(event_id)b::varchar[], %(type)b::varchar[], "
    "%(subject)b::varchar[], %(leaf_hash)b::bytea[], %(body)b::bytea[]) WITH ORDINALITY "
    "AS batch(event_id, type, subject, leaf_hash, body, position) ORDER BY position) "
    "UPDATE ledger_subject_heads AS h SET leaf_hash = v.leaf "
    "FROM unnest(%(subjects)b::varchar[], %(leaves)b::bytea[]) AS v(subject, leaf) WHERE h.subject = v.subject"
)

_heads = SubjectHead.__table__.c
_upsert = sqlite.insert(SubjectHead)
_LOCK_HEADS = (
    _upsert.values(subject=bindparam("subject"), leaf_hash=None)
    .on_conflict_do_update(index_elements=[_heads.subject], set_={"subject": _upsert.excluded.subject})
    .returning(_heads.subject, _heads.leaf_hash, sort_by_parameter_order=True)
)
_ids = bindparam("ids", type_=Entry.event_id.type, expanding=True)
_LOGGED = union_all(
    select(Entry.event_id, Entry.leaf_hash).where(Entry.event_id.in_(_ids)),
    select(PendingEntry.event_id, PendingEntry.leaf_hash).where(PendingEntry.event_id.in_(_ids)),
)
_MOVE_HEADS = update(SubjectHead).where(_heads.subject == bindparam("s")).values(leaf_hash=bindparam("h"))


def lock_heads(conn: Connection, subjects: list[str]) -> dict[str, bytes | None]:
    """Lock (creating if need be) the head of each subject and return it. Inserting a missing head, or
    "updating" an existing one to itself, locks the row and returns its value."""
    if deferred.defers(conn):  # with the caller's deferred writes, in one round trip
        return dict(cast(list[tuple[str, bytes | None]], deferred.read(conn, _PG_LOCK_HEADS, {"subjects": subjects})))
    return dict(conn.execute(_LOCK_HEADS, [{"subject": s} for s in subjects]).all())


def logged(conn: Connection, event_ids: list[str]) -> dict[str, bytes]:
    """Leaf hashes of the events among ``event_ids`` already queued or sequenced, in one statement."""
    if deferred.defers(conn):
        return dict(cast(list[tuple[str, bytes]], deferred.read(conn, _PG_LOGGED, {"ids": event_ids})))
    return dict(conn.execute(_LOGGED, {"ids": event_ids}).all())


def queue(conn: Connection, rows: Sequence[dict[str, Any]], heads: dict[str, bytes | None]) -> None:
    """Queue rows in their order, so that pending ids follow the order of each subject's chain, and move the
    heads of their subjects to the last of them."""
    if deferred.defers(conn):  # sent with the COMMIT, or whatever comes first
        params = {c: [row[c] for row in rows] for c in PENDING_COLUMNS}
        deferred.write_sql(conn, _PG_QUEUE, params | {"subjects": list(heads), "leaves": list(heads.values())})
    else:
        conn.execute(insert(PendingEntry), list(rows))
        conn.execute(_MOVE_HEADS, [{"s": s, "h": h} for s, h in heads.items()])


# Sequencing.

_PG_SEQUENCED = "SELECT event_id FROM ledger_entries WHERE event_id = ANY(%(ids)b::varchar[])"
_PG_MOVE_PENDING = (
    "INSERT INTO ledger_entries (idx, event_id, type, subject, leaf_hash, body) "
    "SELECT %(first)s + b.position - 1, p.event_id, p.type, p.subject, p.leaf_hash, p.body "
    "FROM unnest(%(ids)b::bigint[]) WITH ORDINALITY AS b(id, position) JOIN ledger_pending p ON p.id = b.id "
    "ORDER BY b.position"
)
_PG_DELETE_PENDING = "DELETE FROM ledger_pending WHERE id = ANY(%(ids)b::bigint[])"
_MOVE_PENDING = text(
    "INSERT INTO ledger_entries (idx, event_id, type, subject, leaf_hash, body) "
    "SELECT :idx, event_id, type, subject, leaf_hash, body FROM ledger_pending WHERE id = :id"
)


def oldest_pending(conn: Connection, limit: int) -> list[tuple[int, str, bytes]]:
    """(pending id, event id, leaf hash) of the oldest queued entries; their bodies stay in the database."""
    query = select(PendingEntry.id, PendingEntry.event_id, PendingEntry.leaf_hash).order_by(PendingEntry.id)
    return [(i, e, leaf) for i, e, leaf in conn.execute(query.limit(limit))]


def sequenced(conn: Connection, event_ids: list[str]) -> set[str]:
    if deferred.defers(conn):
        return {row[0] for row in deferred.read(conn, _PG_SEQUENCED, {"ids": event_ids})}
    return set(conn.scalars(select(Entry.event_id).where(Entry.event_id.in_(event_ids))))


def move_pending(conn: Connection, first: int, pending_ids: list[int], dropped: list[int]) -> None:
    """Copy queued entries into the tree at indices ``first``, ``first + 1``, ..., in the given order, and
    empty the queue of them and of ``dropped``."""
    if deferred.defers(conn):  # sent with the integrator's next statement or its COMMIT
        if pending_ids:
            deferred.write_sql(conn, _PG_MOVE_PENDING, {"first": first, "ids": pending_ids})
        deferred.write_sql(conn, _PG_DELETE_PENDING, {"ids": pending_ids + dropped})
        return
    if pending_ids:
        conn.execute(_MOVE_PENDING, [{"idx": first + n, "id": i} for n, i in enumerate(pending_ids)])
    conn.execute(delete(PendingEntry).where(PendingEntry.id.in_(pending_ids + dropped)))
