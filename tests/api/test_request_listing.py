"""GET /api/v1/requests: the caller's own requests, or every request the caller may see, filtered and paged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from weakref import WeakKeyDictionary

import pytest
from fastapi.testclient import TestClient

from api import create_app
from bench.ports import free_port
from ca import hierarchy
from core.runtime import Runtime
from sealgate.cli import demo
from tests import demo_snapshot

SUBSIDY = {
    "matter": "agri.winter-vegetable-subsidy",
    "seal": "village_official",
    "seal_form": "electronic",
    "purpose": "申请冬季瓜菜种植补贴",
    "form": {"phone": "13876543210", "crop": "辣椒", "cycles": 2, "area": 3.5, "location": "水南村东洋"},
}

_TOKENS: WeakKeyDictionary[TestClient, dict[str, str]] = WeakKeyDictionary()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    demo_snapshot.load(runtime)
    with TestClient(create_app(runtime)) as client:
        yield client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    """A token per user and client, asked for once: signing in checks a password hash, which takes its time."""
    tokens = _TOKENS.setdefault(client, {})
    if username not in tokens:
        answer = client.post(
            "/api/v1/auth/token", data={"username": username, "password": "demo-" + username.replace(".", "-")}
        )
        assert answer.status_code == 200, answer.text
        tokens[username] = answer.json()["access_token"]
    return {"Authorization": f"Bearer {tokens[username]}"}


def submit(client: TestClient, username: str, organisation: str) -> int:
    answer = client.post(
        "/api/v1/requests", headers=bearer(client, username), json={**SUBSIDY, "organisation": organisation}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def listed(client: TestClient, username: str, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/requests", headers=bearer(client, username), params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_mine_and_visible(client: TestClient) -> None:
    shuinan = submit(client, "sn.resident", "yazhou.shuinan")
    beiling = submit(client, "bl.resident", "yazhou.beiling")

    mine = listed(client, "sn.resident")
    assert (ids(mine), mine["total"], mine["page"], mine["size"]) == ([shuinan], 1, 1, 20)
    row = mine["items"][0]
    assert row["matter"] == {"code": "agri.winter-vegetable-subsidy", "name": "冬季瓜菜种植补贴"}
    assert (row["organisation"]["code"], row["state"], row["level"]) == ("yazhou.shuinan", "in_review", 1)
    assert row["level_label"] == "村民小组长审核"
    assert row["due_at"] is not None
    assert "form" not in row  # a list line carries nothing the applicant filled in
    assert ids(listed(client, "bl.resident")) == [beiling]
    # A resident sees no one else's request, whatever the scope.
    assert ids(listed(client, "sn.resident", scope="visible")) == [shuinan]

    # The secretary sees the village's requests, not another village's; none of them is the secretary's own.
    assert ids(listed(client, "sn.secretary", scope="visible")) == [shuinan]
    assert listed(client, "sn.secretary")["total"] == 0
    assert ids(listed(client, "bl.secretary", scope="visible")) == [beiling]
    # The group leader, whose step is open, sees the group's request; the district's inspector sees both.
    assert ids(listed(client, "sn.g1.leader", scope="visible")) == [shuinan]
    assert ids(listed(client, "yz.inspector", scope="visible")) == [beiling, shuinan]


def test_filters_and_pages(client: TestClient) -> None:
    first = submit(client, "sn.resident", "yazhou.shuinan")
    second = submit(client, "sn.resident", "yazhou.shuinan")
    assert ids(listed(client, "sn.resident", state="in_review")) == [second, first]
    assert listed(client, "sn.resident", state="completed")["total"] == 0
    assert listed(client, "sn.resident", matter="agri.winter-vegetable-subsidy")["total"] == 2
    assert listed(client, "sn.resident", matter="civil.litigation")["total"] == 0
    page = listed(client, "sn.resident", size=1, page=2)
    assert (ids(page), page["total"], page["page"], page["size"]) == ([first], 2, 2, 1)
    assert listed(client, "sn.resident", size=1, page=3)["items"] == []
    # The request's own route is still there beside the list's.
    own = client.get(f"/api/v1/requests/{first}", headers=bearer(client, "sn.resident"))
    assert own.status_code == 200
    assert own.json()["id"] == first


def test_bad_values_are_refused(client: TestClient) -> None:
    assert client.get("/api/v1/requests").status_code == 401
    headers = bearer(client, "sn.resident")
    for params in [
        {"scope": "everything"},
        {"state": "lost"},
        {"page": 0},
        {"size": 0},
        {"size": 101},
        {"page": "two"},
        {"matter": "x" * 65},
    ]:
        answer = client.get("/api/v1/requests", headers=headers, params=params)
        assert answer.status_code == 422, (params, answer.text)


def test_a_bureau_sees_what_was_sealed_for_it(runtime: Runtime) -> None:
    """The agriculture bureau sees the subsidy once it is sealed and queued to it, not before; as it may open it."""
    runtime.settings.public_url = f"http://127.0.0.1:{free_port()}"  # deliveries wait: nothing listens there
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
        demo.load(session, runtime.clock.now(), settings=runtime.settings, keystore=runtime.keystore)
    with TestClient(create_app(runtime)) as client:
        subsidy = submit(client, "sn.resident", "yazhou.shuinan")
        assert listed(client, "yz.agri", scope="visible")["total"] == 0
        for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
            decided = client.post(
                f"/api/v1/requests/{subsidy}/decisions",
                headers=bearer(client, who),
                json={"decision": "approve", "level": level},
            )
            assert decided.status_code == 200, decided.text
        client.app.state.workers.once()  # type: ignore[attr-defined]
        assert ids(listed(client, "yz.agri", scope="visible", state="completed")) == [subsidy]
        opened = client.get(f"/api/v1/requests/{subsidy}", headers=bearer(client, "yz.agri"))
        assert opened.status_code == 200
        assert ids(listed(client, "bl.secretary", scope="visible")) == []
