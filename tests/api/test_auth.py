"""Bearer tokens through the OAuth2 password flow, throttling, expiry and revocation."""

from __future__ import annotations

import dataclasses
import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from core.clock import ManualClock
from core.runtime import Runtime
from tests.api.conftest import PASSWORDS, token

PASSWORD = PASSWORDS["chen"]


def sign_in(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object], dict[str, str]]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json(), dict(response.headers)


def test_password_flow_and_me(client: TestClient, cast: dict[str, str]) -> None:
    status, body, _ = sign_in(client, "chen", PASSWORDS["chen"])
    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 8 * 3600
    assert str(body["access_token"]).startswith("sg_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["username"] == "chen"
    assert me["display_name"] == "陈明德"
    assert [(p["post"], p["organisation"]) for p in me["posts"]] == [("secretary", "yz.sn")]


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, cast: dict[str, str]) -> None:
    wrong = sign_in(client, "chen", "not-the-password")
    unknown = sign_in(client, "nobody", "not-the-password")
    for status, body, headers in (wrong, unknown):
        assert status == 401
        assert headers["content-type"] == "application/problem+json"
        assert body["type"] == "/problems/invalid-credentials"
    assert wrong[1]["detail"] == unknown[1]["detail"]


def test_no_token_and_bad_token(client: TestClient, cast: dict[str, str]) -> None:
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer sg_made-up"})
    assert bad.status_code == 401
    assert bad.json()["type"] == "/problems/invalid-token"
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_account_waits_a_short_delay_after_repeated_failures(
    client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    for _ in range(5):
        assert sign_in(client, "chen", "guess")[0] == 401
    status, body, headers = sign_in(client, "chen", PASSWORD)
    assert status == 429
    assert body["type"] == "/problems/too-many-attempts"
    assert headers["retry-after"] == "1"
    # Another account from the same address is not affected by chen's delay.
    assert sign_in(client, "fu", PASSWORDS["fu"])[0] == 200
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(dt.timedelta(seconds=1))  # a delay, not a 15-minute lock
    assert sign_in(client, "chen", PASSWORD)[0] == 200


def test_a_flood_from_elsewhere_does_not_keep_the_owner_out(
    client: TestClient, app: FastAPI, runtime: Runtime, cast: dict[str, str]
) -> None:
    assert isinstance(runtime.clock, ManualClock)
    attacker = TestClient(app, client=("203.0.113.66", 40000))  # the app is already started by ``client``
    refused = 0
    for _ in range(40):
        status, _, headers = sign_in(attacker, "chen", "guess")
        refused += status == 429
        assert status in (401, 429)
        assert status == 401 or 1 <= int(headers["retry-after"]) <= 60
        runtime.clock.advance(dt.timedelta(seconds=1))
    assert refused > 20
    assert sign_in(attacker, "chen", "guess")[0] == 429
    assert sign_in(client, "chen", PASSWORD)[0] == 200


def test_address_is_throttled_across_accounts(runtime: Runtime, cast: dict[str, str]) -> None:
    strict = runtime.settings.model_copy(
        update={"auth": runtime.settings.auth.model_copy(update={"max_failures_per_address": 3})}
    )
    with TestClient(create_app(dataclasses.replace(runtime, settings=strict))) as c:
        for username in ("a1", "a2", "a3"):
            assert sign_in(c, username, "guess")[0] == 401
        assert sign_in(c, "chen", PASSWORDS["chen"])[0] == 429


def test_success_clears_the_account_failures(client: TestClient, cast: dict[str, str]) -> None:
    for _ in range(4):
        sign_in(client, "chen", "guess")
    assert sign_in(client, "chen", PASSWORDS["chen"])[0] == 200
    for _ in range(4):
        assert sign_in(client, "chen", "guess")[0] == 401
    assert sign_in(client, "chen", PASSWORDS["chen"])[0] == 200


def test_tokens_expire(client: TestClient, runtime: Runtime, cast: dict[str, str]) -> None:
    headers = token(client, "chen")
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(dt.timedelta(hours=8))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_signing_out_revokes_the_token(client: TestClient, cast: dict[str, str]) -> None:
    headers = token(client, "chen")
    other = token(client, "chen")
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/me", headers=other).status_code == 200


def test_missing_form_fields_are_named(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "chen"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("password: ")
