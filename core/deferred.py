"""Writes whose results nobody reads, sent to PostgreSQL with the next statement that has to wait anyway.

A decision inserts and updates five rows and reads none of them back. Sent one by one, each is a round trip:
the worker thread sleeps, wakes, takes the GIL back, and SQLAlchemy builds an execution context around a
statement whose result is thrown away. On PostgreSQL a deferred write is instead compiled once, queued on the
connection, and sent in one psycopg pipeline with whatever must wait next: a read on the driver (``read``),
any statement SQLAlchemy runs, or the COMMIT. The order of statements on the connection is kept, so every
read still sees every write before it. SQLite runs in process, where a round trip costs nothing: there a
deferred write runs at once.

A failing deferred write fails the statement it was sent with, or the commit: the transaction is lost either
way, as it would be had it failed at once. SQLAlchemy has no hook for this (psycopg's pipeline mode does not
fit its execution contexts), hence this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase

Params = Mapping[str, Any]
_KEY = "core.deferred"


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for one set of parameter names, with the type processing of its parameters."""

    sql: str
    compiled: SQLCompiler
    processors: dict[str, Any]

    def parameters(self, params: Params) -> dict[str, Any]:
        values = dict(self.compiled.construct_params(params))
        for name, process in self.processors.items():
            values[name] = process(values[name])
        return values


@dataclass(frozen=True)
class _Write:
    sql: str
    params: dict[str, Any] | list[dict[str, Any]]


_cache: dict[tuple[int, str, tuple[str, ...]], tuple[UpdateBase, _Compiled]] = {}


