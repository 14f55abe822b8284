"""The workers execute an approved request as soon as its last approval commits, and run pass after pass while
approved requests wait, instead of sleeping between passes."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api import create_app
from tests.workflow.conftest import Village, login
from tests.workflow.test_review import decide, submit
from workflow.catalog import SealForm
from workflow.execution import Executors
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
