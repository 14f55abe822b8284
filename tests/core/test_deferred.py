"""Deferred writes keep the meaning of running each statement at once: order, rollback and errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql
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
        deferred.write(conn, INSERT, [{"name": "a", "n": 1, "at": AT}, {"name": "b", "n": 5, "at": None}])
        deferred.write(conn, BUMP, {})
        assert conn.execute(select(probe.c.n).where(probe.c.name == "a")).scalar_one() == 2
        deferred.write(conn, BUMP, {})
        if _pg(table):
            assert deferred.read(conn, "SELECT n FROM deferred_probe WHERE name = %(name)s", {"name": "a"}) == [(3,)]
    with table.connect() as conn:
        rows = conn.execute(select(probe.c.name, probe.c.n, probe.c.at).order_by(probe.c.name)).all()
    assert [tuple(r) for r in rows] == [("a", 3, AT.astimezone(dt.UTC)), ("b", 5, None)]


def test_the_commit_sends_what_is_left(table: Engine) -> None:
    with table.begin() as conn:
        deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})
    assert _names(table) == ["a"]


def test_a_transaction_of_writes_only_commits_them_together_and_leaves_the_connection_transactional(
    table: Engine,
) -> None:
    with table.connect() as conn:
        deferred.write(conn, INSERT, [{"name": "a", "n": 1, "at": AT}, {"name": "b", "n": 1, "at": None}])
        deferred.write(conn, BUMP, {})
        conn.commit()
        conn.execute(insert(probe).values(name="c", n=1))  # sent at once, in a transaction again
        conn.rollback()
    with table.connect() as conn:
        rows = conn.execute(select(probe.c.name, probe.c.n).order_by(probe.c.name)).all()
    assert [tuple(r) for r in rows] == [("a", 2), ("b", 1)]


def test_a_rollback_drops_the_writes(table: Engine) -> None:
    with table.connect() as conn:
        deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})
        conn.rollback()
        deferred.write(conn, INSERT, {"name": "b", "n": 1, "at": AT})
        conn.commit()
    with table.connect() as conn:
        deferred.write(conn, INSERT, {"name": "c", "n": 1, "at": AT})
    # closed without a commit: nothing of "c" follows the connection back into the pool
    with table.begin() as conn:
        deferred.write(conn, INSERT, {"name": "d", "n": 1, "at": AT})
    assert _names(table) == ["b", "d"]


def test_a_savepoint_rollback_drops_only_what_came_after_it(table: Engine) -> None:
    with table.begin() as conn:
        deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})
        nested = conn.begin_nested()
        deferred.write(conn, INSERT, {"name": "b", "n": 1, "at": AT})
        nested.rollback()
        deferred.write(conn, INSERT, {"name": "c", "n": 1, "at": AT})
    assert _names(table) == ["a", "c"]


@pytest.mark.parametrize("sent_with", ["commit", "select"])
def test_a_failing_write_fails_what_it_was_sent_with_and_keeps_nothing(table: Engine, sent_with: str) -> None:
    with table.begin() as conn:
        deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})

    def clash() -> None:
        with table.begin() as conn:
            deferred.write(conn, INSERT, {"name": "b", "n": 1, "at": AT})
            deferred.write(conn, INSERT, {"name": "a", "n": 2, "at": AT})
            if sent_with == "select":
                conn.execute(select(func.count()).select_from(probe))

    with pytest.raises(IntegrityError):
        clash()
    assert _names(table) == ["a"]
    with table.begin() as conn:  # the connection that failed is usable again
        deferred.write(conn, INSERT, {"name": "b", "n": 1, "at": AT})
    assert _names(table) == ["a", "b"]


@pytest.mark.parametrize(
    ("statement", "params", "message"),
    [
        (INSERT, {"name": "a", "at": AT}, "missing: n"),
        (INSERT.returning(probe.c.id), {"name": "a", "n": 1, "at": AT}, "returns nothing"),
    ],
)
def test_a_write_that_cannot_be_deferred_is_refused(
    table: Engine, statement: object, params: dict[str, object], message: str
) -> None:
    if not _pg(table):
        pytest.skip("SQLite runs every write at once")
    with table.connect() as conn, pytest.raises(ValueError, match=message):
        deferred.write(conn, statement, params)  # type: ignore[arg-type]


def test_sqlite_runs_a_write_at_once(table: Engine) -> None:
    if _pg(table):
        pytest.skip("PostgreSQL defers")
    with table.begin() as conn:
        deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})
        with pytest.raises(IntegrityError):
            deferred.write(conn, INSERT, {"name": "a", "n": 1, "at": AT})


def test_what_deferred_writes_rely_on_in_sqlalchemy() -> None:
    """core.deferred compiles a statement once through SQLAlchemy's compiler and reads the attributes below; an
    upgrade that renames or changes them fails here by name, not in a decision under load."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = INSERT.inline().compile(dialect=dialect, column_keys=["name", "at"])
    for attribute in ("bind_names", "escaped_bind_names", "insert_prefetch", "update_prefetch", "effective_returning"):
        assert hasattr(compiled, attribute), f"SQLAlchemy's SQLCompiler has no {attribute} any more"
    assert compiled.string.startswith("INSERT INTO deferred_probe (name, n, at) VALUES (%(name)s")
    assert dict(compiled.construct_params({"name": "a", "at": None})) == {"name": "a", "n": None, "at": None}
    assert [c.key for c in compiled.insert_prefetch] == ["n"]  # a default computed in Python: refused, as it must be
    assert set(compiled.bind_names.values()) == {"name", "n", "at"}
    full = INSERT.inline().compile(dialect=dialect, column_keys=["name", "n", "at"])
    assert not full.insert_prefetch
    assert not full.effective_returning
