"""An id in a path beyond what the database holds (64 bits) is refused as input on every route, API and pages:
it never reaches the database, whose driver would fail on it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import sign_in
from tests.web.test_every_page import INTERFACES, _routes

HUGE = str(2**70)
_ID = re.compile(r"\{(\w+_id)\}")


def test_an_id_beyond_64_bits_is_refused_before_the_database(
    web_app: FastAPI, browser: TestClient, demo_data: dict[str, Any]
) -> None:
    routes = [r for r in _routes(web_app.routes) if _ID.search(r.path)]
    assert len(routes) >= 20
    failed: list[str] = []
    for username in ("yz.admin", "sn.resident", "sn.secretary"):
        csrf = sign_in(browser, username)
        token = browser.post(
            "/api/v1/auth/token", data={"username": username, "password": "demo-" + username.replace(".", "-")}
        ).json()["access_token"]
        for route in routes:
            url = _ID.sub(HUGE, re.sub(r"\{(?!\w+_id\})\w+\}", "x", route.path))
            api = route.path.startswith(INTERFACES)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                answer = browser.request(
                    method,
                    url,
                    headers={"Authorization": f"Bearer {token}"} if api else None,
                    data={"csrf": csrf} if method == "POST" and not api else None,
                )
                if answer.status_code >= 500 or answer.status_code < 300:
                    failed.append(f"{method} {route.path} as {username}: {answer.status_code}")
    assert failed == []
