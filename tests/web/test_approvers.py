"""The approvers' pages on the demo: the inbox, overdue first; deciding a request through its page; delegations
made through the page and used by the deputy; and the refusals (no approver's post, no CSRF token, no reason)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from core.clock import ManualClock
from core.runtime import Runtime
from identity import auth, directory
from tests.web.conftest import sign_in
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import requests
from workflow.catalog import SealForm
from workflow.models import Decision, SealRequest
from workflow.requests import Submission

pytestmark = pytest.mark.usefixtures("demo_data")


def submit(runtime: Runtime, username: str = "sn.resident") -> SealRequest:
    """The winter-vegetable subsidy, as the resident submits it."""
    with runtime.sessions() as session:
        now = runtime.clock.now()
        who = auth.principal_of(session, directory.user(session, username), now)
        request = requests.submit(
            session,
            who,
            Submission(**{**WINTER_VEGETABLE_SUBSIDY, "seal_form": SealForm.ELECTRONIC, "copies": 1, "place": ""}),
            blobs=runtime.blobs,
            max_bytes=runtime.settings.workflow.max_upload_bytes,
            now=now,
        )
        session.commit()
        session.expunge(request)
        return request


def stored(runtime: Runtime, request_id: int) -> SealRequest:
    with runtime.readers() as session:
        request = session.get(SealRequest, request_id)
        assert request is not None
        session.expunge(request)
        return request


def decide(browser: TestClient, request_id: int, csrf: str | None, **fields: str) -> str:
    """Posts the decision form; returns where the browser is sent."""
    data = {"level": "1", "comment": "", "to_level": "0", **fields}
    if csrf is not None:
        data["csrf"] = csrf
    answer = browser.post(f"/inbox/{request_id}", data=data)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_the_group_leader_approves_from_the_inbox(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.g1.leader")

    inbox = browser.get("/inbox?lang=en")
    assert inbox.status_code == 200
    assert request.number in inbox.text
    assert "冬季瓜菜种植补贴" in inbox.text
    assert f'href="/inbox/{request.id}"' in inbox.text
    assert "村民小组长审核" in inbox.text
    assert "any one holder decides" in inbox.text
    assert 'class="badge overdue"' not in inbox.text

    page = browser.get(f"/inbox/{request.id}?lang=zh_CN")
    assert page.status_code == 200
    assert '<input type="hidden" name="level" value="1">' in page.text
    assert f'src="/requests/{request.id}/pages/1"' in page.text  # the document's first page, as a picture
    assert "辣椒" in page.text
    assert "种植面积（亩）" in page.text
    assert "4602**********1222" in page.text
    assert "460204197803121222" not in page.text
    assert "同意" in page.text
    assert "驳回" in page.text
    assert "退回" in page.text

    assert decide(browser, request.id, csrf, decision="approve") == "/inbox?done=Approved"
    moved = stored(runtime, request.id)
    assert (moved.state, moved.level) == ("in_review", 2)
    after = browser.get("/inbox?done=Approved")
    assert "已同意" in after.text
    assert request.number not in after.text
    again = browser.get(f"/inbox/{request.id}?lang=en")
    assert again.status_code == 200  # still visible, read-only
    assert "Nothing of this request waits for your decision." in again.text
    assert 'name="decision"' not in again.text
    assert "sn.g1.leader" in again.text  # the decision in the timeline

    secretary = sign_in(browser, "sn.secretary")
    assert request.number in browser.get("/inbox").text
    assert decide(browser, request.id, secretary, decision="approve", level="2") == "/inbox?done=Approved"
    assert stored(runtime, request.id).level == 3


def test_a_level_decided_already_is_a_conflict_shown_as_a_page(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.g1.leader")
    decide(browser, request.id, csrf, decision="approve")
    answer = browser.post(f"/inbox/{request.id}", data={"csrf": csrf, "level": "1", "decision": "approve"})
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("text/html")
    assert "该级审批已经有人作出决定，或已不在审批中。" in answer.text  # said in the page's language
    assert "no longer under review" in answer.text  # and the service's detail beside it
    english = browser.post(
        f"/inbox/{request.id}", params={"lang": "en"}, data={"csrf": csrf, "level": "1", "decision": "approve"}
    )
    assert "This level of the request has been decided already" in english.text


def test_a_resident_has_no_inbox(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.resident")
    assert browser.get("/inbox").status_code == 403
    answer = browser.post(f"/inbox/{request.id}", data={"csrf": csrf, "level": "1", "decision": "approve"})
    assert answer.status_code == 403
    assert browser.get("/delegations").status_code == 403
    assert stored(runtime, request.id).level == 1


def test_a_decision_without_the_csrf_token_is_refused(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    sign_in(browser, "sn.g1.leader")
    answer = browser.post(f"/inbox/{request.id}", data={"level": "1", "decision": "approve"})
    assert answer.status_code == 403
    assert stored(runtime, request.id).level == 1


def test_a_rejection_needs_a_reason(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.g1.leader")
    refused = browser.post(f"/inbox/{request.id}", data={"csrf": csrf, "level": "1", "decision": "reject"})
    assert refused.status_code == 422
    assert "needs a reason" in refused.text
    assert "驳回或退回需要说明理由，请写在意见中。" in refused.text
    assert stored(runtime, request.id).state == "in_review"

    assert decide(browser, request.id, csrf, decision="reject", comment="面积与台账不符") == "/inbox?done=Rejected"
    assert stored(runtime, request.id).state == "rejected"


def test_sending_back_to_the_applicant(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.g1.leader")
    assert decide(browser, request.id, csrf, decision="return", comment="请补充地块位置") == "/inbox?done=Returned"
    assert stored(runtime, request.id).state == "returned"
    page = browser.get(f"/inbox/{request.id}?lang=en")
    assert "请补充地块位置" in page.text
    assert "the applicant" in page.text


def test_a_deputy_named_through_the_page_decides_for_the_holder(browser: TestClient, runtime: Runtime) -> None:
    request = submit(runtime)
    csrf = sign_in(browser, "sn.g1.leader")
    form = browser.get("/delegations")
    assert 'value="group_leader@yazhou.shuinan.g1"' in form.text
    start = runtime.clock.now().astimezone(dt.timezone(dt.timedelta(hours=8)))
    seat = {
        "csrf": csrf,
        "seat": "group_leader@yazhou.shuinan.g1",
        "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (start + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "外出培训",
    }
    refused = browser.post("/delegations", data={**seat, "deputy": "sn.g1.leader"})
    assert refused.status_code == 422
    assert "不能把职务委托给自己。" in refused.text  # the page's language
    assert "nobody delegates to themselves" in refused.text  # the service's words, beneath, for whoever helps
    assert 'value="外出培训"' in refused.text
    made = browser.post("/delegations", data={**seat, "deputy": "sn.staff"})
    assert made.status_code == 303
    assert made.headers["location"] == "/delegations?done=Delegation%20made"
    given = browser.get("/delegations?lang=en")
    assert "Handed to" in given.text
    assert "(sn.staff)" in given.text
    assert "In force" in given.text

    deputy = sign_in(browser, "sn.staff")
    received = browser.get("/delegations?lang=en")
    assert "Received from" in received.text
    inbox = browser.get("/inbox?lang=en")
    assert request.number in inbox.text
    assert "On behalf of" in inbox.text
    assert "You decide as the deputy of" in browser.get(f"/inbox/{request.id}?lang=en").text
    decide(browser, request.id, deputy, decision="approve")
    with runtime.readers() as session:
        decision = session.query(Decision).filter_by(request_id=request.id).one()
        assert (decision.actor.username, decision.on_behalf_of.username if decision.on_behalf_of else None) == (
            "sn.staff",
            "sn.g1.leader",
        )

    ending = re.search(r'action="/delegations/(\d+)/end"', received.text)
    assert ending is not None
    ended = browser.post(f"/delegations/{ending.group(1)}/end", data={"csrf": deputy})
    assert ended.status_code == 303
    assert "Ended" in browser.get("/delegations?lang=en").text


def test_overdue_requests_come_first(browser: TestClient, runtime: Runtime, clock: ManualClock) -> None:
    late = submit(runtime)
    clock.advance(dt.timedelta(hours=20))
    fresh = submit(runtime)
    clock.advance(dt.timedelta(hours=5))  # the first is 25 hours old, past its 24; the second 5
    sign_in(browser, "sn.g1.leader")
    page = browser.get("/inbox?lang=en").text
    assert page.index(late.number) < page.index(fresh.number)
    assert page.count('class="badge overdue"') == 1
    assert page.index('class="badge overdue"') < page.index(fresh.number)
