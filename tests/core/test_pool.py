"""The PostgreSQL pool: prepared statements survive read-only sessions and executor passes that find no work,
and a connection that died while it rested in the pool is replaced before anyone uses it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from core import db
from core.clock import ManualClock
from tests.conftest import T0
from workflow.catalog import SealForm
from workflow.execution import Executors, run_pending
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


def test_an_executor_pass_that_claims_nothing_keeps_the_prepared_statements(pg: Engine) -> None:
    writers = db.session_factory(pg)
    query = select(func.count()).select_from(SealRequest).where(SealRequest.id > 0)
    for _ in range(6):
        with writers() as session:
            session.scalar(query)
            session.commit()
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, _Unused())
    ran = run_pending(writers, executors, ManualClock(T0))
    assert (ran.completed, ran.failed) == (0, 0)
    assert _prepared(pg) >= 1


class _Unused:
    completes = True

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        raise AssertionError("no request waits")
