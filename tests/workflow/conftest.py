"""A village with every role, a small catalogue of test matters, and the app with a test executor.

The catalogue here is the tests' own, so that the rules of approval are tested apart from the shipped data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api import create_app
from core.runtime import Runtime
from identity import directory
from identity.posts import OrgKind, Post
from workflow import catalogs
from workflow.catalog import SealForm
from workflow.execution import ExecutionFailed, Executors
from workflow.models import SealRequest

RESIDENT_ID = "460204197803121222"

LEVEL_GROUP = {"label": "村民小组长审核", "post": "group_leader", "scope": "group", "mode": "any", "hours": 24}
LEVEL_SECRETARY = {"label": "支部书记审批", "post": "secretary", "scope": "organisation", "mode": "any", "hours": 24}
LEVEL_SEAL_ADMIN = {"label": "印章管理员确认", "post": "seal_admin", "scope": "organisation", "mode": "any", "hours": 8}
PROFILE_FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "姓名", "x-profile": "name"},
        "id_number": {"type": "string", "title": "身份证号", "x-profile": "id_number"},
        "address": {"type": "string", "title": "住址", "minLength": 2},
    },
    "required": ["name", "id_number", "address"],
    "additionalProperties": False,
}


def matter(code: str, chain: str, form: Mapping[str, Any] = PROFILE_FORM, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"测试事项 {code}",
        "class": "authorised",
        "description": "测试",
        "seals": ["village_official"],
        "forms": ["electronic", "physical"],
        "chain": chain,
        "destination": "agriculture",
        "form": dict(form),
        **extra,
    }


CATALOG: dict[str, Any] = {
    "version": 1,
    "classes": {"civil": "民事行为", "collective": "集体经济组织", "authorised": "法律授权", "assisting": "协助政府"},
    "seals": {"village_official": {"name": "村民委员会公章", "forms": ["electronic", "physical"]}},
    "chains": {
        "standard": {"name": "标准", "levels": [LEVEL_GROUP, LEVEL_SECRETARY, LEVEL_SEAL_ADMIN]},
        "countersign": {
            "name": "会签",
            "levels": [
                {"label": "两委会签", "post": "committee_member", "scope": "organisation", "mode": "all", "hours": 48},
                LEVEL_SEAL_ADMIN,
            ],
        },
        "joint": {
            "name": "两委联席会议",
            "levels": [
                {
                    "label": "联席会议",
                    "post": "committee_member",
                    "scope": "organisation",
                    "mode": "majority",
                    "hours": 72,
                }
            ],
        },
    },
    "bureaus": {"agriculture": {"name": "区农业农村局"}},
    "matters": [
        matter("test.residence", "standard"),
        matter(
            "test.subsidy",
            "standard",
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "title": "姓名", "x-profile": "name"},
                    "crop": {"type": "string", "title": "作物", "enum": ["辣椒", "豇豆"]},
                    "cycles": {"type": "integer", "title": "茬数", "minimum": 1, "maximum": 3},
                    "area": {"type": "number", "title": "面积", "exclusiveMinimum": 0, "maximum": 500},
                    "amount": {"type": "number", "title": "补贴金额", "readOnly": True},
                },
                "required": ["name", "crop", "cycles", "area"],
                "additionalProperties": False,
            },
            tables={"rates": {"辣椒": 300, "豇豆": 250}},
            computed={"amount": "round(area * rates[crop] * cycles, 2)"},
        ),
        matter("test.countersign", "countersign"),
        matter("test.joint", "joint"),
    ],
    "negative_list": [
        {
            "code": "neg.no-crime",
            "name": "无犯罪记录证明",
            "rule": "《民政部等六部门关于改进和规范基层群众性自治组织出具证明工作的指导意见》（民发〔2020〕20号）",
            "reason": "由公安机关出具",
        }
    ],
}

PASSWORD = "pass-word-1"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


class RecordingExecutor:
    """Seals nothing: it records what it was asked to do, and fails when told to."""

    completes = True

    def __init__(self) -> None:
        self.done: list[str] = []
        self.fail_with: str | None = None

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        if self.fail_with:
            raise ExecutionFailed(self.fail_with)
        self.done.append(request.number or "")
        return {"executor": "test", "document": request.document_sha256}


@dataclass
class Village:
    runtime: Runtime
    executor: RecordingExecutor = field(default_factory=RecordingExecutor)


USERS: dict[str, tuple[str, str | None, list[tuple[Post, str]]]] = {
    "admin": ("管理员", None, [(Post.ADMIN, "yz"), (Post.INSPECTOR, "yz")]),
    "leader": ("组长甲", None, [(Post.GROUP_LEADER, "yz.sn.g1")]),
    "leader2": ("组长乙", None, [(Post.GROUP_LEADER, "yz.sn.g1")]),
    "secretary": ("书记", None, [(Post.SECRETARY, "yz.sn"), (Post.COMMITTEE_MEMBER, "yz.sn")]),
    "sealadmin": ("印章管理员", None, [(Post.SEAL_ADMIN, "yz.sn")]),
    "custodian": ("保管员", None, [(Post.CUSTODIAN, "yz.sn"), (Post.COMMITTEE_MEMBER, "yz.sn")]),
    "member1": ("委员一", None, [(Post.COMMITTEE_MEMBER, "yz.sn")]),
    "member2": ("委员二", None, [(Post.COMMITTEE_MEMBER, "yz.sn")]),
    "staff": ("工作人员", None, [(Post.STAFF, "yz.sn")]),
    "resident": ("符阿妹", "yz.sn.g1", []),
    "resident2": ("符阿强", "yz.sn.g1", []),
    "outsider": ("外人", None, []),
}


@pytest.fixture
def village(runtime: Runtime, engine: object) -> Village:
    now = runtime.clock.now()
    with runtime.sessions() as s:
        for code, name, kind, parent in [
            ("yz", "崖州区", OrgKind.DISTRICT, None),
            ("yz.sn", "水南村", OrgKind.VILLAGE, "yz"),
            ("yz.sn.g1", "水南村第一村民小组", OrgKind.GROUP, "yz.sn"),
        ]:
            directory.create_organisation(
                s, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=now, actor="test"
            )
        for username, (name, home, posts) in USERS.items():
            directory.create_user(
                s, username=username, display_name=name, password=PASSWORD, home_code=home, now=now, actor="test"
            )
            for post, org in posts:
                directory.grant_post(
                    s, username=username, org_code=org, post=post, valid_from=now, now=now, actor="test"
                )
        directory.set_profile(s, "resident", id_number=RESIDENT_ID, ssn="H7803121222", phone=None)
        catalogs.load(s, CATALOG, actor="test", now=now, note="test catalogue")
        s.commit()
    return Village(runtime)


@pytest.fixture
def app(village: Village) -> FastAPI:
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, village.executor)
    executors.register(SealForm.PHYSICAL, village.executor)
    return create_app(village.runtime, executors=executors)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


_tokens: WeakKeyDictionary[TestClient, dict[str, dict[str, str]]] = WeakKeyDictionary()


def forget_logins(client: TestClient) -> None:
    """After moving the clock past the tokens' lifetime."""
    _tokens.pop(client, None)


def login(client: TestClient, username: str) -> dict[str, str]:
    """A bearer header for ``username``, signed in once per client (Argon2 is slow on purpose)."""
    known = _tokens.setdefault(client, {})
    if username not in known:
        response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        known[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return known[username]