def _compile(conn: Connection, statement: UpdateBase, keys: tuple[str, ...]) -> _Compiled:
    key = (id(statement), conn.dialect.name, keys)
    found = _cache.get(key)
    if found is not None:
        return found[1]
    inline = statement.inline() if isinstance(statement, Insert) else statement  # no implicit RETURNING
    compiled = inline.compile(dialect=conn.dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch:
        missing = ", ".join(c.key for c in [*compiled.insert_prefetch, *compiled.update_prefetch])
        raise ValueError(f"a deferred write gives every column with a default itself; missing: {missing}")
    if compiled.effective_returning:
        raise ValueError("a deferred write returns nothing; use a statement without RETURNING")
    processors = {}
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            processors[compiled.escaped_bind_names.get(name, name)] = process
    made = _Compiled(compiled.string, compiled, processors)
    _cache[key] = (statement, made)  # the statement is kept alive with its id
    return made


def write(conn: Connection, statement: UpdateBase, params: Params | Sequence[Params]) -> None:
    """Run an INSERT, UPDATE or DELETE without RETURNING: now on SQLite, with the next round trip on
    PostgreSQL. A sequence of parameter sets is an executemany. ``statement`` is built once, at module level:
    its compiled form is kept for the life of the process."""
    if not defers(conn):
        conn.execute(statement, params)
        return
    many = not isinstance(params, Mapping)
    rows: Sequence[Params] = cast(Sequence[Params], params) if many else [cast(Params, params)]
    if not rows:
        return
    compiled = _compile(conn, statement, tuple(rows[0]))
    values = [compiled.parameters(row) for row in rows]
    _pending(conn).append(_Write(compiled.sql, values if many else values[0]))


def defers(conn: Connection) -> bool:
    """Whether writes on ``conn`` wait for the next round trip: on PostgreSQL; SQLite has no round trips."""
    return conn.dialect.name == "postgresql"


def write_sql(conn: Connection, sql: str, params: Params) -> None:
    """``write`` for a statement in psycopg's own syntax (``%(name)s``, ``%(name)b``), PostgreSQL only."""
    _pending(conn).append(_Write(sql, dict(params)))


def read(conn: Connection, sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Run a statement in psycopg's syntax on the driver, behind the deferred writes and in the same round trip."""
    return _send(conn, _take(conn), then=(sql, params))


def driver(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn``, with the deferred writes sent: for code that uses it directly."""
    _send(conn, _take(conn))
    return cast(psycopg.Connection[Any], conn.connection.driver_connection)


def _pending(conn: Connection) -> list[_Write]:
    if not conn.in_transaction():  # begin as ``conn.execute`` would, so that commit and rollback see the writes
        conn.begin()
    pending: list[_Write] = conn.info.setdefault(_KEY, [])
    return pending


def _take(conn: Connection) -> list[_Write]:
    taken: list[_Write] = conn.info.pop(_KEY, None) or []
    return taken


def _send(
    conn: Connection, writes: list[_Write], *, then: tuple[str, Params] | None = None, commit: bool = False
) -> list[tuple[Any, ...]]:
    """Send ``writes``, then ``then``, then the COMMIT, in one pipeline; a driver error comes out as SQLAlchemy's
    (an ``IntegrityError`` for a unique violation), as it would have from ``conn.execute``."""
    pg = cast(psycopg.Connection[Any], conn.connection.driver_connection)
    if commit and _plain_begin(pg) and pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        _send_alone(pg, writes)
        return []
    try:
        if not writes:
            return pg.execute(then[0], then[1]).fetchall() if then is not None else []
        with pg.pipeline(), pg.cursor() as cursor:
            _queue(cursor, writes)
            result = pg.execute(then[0], then[1]) if then is not None else None
            if commit:  # a statement, not ``pg.commit()``, which would wait for the COMMIT before the pipeline ends
                pg.execute("COMMIT")
        return result.fetchall() if result is not None else []
    except psycopg.Error as exc:
        sql = writes[0].sql if writes else then[0] if then is not None else ""
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _send_alone(pg: psycopg.Connection[Any], writes: list[_Write]) -> None:
    """Commit a transaction made of ``writes`` only, none sent yet: as PostgreSQL's implicit transaction, which
    the protocol's Sync commits, so without BEGIN, its wait, or COMMIT. One write is one plain statement, several
    one pipeline: half the client's work of the general path, which writes and transactions of one row feel most."""
    autocommit, pg.autocommit = pg.autocommit, True
    try:
        if len(writes) == 1 and not isinstance(writes[0].params, list):
            pg.execute(writes[0].sql, writes[0].params)
            return
        with pg.pipeline(), pg.cursor() as cursor:
            _queue(cursor, writes)
    except psycopg.Error as exc:
        raise DBAPIError.instance(writes[0].sql, None, exc, psycopg.Error) from exc
    finally:
        pg.autocommit = autocommit


def _queue(cursor: psycopg.Cursor[Any], writes: list[_Write]) -> None:
    for item in writes:
        if isinstance(item.params, list):
            cursor.executemany(item.sql, item.params)
        else:
            cursor.execute(item.sql, item.params)


def _plain_begin(pg: psycopg.Connection[Any]) -> bool:
    """Whether psycopg would begin with a plain BEGIN: an implicit transaction is no stand-in for one that is
    read-only, deferrable or of another isolation level."""
    return pg.isolation_level is None and pg.read_only is None and pg.deferrable is None


def install(engine: Engine) -> None:
    """Send the deferred writes of a connection before anything else it runs, with its COMMIT, and drop them at
    a rollback (to a savepoint: writes before it were sent when SQLAlchemy said SAVEPOINT)."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(conn: Connection, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> Any:
        writes = _take(conn)
        if writes:
            _send(conn, writes)
        return statement, params

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        writes = _take(conn)
        if not writes:
            return
        _send(conn, writes, commit=True)  # the COMMIT that follows finds the transaction closed: a no-op

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        _take(conn)

    @event.listens_for(engine, "rollback_savepoint")
    def _rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
        _take(conn)

    @event.listens_for(engine, "reset")
    def _reset(_dbapi_conn: Any, record: Any, _state: Any) -> None:
        record.info.pop(_KEY, None)
