"""The workers execute an approved request as soon as its last approval commits, and run pass after pass while
approved requests wait, instead of sleeping between passes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import create_app
from tests.workflow.conftest import Village, login
from tests.workflow.test_review import decide, submit
from workflow import wakeup
from workflow.catalog import SealForm
from workflow.execution import Executor, Executors
from workflow.models import SealRequest
from workflow.workers import BATCH

LEVELS = (("leader", 1), ("secretary", 2), ("sealadmin", 3))


def _approved(client: TestClient) -> int:
    rid: int = submit(client).json()["id"]
    for who, level in LEVELS:
        assert decide(client, who, rid, level).status_code == 200
    return rid


def test_the_last_approval_wakes_the_workers(village: Village) -> None:
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, village.executor)
    app = create_app(village.runtime, executors=executors, workers=True)
    with TestClient(app) as client:
        app.state.workers.interval = 120.0
        time.sleep(1.0)  # the first pass is over: the workers wait out the interval, unless woken
        rid = _approved(client)
        deadline = time.monotonic() + 20
        state = ""
        while time.monotonic() < deadline and state != "completed":
            time.sleep(0.05)
            state = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["state"]
        assert state == "completed"


def test_a_pass_says_whether_approved_requests_still_wait(client: TestClient) -> None:
    workers = client.app.state.workers  # type: ignore[attr-defined]
    rids = [_approved(client) for _ in range(BATCH + 2)]
    assert workers.once() is True  # a batch executed; more may wait
    assert workers.once() is False  # the last two
    states = {client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["state"] for rid in rids}
    assert states == {"completed"}


@dataclass
class _Watched:
    """The village's executor, noting which thread ran each request and holding it a moment, as a slow disk would."""

    sealing: Executor
    threads: dict[int, str] = field(default_factory=dict)
    completes: bool = True

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        self.threads[request.id] = threading.current_thread().name
        time.sleep(0.05)
        return self.sealing.execute(session, request, now)


def test_several_threads_of_one_process_execute_each_request_once(village: Village) -> None:
    if village.runtime.engine.dialect.name == "sqlite":
        pytest.skip("SQLite writes one transaction at a time: one executor thread")
    watched = _Watched(village.executor)
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, watched)
    app = create_app(village.runtime, executors=executors, workers=True)
    with TestClient(app) as client:
        app.state.workers.runtime.settings.workflow.executor_threads = 3
        rids = [_approved(client) for _ in range(12)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(watched.threads) < len(rids):
            time.sleep(0.1)
    assert sorted(watched.threads) == sorted(rids)
    assert len(set(watched.threads.values())) > 1, "one thread executed every request"
    with village.runtime.sessions() as session:
        numbers = session.scalars(select(SealRequest.number).where(SealRequest.id.in_(rids))).all()
        states = set(session.scalars(select(SealRequest.state).where(SealRequest.id.in_(rids))))
    assert sorted(village.executor.done) == sorted(n or "" for n in numbers), "a request ran twice, or not at all"
    assert states == {"completed"}


def test_an_approval_wakes_the_workers_when_its_transaction_commits_only(village: Village) -> None:
    sessions = village.runtime.sessions
    wakeup.approved.clear()
    with sessions() as session:
        wakeup.on_commit(session)
        session.execute(select(SealRequest.id)).all()
        session.rollback()
        session.execute(select(SealRequest.id)).all()
        session.commit()  # a later transaction of the same session
    with sessions() as session:
        wakeup.on_commit(session)  # closed without a commit
    assert not wakeup.approved.is_set()
    with sessions() as session:
        wakeup.on_commit(session)
        with session.begin_nested():  # a savepoint ending keeps the mark
            session.execute(select(SealRequest.id)).all()
        assert not wakeup.approved.is_set()
        session.commit()
    assert wakeup.approved.is_set()
