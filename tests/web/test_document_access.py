"""On the pages as in the API: a request's document goes to the people the request is between, and a delegation
goes to someone who works where the post does, from now on."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.pages import base
from core.runtime import Runtime
from identity import delegation
from ledger.models import Entry, PendingEntry
from sealgate.cli import demo
from tests.web.conftest import sign_in, subsidy
from tests.web.test_bureaus import complete, submit
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY

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
    assert "代理人在该单位及其上级单位都没有职务" in elsewhere.text
    past = (start - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    late = browser.post("/delegations", data={**seat, "deputy": "sn.staff", "valid_from": past})
    assert late.status_code == 422
    assert "委托不能从过去的时间开始。" in late.text
    made = browser.post("/delegations", data={**seat, "deputy": "sn.staff"})
    assert made.status_code == 303


def test_a_refused_delegation_is_said_in_the_page_language(browser: TestClient, runtime: Runtime) -> None:
    """By the rule that refused it, with the service's words beneath; what the form held is kept."""
    csrf = sign_in(browser, "sn.g1.leader")
    start = runtime.clock.now().astimezone(dt.timezone(dt.timedelta(hours=8)))
    seat = {
        "csrf": csrf,
        "seat": "group_leader@yazhou.shuinan.g1",
        "deputy": "sn.staf",
        "valid_from": "",
        "valid_until": (start + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "外出培训",
    }
    unknown = browser.post("/delegations", data=seat)
    assert unknown.status_code == 404
    assert "没有这个用户名的用户，请核对代理人的用户名。" in unknown.text
    assert "no user named &#39;sn.staf&#39;" in unknown.text
    assert 'value="sn.staf"' in unknown.text
    assert 'value="外出培训"' in unknown.text
    backwards = browser.post("/delegations", data={**seat, "deputy": "sn.staff", "valid_until": "2020-01-01T08:00"})
    assert "结束时间必须晚于开始时间。" in backwards.text
    garbled = browser.post("/delegations", data={**seat, "deputy": "sn.staff", "valid_until": "next week"})
    assert garbled.status_code == 422
    assert "结束时间不是有效的日期和时间。" in garbled.text
    no_seat = browser.post("/delegations", data={**seat, "deputy": "sn.staff", "seat": "mayor@yazhou.shuinan"})
    assert "请选择一个要委托的职务。" in no_seat.text
    assert 'class="badge' not in browser.get("/delegations").text  # nothing was delegated
    english = browser.post("/delegations?lang=en", data=seat)
    assert "There is no user by that name: check the deputy's user name." in english.text


def test_every_rule_of_a_delegation_has_words_on_the_page() -> None:
    assert set(delegation.RULES) <= set(base.RULE_WORDS)


def test_a_sealed_request_leaves_in_the_log_neither_its_applicant_nor_its_matter(
    browser: TestClient, runtime: Runtime
) -> None:
    """Through the electronic sealing too: the seal's entry holds the matter as a commitment."""
    with runtime.sessions() as session:  # the villages' electronic seals, with their certificates
        demo.load(session, runtime.clock.now(), settings=runtime.settings, keystore=runtime.keystore)
    request_id = submit(browser, WINTER_VEGETABLE_SUBSIDY)
    complete(browser, request_id)
    subject = f"request:{request_id}"
    with runtime.readers() as session:
        bodies = list(session.scalars(select(PendingEntry.body).where(PendingEntry.subject == subject)))
        bodies += list(session.scalars(select(Entry.body).where(Entry.subject == subject)))
    entries = [json.loads(body) for body in bodies]
    [sealed] = [e for e in entries if e["type"] == "seal.applied"]
    assert sealed["data"]["matter"].startswith("sha256:")
    text = json.dumps(entries, ensure_ascii=False)
    for said in ("agri.winter-vegetable-subsidy", "sn.resident", "符阿妹"):
        assert said not in text, said
    assert "user:sn.g1.leader" in text  # who decided stays named
