"""Over every page the application has, found from its routes rather than listed by hand: each is gated by the
posts it is for, refuses everyone else with 403 (its form posts too, even with a valid CSRF token), refuses a form
post without its token, and renders in Chinese with no English message left and in English."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.pages.base import Requires
from core.runtime import Runtime
from physical_seal import alarms
from sealgate.cli import demo
from tests.web.conftest import sign_in, subsidy
from tests.web.test_translations import messages

# Pages anyone may open, signed in or not; every other page must say whom it is for.
PUBLIC = {
    "/login",
    "/verify",
    "/records/{public_id}",
    "/records/{public_id}/photos/{sha256}",
    "/explorer",
    "/explorer/entries/{index}",
    "/docs",
}
# Not pages: what the API, the CA, the log and the static files serve.
INTERFACES = ("/api/", "/ca/", "/log/", "/static", "/problems", "/metrics", "/healthz", "/readyz", "/openapi.json")
USERS = [p["username"] for p in demo.dataset()["users"]]
POSTS = {p["username"]: {post for post, _ in p["posts"]} for p in demo.dataset()["users"]}


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    posts: tuple[str, ...] | None  # None: public; (): anyone signed in

    def url(self, samples: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: samples.get(m.group(1), "1"), self.path)


def _gate(dependant: Dependant) -> tuple[str, ...] | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Requires):
            return sub.call.posts
        found = _gate(sub)
        if found is not None:
            return found
    return None


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route, inside the routers the app includes (FastAPI keeps each included router whole; none of ours
    is included under a prefix of its own, so a route's path is its full path)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def pages(app: FastAPI) -> Iterator[Page]:
    for route in _routes(app.routes):
        if not route.path.startswith(INTERFACES):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield Page(method, route.path, _gate(route.dependant))


@pytest.fixture
def samples(runtime: Runtime, demo_data: dict[str, Any]) -> dict[str, str]:
    """A value for each path parameter the pages use, naming something that exists."""
    request = subsidy(runtime)
    with runtime.sessions() as session:
        alarm = alarms.raise_alarm(session, "shuinan-1", "machine-silent", "service", "quiet", runtime.clock.now())
        session.commit()
        return {
            "request_id": str(request.id),
            "public_id": request.public_id,
            "machine_id": "shuinan-1",
            "alarm_id": str(alarm.id),
            "username": "sn.resident",
            "code": "yazhou.shuinan",
            "matter": "agri.winter-vegetable-subsidy",
            "index": "0",
            "seal_id": "1",
        }


def test_every_page_says_whom_it_is_for(web_app: FastAPI) -> None:
    found = list(pages(web_app))
    assert len(found) > 20
    ungated = sorted({p.path for p in found if p.posts is None} - PUBLIC)
    assert ungated == [], "pages with no Requires gate"


def _outsider(posts: tuple[str, ...]) -> list[str]:
    """Demo users holding none of ``posts``: a resident, and one holding other posts."""
    others = [u for u in USERS if POSTS[u] and not POSTS[u] & set(posts)]
    return ["sn.resident", *others[:1]]


def test_a_user_without_the_post_gets_403_for_the_page_and_its_forms(
    web_app: FastAPI, browser: TestClient, samples: dict[str, str]
) -> None:
    refused: list[str] = []
    for page in pages(web_app):
        if not page.posts:
            continue
        for username in _outsider(page.posts):
            csrf = sign_in(browser, username)
            answer = browser.request(
                page.method, page.url(samples), data={"csrf": csrf} if page.method == "POST" else None
            )
            if answer.status_code != 403:
                refused.append(f"{page.method} {page.path} as {username}: {answer.status_code}")
    assert refused == []


def test_a_form_post_without_its_csrf_token_is_refused(
    web_app: FastAPI, browser: TestClient, samples: dict[str, str]
) -> None:
    accepted: list[str] = []
    for page in pages(web_app):
        if page.method != "POST" or page.posts is None:
            continue
        insider = next((u for u in USERS if POSTS[u] & set(page.posts)), "sn.resident") if page.posts else "sn.resident"
        sign_in(browser, insider)
        answer = browser.post(page.url(samples), data={"comment": "x"})
        if answer.status_code != 403:
            accepted.append(f"POST {page.path} as {insider}: {answer.status_code}")
    assert accepted == []


def _text(page: str) -> str:
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "\n", without))


def test_every_page_renders_in_chinese_and_english(
    web_app: FastAPI, browser: TestClient, samples: dict[str, str]
) -> None:
    english = [m for m in messages() if re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", m) and "%(" not in m]
    problems: list[str] = []
    for page in pages(web_app):
        if page.method != "GET" or page.path in {"/docs", "/records/{public_id}/photos/{sha256}"}:
            continue
        insider = next((u for u in USERS if POSTS[u] & set(page.posts)), None) if page.posts else "sn.resident"
        if insider is None:
            problems.append(f"{page.path}: no demo user holds {page.posts}")
            continue
        sign_in(browser, insider)
        for lang in ("zh_CN", "en"):
            answer = browser.get(page.url(samples), params={"lang": lang})
            if answer.status_code >= 500:
                problems.append(f"{page.path} ({lang}): {answer.status_code}")
            if "text/html" not in answer.headers.get("content-type", ""):
                continue  # a PDF, a photo, a redirect
            if lang == "zh_CN":
                text = _text(answer.text)
                left = [m for m in english if m in text]
                if left:
                    problems.append(f"{page.path}: untranslated {left[:3]}")
    assert problems == []
