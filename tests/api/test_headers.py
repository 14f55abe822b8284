"""Every HTML page says what a browser may do with it: scripts and styles from the service only (no inline script,
no inline style), no framing, no sniffing, no referrer to other sites; every answer of the API is not sniffed or
framed either."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.problems import is_page_path
from tests.api.conftest import PASSWORDS
from tests.web.test_every_page import _routes

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
_INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


def _sign_in(client: TestClient, username: str) -> None:
    form = client.get("/login")
    token = _CSRF.search(form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORDS[username], "csrf": token.group(1), "next": "/"}
    )
    assert answer.status_code == 303, answer.text


def _page_paths(app: FastAPI) -> list[str]:
    """The pages one can open without naming anything in the path, found from the routes."""
    return sorted(
        {
            r.path
            for r in _routes(app.routes)
            if "GET" in (r.methods or ()) and "{" not in r.path and is_page_path(r.path)
        }
    )


def _policy(header: str) -> dict[str, list[str]]:
    directives = (d.strip().split() for d in header.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


def _assert_protected(path: str, answer_headers: dict[str, str]) -> None:
    assert answer_headers["x-content-type-options"] == "nosniff", path
    assert answer_headers["x-frame-options"] == "DENY", path
    assert answer_headers["referrer-policy"] in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}
    policy = _policy(answer_headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"], path  # no 'unsafe-inline', no 'unsafe-eval', no other site
    assert policy["style-src"] == ["'self'"], path  # injected markup cannot restyle the page
    assert "'unsafe-inline'" not in answer_headers["content-security-policy"], path
    assert policy["frame-ancestors"] == ["'none'"], path
    assert policy["object-src"] == ["'none'"], path
    assert policy["default-src"] == ["'self'"], path


@pytest.fixture
def browser(app: FastAPI, cast: dict[str, str]) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


@pytest.mark.parametrize("username", [None, "admin", "fu"])
def test_every_page_carries_the_policy_and_no_inline_script_or_style(
    app: FastAPI, browser: TestClient, username: str | None
) -> None:
    with browser:
        if username is not None:
            _sign_in(browser, username)
        paths = [*_page_paths(app), "/nothing-here"]  # an error page is a page too
        html = 0
        for path in paths:
            answer = browser.get(path)
            if not answer.headers.get("content-type", "").startswith("text/html"):
                continue  # a redirect to the sign-in, a download
            html += 1
            _assert_protected(path, dict(answer.headers))
            assert not _INLINE_SCRIPT.search(answer.text), f"{path} has an inline script"
            assert not _HANDLER.search(answer.text), f"{path} has an inline event handler"
            assert not _INLINE_STYLE.search(answer.text), f"{path} has an inline style"
            assert "javascript:" not in answer.text.lower(), path
        assert html >= (3 if username is None else 10)


def test_the_api_docs_start_from_a_file_not_an_inline_script(browser: TestClient) -> None:
    with browser:
        answer = browser.get("/docs")
        assert answer.status_code == 200
        _assert_protected("/docs", dict(answer.headers))
        assert not _INLINE_SCRIPT.search(answer.text)
        assert not _INLINE_STYLE.search(answer.text)  # Swagger UI sets its styles from script, which CSP allows
        assert '<script src="/static/swagger-init.js"></script>' in answer.text
        starter = browser.get("/static/swagger-init.js")
        assert starter.status_code == 200
        assert "SwaggerUIBundle" in starter.text
        assert starter.headers["x-content-type-options"] == "nosniff"


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(browser: TestClient) -> None:
    with browser:
        page = browser.get("/login").text
    assert '"includeIndicatorStyles": false' in page
    assert '"allowEval": false' in page


def test_api_answers_are_not_sniffed_or_framed(browser: TestClient) -> None:
    with browser:
        for path in ("/healthz", "/api/v1/me", "/api/v1/nothing-here", "/openapi.json"):
            answer = browser.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert "content-security-policy" not in answer.headers, path  # a policy is for pages


def test_a_405_names_every_method_the_path_takes(browser: TestClient) -> None:
    with browser:
        api = browser.options("/api/v1/delegations")
        page = browser.request("TRACE", "/login")
    assert api.status_code == 405
    assert api.headers["content-type"] == "application/problem+json"
    assert set(api.headers["allow"].split(", ")) >= {"GET", "POST"}
    assert page.status_code == 405
    assert page.headers["content-type"].startswith("text/html")
    assert set(page.headers["allow"].split(", ")) >= {"GET", "POST"}
