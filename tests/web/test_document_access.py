"""On the pages as in the API: a request's document goes to the people the request is between, and a delegation
goes to someone who works where the post does, from now on."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from core.runtime import Runtime
from tests.web.conftest import sign_in, subsidy

pytestmark = pytest.mark.usefixtures("demo_data")


def test_a_colleague_of_the_village_sees_the_request_but_not_its_document(
    browser: TestClient, runtime: Runtime
) -> None:
    request = subsidy(runtime)
    links = (f'href="/requests/{request.id}/document"', f'src="/requests/{request.id}/pages/1"')
    sign_in(browser, "sn.g1.leader")  # level 1 is theirs
    for path in (f"/requests/{request.id}", f"/inbox/{request.id}"):
        page = browser.get(path)
        assert page.status_code == 200
        assert all(link in page.text for link in links), path
    assert browser.get(f"/requests/{request.id}/document").status_code == 200
    sign_in(browser, "sn.staff")  # works in the village, decides nothing of it yet
    for path in (f"/requests/{request.id}", f"/inbox/{request.id}"):
        page = browser.get(f"{path}?lang=en")
        assert page.status_code == 200
        assert not any(link in page.text for link in links), path
        assert "Only the applicant, the approvers of the request" in page.text
    for path in ("/document", "/document?original=true", "/pages/1"):
        assert browser.get(f"/requests/{request.id}{path}").status_code == 403, path
    sign_in(browser, "bl.staff")  # another village: the request is not there at all
    assert browser.get(f"/requests/{request.id}/document").status_code == 404


def test_the_delegation_form_refuses_a_deputy_from_elsewhere_and_a_start_in_the_past(
    browser: TestClient, runtime: Runtime
) -> None:
    csrf = sign_in(browser, "sn.g1.leader")
    form = browser.get("/delegations")
    assert 'name="valid_from" value=""' in form.text  # empty: from when the form is sent
    start = runtime.clock.now().astimezone(dt.timezone(dt.timedelta(hours=8)))
    seat = {
        "csrf": csrf,
        "seat": "group_leader@yazhou.shuinan.g1",
        "valid_from": "",
        "valid_until": (start + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "",
    }
    elsewhere = browser.post("/delegations", data={**seat, "deputy": "bl.staff"})
    assert elsewhere.status_code == 422
    assert "bl.staff holds no post in" in elsewhere.text
    past = (start - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    late = browser.post("/delegations", data={**seat, "deputy": "sn.staff", "valid_from": past})
    assert late.status_code == 422
    assert "cannot start in the past" in late.text
    made = browser.post("/delegations", data={**seat, "deputy": "sn.staff"})
    assert made.status_code == 303
