"""Signing in and out through the pages: the session cookie, the CSRF token of every form, the sign-in redirect."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from httpx import Response

from core.clock import ManualClock
from core.runtime import Runtime
from tests.web.conftest import csrf_of, password, sign_in


def test_a_page_without_a_session_leads_to_the_sign_in_and_back(browser: TestClient) -> None:
    answer = browser.get("/?lang=en")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2F%3Flang%3Den"


def test_signing_in_sets_an_http_only_same_site_cookie_that_expires(browser: TestClient) -> None:
    form = browser.get("/login")
    answer = browser.post(
        "/login",
        data={
            "username": "sn.resident",
            "password": password("sn.resident"),
            "csrf": csrf_of(form.text),
            "next": "/requests",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/requests"
    cookie = answer.headers["set-cookie"]
    assert "sg_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=28800" in cookie
    home = browser.get("/")
    assert home.status_code == 200
    assert "符阿妹" in home.text


def test_the_sign_in_form_needs_its_own_token(browser: TestClient) -> None:
    browser.get("/login")
    answer = browser.post("/login", data={"username": "sn.resident", "password": password("sn.resident"), "csrf": "x"})
    assert answer.status_code == 403
    assert "sg_session" not in answer.headers.get("set-cookie", "")


def test_a_wrong_password_is_said_on_the_form(browser: TestClient) -> None:
    form = browser.get("/login")
    answer = browser.post("/login", data={"username": "sn.resident", "password": "nope", "csrf": csrf_of(form.text)})
    assert answer.status_code == 401
    assert 'name="username"' in answer.text


def test_sign_in_never_sends_the_browser_to_another_site(browser: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        browser.cookies.clear()
        form = browser.get("/login")
        answer = browser.post(
            "/login",
            data={
                "username": "sn.resident",
                "password": password("sn.resident"),
                "csrf": csrf_of(form.text),
                "next": target,
            },
        )
        assert answer.headers["location"] == "/"


def test_signing_out_needs_the_token_and_ends_the_session(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    assert browser.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert browser.post("/logout", data={"csrf": csrf}).status_code == 303
    assert browser.get("/").status_code == 303  # the token behind the cookie was revoked


def test_a_form_from_another_site_is_refused(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    answer = browser.post("/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


def test_pages_speak_chinese_by_default_and_english_on_request(browser: TestClient) -> None:
    sign_in(browser, "sn.resident")
    assert "我的申请" in browser.get("/").text
    english = browser.get("/?lang=en")
    assert "My requests" in english.text
    assert "My requests" in browser.get("/").text  # the choice is kept


def test_an_unknown_page_is_a_page(browser: TestClient) -> None:
    answer = browser.get("/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert browser.get("/api/v1/nothing").headers["content-type"] == "application/problem+json"


def test_docs_are_served_from_the_service_itself(browser: TestClient) -> None:
    page = browser.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert browser.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_the_home_page_shows_each_role_what_waits_for_it(browser: TestClient) -> None:
    tiles = {
        "approvals": "等待我审批",
        "alarms": "未处理的告警",
        "overdue": "超时的审批环节",
        "received": "本周收到的文件",
    }
    shown = {
        "sn.g1.leader": {"approvals"},
        "sn.custodian1": {"alarms"},
        "yz.inspector": {"overdue", "alarms"},  # inspectors watch the machines too
        "yz.agri": {"received"},
        "sn.resident": set(),
    }
    for username, expected in shown.items():
        sign_in(browser, username)
        home = browser.get("/")
        assert home.status_code == 200
        assert {name for name, tile in tiles.items() if tile in home.text} == expected, username


def test_failed_sign_ins_make_the_owner_wait_a_moment_not_fifteen_minutes(
    browser: TestClient, runtime: Runtime
) -> None:
    def post(password_given: str) -> Response:
        form = browser.get("/login")
        data = {"username": "sn.resident", "password": password_given, "csrf": csrf_of(form.text)}
        answer: Response = browser.post("/login", data=data)
        return answer

    for _ in range(5):
        assert post("nope").status_code == 401
    waiting = post(password("sn.resident"))
    assert waiting.status_code == 429
    assert waiting.headers["retry-after"] == "1"
    assert "请稍候片刻再试" in waiting.text
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(dt.timedelta(seconds=1))
    assert post(password("sn.resident")).status_code == 303
