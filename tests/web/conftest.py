"""The pages on the demo: Yazhou's organisations, users and posts, the shipped catalogue, its seal machines and an
initialised CA, with a browser-like client that signs in through the sign-in form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from core.runtime import Runtime
from identity import auth, directory
from tests import demo_snapshot
from workflow import requests
from workflow.catalog import SealForm
from workflow.models import SealRequest

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def demo_data(runtime: Runtime) -> dict[str, Any]:
    return demo_snapshot.load(runtime)


@pytest.fixture
def web_app(runtime: Runtime, demo_data: dict[str, Any]) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def browser(web_app: FastAPI) -> Iterator[TestClient]:
    """A client that keeps cookies and does not follow redirects, so each step's answer can be checked."""
    with TestClient(web_app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def password(username: str) -> str:
    return "demo-" + username.replace(".", "-")


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str) -> str:
    """Signs in through the form as a browser would; returns the CSRF token of the signed-in session."""
    client.cookies.clear()
    form = client.get("/login")
    assert form.status_code == 200, form.text
    answer = client.post(
        "/login", data={"username": username, "password": password(username), "csrf": csrf_of(form.text), "next": "/"}
    )
    assert answer.status_code == 303, answer.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def subsidy(runtime: Runtime) -> SealRequest:
    """A resident of 水南村's group 1 asks for the winter-vegetable subsidy, through the service: its first step
    starts now. Committed."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        who = auth.principal_of(session, directory.user(session, "sn.resident"), now)
        request = requests.submit(
            session,
            who,
            requests.Submission(
                matter="agri.winter-vegetable-subsidy",
                organisation="yazhou.shuinan",
                seal="village_official",
                seal_form=SealForm.ELECTRONIC,
                copies=1,
                place="",
                purpose="申请2026年冬季瓜菜种植补贴",
                form={"phone": "13876543210", "crop": "辣椒", "cycles": 2, "area": 3.5, "location": "水南村东洋"},
            ),
            blobs=runtime.blobs,
            max_bytes=runtime.settings.workflow.max_upload_bytes,
            now=now,
        )
        session.commit()
        session.expunge(request)
        return request
