"""Idempotency-Key: a retried request gets the first response, and changes nothing twice."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.runtime import Runtime
from identity.models import Organisation
from ledger.models import PendingEntry
from tests.api.conftest import token

ORG = {"code": "yz.sn.g3", "name": "水南村第三村民小组", "kind": "group", "parent": "yz.sn"}


def test_a_retry_replays_the_first_response(client: TestClient, runtime: Runtime, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Idempotency-Key": '"create-g3-0001"'}
    first = client.post("/api/v1/admin/organisations", json=ORG, headers=headers)
    again = client.post("/api/v1/admin/organisations", json=ORG, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Organisation).where(Organisation.code == ORG["code"])) == 1
        assert (
            s.scalar(select(func.count()).select_from(PendingEntry).where(PendingEntry.subject == "org:yz.sn.g3")) == 1
        )


def test_the_same_key_for_another_request_is_refused(client: TestClient, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/admin/organisations", json=ORG, headers=headers).status_code == 201
    other = client.post("/api/v1/admin/organisations", json={**ORG, "code": "yz.sn.g4"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


def test_keys_belong_to_the_caller(client: TestClient, cast: dict[str, str]) -> None:
    first = client.post(
        "/api/v1/admin/organisations", json=ORG, headers={**token(client, "admin"), "Idempotency-Key": "k"}
    )
    assert first.status_code == 201
    # Another token uses the same key: it is not a retry of the first caller's request.
    second = client.post(
        "/api/v1/admin/organisations", json=ORG, headers={**token(client, "admin"), "Idempotency-Key": "k"}
    )
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/conflict"


def test_malformed_keys(client: TestClient, cast: dict[str, str]) -> None:
    for bad in ("", "with space", "x" * 256):
        response = client.post("/api/v1/admin/organisations", json=ORG, headers={"Idempotency-Key": bad})
        assert response.status_code == 400, bad


def test_server_errors_are_not_kept(app: FastAPI) -> None:
    calls: list[int] = []

    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")
        return {"attempt": len(calls)}

    app.add_api_route("/flaky", flaky, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/flaky", headers={"Idempotency-Key": "f"}).status_code == 500
        assert c.post("/flaky", headers={"Idempotency-Key": "f"}).json() == {"attempt": 2}
        replayed = c.post("/flaky", headers={"Idempotency-Key": "f"})
        assert replayed.json() == {"attempt": 2}
        assert replayed.headers["idempotent-replayed"] == "true"
    assert len(calls) == 2


def test_a_retry_during_the_first_request_is_told_to_wait(app: FastAPI) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> dict[str, str]:
        started.set()
        release.wait(10)
        return {"done": "yes"}

    app.add_api_route("/slow", slow, methods=["POST"])
    results: list[int] = []
    with TestClient(app) as c:
        first = threading.Thread(
            target=lambda: results.append(c.post("/slow", headers={"Idempotency-Key": "s"}).status_code)
        )
        first.start()
        assert started.wait(10)
        busy = c.post("/slow", headers={"Idempotency-Key": "s"})
        release.set()
        first.join()
    assert busy.status_code == 409
    assert busy.json()["type"] == "/problems/idempotency-key-in-use"
    assert busy.headers["retry-after"] == "1"
    assert results == [200]


def test_callers_without_credentials_share_no_key_across_routes(client: TestClient) -> None:
    """A key guessed and spent on one public route does not block the same key on another (a bureau's delivery
    keys are predictable)."""
    headers = {"Idempotency-Key": "request-1-to-agriculture"}
    spent = client.post(
        "/api/v1/verify", content=b"%PDF-1.7 not really", headers={**headers, "Content-Type": "application/pdf"}
    )
    assert spent.status_code == 422
    other = client.post(
        "/ca/tsa", content=b"\x30\x00", headers={**headers, "Content-Type": "application/timestamp-query"}
    )
    assert other.json().get("type") != "/problems/idempotency-key-reused"
    assert "idempotent-replayed" not in other.headers
