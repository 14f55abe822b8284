"""Deferred writes keep the meaning of running each statement at once: order, rollback and errors. The log's
statements are deferred on PostgreSQL (``deferred.write_sql``, in psycopg's syntax); on SQLite the same rows are
written at once, as the log writes them there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core import deferred
from core.db import UTCDateTime

_meta = MetaData()
probe = Table(
    "deferred_probe",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
    Column("n", Integer, nullable=False, default=0),
    Column("at", UTCDateTime, nullable=True),
)
INSERT = insert(probe)
BUMP = update(probe).where(probe.c.name == "a").values(n=probe.c.n + 1)
AT = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
_PG_INSERT = "INSERT INTO deferred_probe (name, n, at) VALUES (%(name)s, %(n)s, %(at)s)"
_PG_BUMP = "UPDATE deferred_probe SET n = n + 1 WHERE name = 'a'"


def _insert(conn: Connection, *rows: dict[str, object]) -> None:
    """Deferred on PostgreSQL, at once on SQLite."""
    for row in rows:
        if deferred.defers(conn):
            deferred.write_sql(conn, _PG_INSERT, row)
        else:
            conn.execute(INSERT, row)


def _bump(conn: Connection) -> None:
    if deferred.defers(conn):
        deferred.write_sql(conn, _PG_BUMP, {})
    else:
        conn.execute(BUMP)


@pytest.fixture
def table(engine: Engine) -> Iterator[Engine]:
    _meta.create_all(engine)
    yield engine
    _meta.drop_all(engine)


def _names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(probe.c.name).order_by(probe.c.name)))


def _pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def test_a_statement_sees_the_writes_before_it(table: Engine) -> None:
    with table.begin() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT}, {"name": "b", "n": 5, "at": None})
        _bump(conn)
        assert conn.execute(select(probe.c.n).where(probe.c.name == "a")).scalar_one() == 2
        _bump(conn)
        if _pg(table):
            assert deferred.read(conn, "SELECT n FROM deferred_probe WHERE name = %(name)s", {"name": "a"}) == [(3,)]
    with table.connect() as conn:
        rows = conn.execute(select(probe.c.name, probe.c.n, probe.c.at).order_by(probe.c.name)).all()
    assert [tuple(r) for r in rows] == [("a", 3, AT.astimezone(dt.UTC)), ("b", 5, None)]


def test_the_commit_sends_what_is_left(table: Engine) -> None:
    with table.begin() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT})
    assert _names(table) == ["a"]


def test_a_rollback_drops_the_writes(table: Engine) -> None:
    with table.connect() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT})
        conn.rollback()
        _insert(conn, {"name": "b", "n": 1, "at": AT})
        conn.commit()
    with table.connect() as conn:
        _insert(conn, {"name": "c", "n": 1, "at": AT})
    # closed without a commit: nothing of "c" follows the connection back into the pool
    with table.begin() as conn:
        _insert(conn, {"name": "d", "n": 1, "at": AT})
    assert _names(table) == ["b", "d"]


def test_a_savepoint_rollback_drops_only_what_came_after_it(table: Engine) -> None:
    with table.begin() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT})
        nested = conn.begin_nested()
        _insert(conn, {"name": "b", "n": 1, "at": AT})
        nested.rollback()
        _insert(conn, {"name": "c", "n": 1, "at": AT})
    assert _names(table) == ["a", "c"]


@pytest.mark.parametrize("sent_with", ["commit", "select"])
def test_a_failing_write_fails_what_it_was_sent_with_and_keeps_nothing(table: Engine, sent_with: str) -> None:
    with table.begin() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT})

    def clash() -> None:
        with table.begin() as conn:
            _insert(conn, {"name": "b", "n": 1, "at": AT})
            _insert(conn, {"name": "a", "n": 2, "at": AT})
            if sent_with == "select":
                conn.execute(select(func.count()).select_from(probe))

    with pytest.raises(IntegrityError):
        clash()
    assert _names(table) == ["a"]
    with table.begin() as conn:  # the connection that failed is usable again
        _insert(conn, {"name": "b", "n": 1, "at": AT})
    assert _names(table) == ["a", "b"]


def test_sqlite_runs_a_write_at_once(table: Engine) -> None:
    if _pg(table):
        pytest.skip("PostgreSQL defers")
    with table.begin() as conn:
        _insert(conn, {"name": "a", "n": 1, "at": AT})
        with pytest.raises(IntegrityError):
            _insert(conn, {"name": "a", "n": 1, "at": AT})
