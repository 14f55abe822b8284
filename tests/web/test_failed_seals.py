"""A seal that fails, on the demo: its organisation's seal administrator is told and finds it in their inbox with
the reason, the resident reads in their language that it will be sealed again, and once the cause is put right
(here: the village's electronic seal gets its certificate) the seal administrator seals it again from the page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ca import hierarchy, seals
from core.runtime import Runtime
from identity import directory
from tests.web.conftest import sign_in
from tests.web.test_verify_pages import bearer
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import notify
from workflow.models import SealRequest

pytestmark = pytest.mark.usefixtures("demo_data")


def approved(browser: TestClient) -> int:
    """The resident's request approved at its three levels through the API; its id."""
    submitted = browser.post("/api/v1/requests", headers=bearer(browser, "sn.resident"), json=WINTER_VEGETABLE_SUBSIDY)
    assert submitted.status_code == 201, submitted.text
    rid: int = submitted.json()["id"]
    for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
        body = {"decision": "approve", "level": level}
        decided = browser.post(f"/api/v1/requests/{rid}/decisions", headers=bearer(browser, who), json=body)
        assert decided.status_code == 200, decided.text
    return rid


def state(runtime: Runtime, rid: int) -> str:
    with runtime.readers() as session:
        request = session.get(SealRequest, rid)
        assert request is not None
        return request.state


def told(runtime: Runtime, username: str) -> list[str]:
    with runtime.readers() as session:
        return [n.title for n in notify.inbox(session, directory.user(session, username).id, unread=True)]


def test_the_seal_administrator_retries_a_failed_seal_from_the_inbox(browser: TestClient, runtime: Runtime) -> None:
    rid = approved(browser)
    browser.app.state.workers.once()  # type: ignore[attr-defined]
    assert state(runtime, rid) == "failed"  # the demo's village seal has no certificate yet
    assert "用印失败，待重试" in told(runtime, "sn.sealadmin")
    assert "用印失败，待重试" not in told(runtime, "sn.secretary")  # only the seal's keepers are asked

    sign_in(browser, "sn.resident")
    mine = browser.get(f"/requests/{rid}").text
    assert "用印没有完成。已通知印章管理员，问题排除后会重新用印。" in mine
    assert "/retry" not in mine

    sign_in(browser, "sn.secretary")
    assert "用印失败的申请" not in browser.get("/inbox").text
    csrf = sign_in(browser, "sn.secretary")
    assert browser.post(f"/requests/{rid}/retry", data={"csrf": csrf}).status_code == 403
    assert state(runtime, rid) == "failed"

    csrf = sign_in(browser, "sn.sealadmin")
    assert "用印失败的申请" in browser.get("/").text  # a tile on the home page
    page = browser.get(f"/requests/{rid}").text  # the request's own page offers it too
    assert f'action="/requests/{rid}/retry"' in page
    assert "已通知印章管理员" not in page
    inbox = browser.get("/inbox").text
    assert "用印失败的申请" in inbox
    assert f'action="/requests/{rid}/retry"' in inbox
    with runtime.readers() as session:
        failure = session.get(SealRequest, rid).failure  # type: ignore[union-attr]
    assert failure
    assert failure.replace("'", "&#39;") in inbox  # the reason, to find out what to put right

    now = runtime.clock.now()
    with runtime.sessions() as session:  # the cause put right: the village seal gets its certificate
        authority = hierarchy.load(session, runtime.keystore)
        seal = seals.add(session, "yazhou.shuinan", "village_official", seals.SealForm.ELECTRONIC, "公章", now, "test")
        seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
    again = browser.post(f"/requests/{rid}/retry", data={"csrf": csrf})
    assert again.status_code == 303
    assert again.headers["location"] == f"/requests/{rid}?done=Sent%20to%20be%20sealed%20again"
    assert state(runtime, rid) == "approved"
    assert browser.post(f"/requests/{rid}/retry", data={"csrf": csrf}).status_code == 409  # not failed any more
    browser.app.state.workers.once()  # type: ignore[attr-defined]
    assert state(runtime, rid) == "completed"
    assert f'action="/requests/{rid}/retry"' not in browser.get("/inbox").text
    sign_in(browser, "sn.resident")
    assert "用印没有完成" not in browser.get(f"/requests/{rid}").text
