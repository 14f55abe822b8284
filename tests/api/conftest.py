"""An app on the test runtime, with a small cast: an administrator, a secretary and a resident."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from core.runtime import Runtime
from identity import directory
from identity.posts import OrgKind, Post

PASSWORDS = {"admin": "admin-pass-1", "chen": "chen-pass-1", "fu": "fu-pass-1", "far": "far-pass-1"}


@pytest.fixture
def cast(runtime: Runtime) -> dict[str, str]:
    now = runtime.clock.now()
    with runtime.sessions() as s:
        for code, name, kind, parent in [
            ("yz", "崖州区", OrgKind.DISTRICT, None),
            ("yz.sn", "水南村", OrgKind.VILLAGE, "yz"),
            ("other", "别的区", OrgKind.DISTRICT, None),
            ("other.v", "别的村", OrgKind.VILLAGE, "other"),
        ]:
            directory.create_organisation(
                s, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=now, actor="test"
            )
        for username, name, home in [("admin", "管理员", None), ("chen", "陈明德", None), ("fu", "符阿妹", "yz.sn")]:
            directory.create_user(
                s,
                username=username,
                display_name=name,
                password=PASSWORDS[username],
                home_code=home,
                now=now,
                actor="test",
            )
        directory.create_user(
            s, username="far", display_name="远方", password=PASSWORDS["far"], home_code=None, now=now, actor="test"
        )
        directory.grant_post(s, username="admin", org_code="yz", post=Post.ADMIN, valid_from=now, now=now, actor="test")
        directory.grant_post(
            s, username="chen", org_code="yz.sn", post=Post.SECRETARY, valid_from=now, now=now, actor="test"
        )
        directory.grant_post(
            s, username="far", org_code="other.v", post=Post.SECRETARY, valid_from=now, now=now, actor="test"
        )
        s.commit()
    return PASSWORDS


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
