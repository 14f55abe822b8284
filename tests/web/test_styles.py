"""Every page of the demo, opened by a user it is for, carries no style of its own: no ``<style>`` block and no
``style`` attribute, since the Content-Security-Policy allows stylesheets from the service only. Its rules live in
/static/app.css, by class."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import sign_in
from tests.web.test_every_page import POSTS, USERS, pages, samples

__all__ = ["samples"]  # the fixture, shared with the walk over every page

_INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


def test_no_page_carries_an_inline_style(web_app: FastAPI, browser: TestClient, samples: dict[str, str]) -> None:
    styled: list[str] = []
    seen = 0
    for page in pages(web_app):
        if page.method != "GET":
            continue
        insider = next((u for u in USERS if POSTS[u] & set(page.posts)), None) if page.posts else "sn.resident"
        assert insider is not None, page.path
        sign_in(browser, insider)
        answer = browser.get(page.url(samples))
        if "text/html" not in answer.headers.get("content-type", ""):
            continue  # a PDF, a photo, a redirect
        seen += 1
        assert "'unsafe-inline'" not in answer.headers["content-security-policy"], page.path
        found = _INLINE_STYLE.search(answer.text)
        if found:
            styled.append(f"{page.path}: {answer.text[found.start() : found.start() + 60]!r}")
    assert seen >= 20
    assert styled == []


def test_the_organisation_tree_indents_by_class(browser: TestClient) -> None:
    sign_in(browser, "yz.admin")
    page = browser.get("/admin/organisations").text
    depths = {int(d) for d in re.findall(r'<td class="depth-([0-9]+)">', page)}
    assert {0, 1, 2} <= depths
    assert max(depths) <= 6
    css = browser.get("/static/app.css").text
    assert all(f"td.depth-{d} " in css for d in range(7))
