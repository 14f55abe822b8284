"""The PostgreSQL pool: prepared statements survive read-only sessions, and a connection that died while it
rested in the pool is replaced before anyone uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text

from core import db
from workflow.models import SealRequest


@pytest.fixture
def pg(engine: Engine) -> Iterator[Engine]:
    """A small engine of its own on the test database: the sessions below, one after the other, share a connection."""
    if engine.dialect.name != "postgresql":
        pytest.skip("prepared statements and pings are PostgreSQL's")
    small = db.create_db_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    yield small
    small.dispose()


def _prepared(engine: Engine) -> int:
    with db.read_session_factory(engine)() as session:
        return int(session.scalar(text("SELECT count(*) FROM pg_prepared_statements")) or 0)


def test_read_sessions_keep_the_prepared_statements(pg: Engine) -> None:
    writers, readers = db.session_factory(pg), db.read_session_factory(pg)
    query = select(func.count()).select_from(SealRequest).where(SealRequest.id > 0)
    for _ in range(6):  # psycopg prepares a statement at its fifth run on a connection
        with writers() as session:
            session.scalar(query)
            session.commit()
        with readers() as session:  # ends without COMMIT, as a request's principal lookup does
            session.scalar(query)
    assert _prepared(pg) >= 1


def test_a_connection_killed_while_resting_is_replaced(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with pg.connect() as conn:
        first = conn.scalar(select(func.pg_backend_pid()))
    other = db.create_db_engine(pg.url.render_as_string(hide_password=False), pool_size=1)
    with other.connect() as admin:
        assert admin.scalar(select(func.pg_terminate_backend(first)))
    other.dispose()
    monkeypatch.setattr(db, "REST_BEFORE_PING", 0.0)
    with pg.connect() as conn:
        assert conn.scalar(select(func.pg_backend_pid())) != first
