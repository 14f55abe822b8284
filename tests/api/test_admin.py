"""Administration over the API: scope of an administrator, and 422s that name the field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import token

ORG = {"code": "yz.sn.g3", "name": "水南村第三村民小组", "kind": "group", "parent": "yz.sn"}


def test_admin_adds_an_organisation_in_scope(client: TestClient, cast: dict[str, str]) -> None:
    headers = token(client, "admin")
    response = client.post("/api/v1/admin/organisations", json=ORG, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["parent"] == "yz.sn"
    listed = client.get("/api/v1/admin/organisations", headers=headers).json()
    assert [(o["depth"], o["code"]) for o in listed] == [(0, "yz"), (1, "yz.sn"), (2, "yz.sn.g3")]


def test_admin_cannot_reach_outside_their_organisations(client: TestClient, cast: dict[str, str]) -> None:
    headers = token(client, "admin")
    outside = {**ORG, "code": "other.v.g1", "parent": "other.v"}
    response = client.post("/api/v1/admin/organisations", json=outside, headers=headers)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"
    grant = client.post(
        "/api/v1/admin/users/chen/posts", json={"post": "staff", "organisation": "other.v"}, headers=headers
    )
    assert grant.status_code == 403
    assert client.post("/api/v1/admin/users/far/disable", headers=headers).status_code == 403


def test_only_administrators(client: TestClient, cast: dict[str, str]) -> None:
    response = client.post("/api/v1/admin/organisations", json=ORG, headers=token(client, "chen"))
    assert response.status_code == 403
    assert "admin post" in response.json()["detail"]


def test_grant_end_and_disable(client: TestClient, cast: dict[str, str]) -> None:
    headers = token(client, "admin")
    fu = token(client, "fu")
    created = client.post(
        "/api/v1/admin/users/fu/posts", json={"post": "staff", "organisation": "yz.sn"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert [p["post"] for p in client.get("/api/v1/me", headers=fu).json()["posts"]] == ["staff"]
    grant_id = created.json()["id"]
    ended = client.post(f"/api/v1/admin/users/fu/posts/{grant_id}/end", json={}, headers=headers)
    assert ended.status_code == 200
    assert client.get("/api/v1/me", headers=fu).json()["posts"] == []
    assert client.post("/api/v1/admin/users/fu/disable", headers=headers).json()["active"] is False
    assert client.get("/api/v1/me", headers=fu).status_code == 401


def test_add_user_and_conflicts(client: TestClient, cast: dict[str, str]) -> None:
    headers = token(client, "admin")
    body = {"username": "lin", "display_name": "林春花", "password": "lin-pass-123", "home": "yz.sn"}
    assert client.post("/api/v1/admin/users", json=body, headers=headers).status_code == 201
    again = client.post("/api/v1/admin/users", json=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/conflict"
    weak = client.post(
        "/api/v1/admin/users", json={**body, "username": "lin2", "password": "aaaaaaaa"}, headers=headers
    )
    assert weak.status_code == 422
    assert weak.json()["type"] == "/problems/weak-password"


def test_malformed_json(client: TestClient, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Content-Type": "application/json"}
    response = client.post("/api/v1/admin/organisations", content=b'{"code": "x",', headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/validation-error"
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_wrong_type_names_the_field(client: TestClient, cast: dict[str, str]) -> None:
    response = client.post("/api/v1/admin/organisations", json={**ORG, "kind": 7}, headers=token(client, "admin"))
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("kind: ")
    assert body["errors"][0]["pointer"] == "/body/kind"


def test_unknown_field_names_the_field(client: TestClient, cast: dict[str, str]) -> None:
    response = client.post("/api/v1/admin/organisations", json={**ORG, "colour": "red"}, headers=token(client, "admin"))
    assert response.status_code == 422
    assert response.json()["detail"] == "colour: Extra inputs are not permitted"
    assert response.json()["errors"][0]["pointer"] == "/body/colour"


def test_bad_uscc_is_explained(client: TestClient, cast: dict[str, str]) -> None:
    body = {"code": "yz.bl", "name": "北岭村", "kind": "village", "parent": "yz", "uscc": "91350203M0001QAY9B"}
    response = client.post("/api/v1/admin/organisations", json=body, headers=token(client, "admin"))
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-uscc"
    assert response.json()["expected"] == "9"
