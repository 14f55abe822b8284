"""The address sign-in delays count is the peer's: X-Forwarded-For is believed from configured proxies only.

The app is wrapped as ``sealgate serve`` wraps it, by uvicorn with the options ``serve`` passes, so these tests
fail if uvicorn's own default (believe 127.0.0.1, or $FORWARDED_ALLOW_IPS) came back.
"""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from core.runtime import Runtime
from core.settings import Settings
from sealgate.cli.serve import proxy_options
from tests.api.conftest import PASSWORDS

PROXY = "10.0.0.5"


def served(app: Any, settings: Settings) -> Any:
    config = uvicorn.Config(app, log_config=None, **proxy_options(settings))
    config.load()
    return config.loaded_app


def seen_client(settings: Settings, peer: str) -> str:
    """The client address the app sees for a request from ``peer`` claiming to come from 198.51.100.7."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = TestClient(served(app, settings), client=(peer, 40000))
    assert client.get("/", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 204
    return seen[0]


def test_by_default_no_forwarded_address_is_believed(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own fallback, not a setting of ours
    assert settings.forwarded_allow_ips == []
    assert proxy_options(settings) == {"proxy_headers": False, "forwarded_allow_ips": []}
    assert seen_client(settings, "127.0.0.1") == "127.0.0.1"
    assert seen_client(settings, PROXY) == PROXY


def test_a_configured_proxy_is_believed_and_no_other_peer(settings: Settings) -> None:
    behind = settings.model_copy(update={"forwarded_allow_ips": [PROXY]})
    assert seen_client(behind, PROXY) == "198.51.100.7"
    assert seen_client(behind, "127.0.0.1") == "127.0.0.1"
    assert seen_client(behind, "10.0.0.6") == "10.0.0.6"


def test_a_made_up_forwarded_address_does_not_escape_the_delay(
    client: TestClient, app: FastAPI, runtime: Runtime, cast: dict[str, str]
) -> None:
    peer = TestClient(served(app, runtime.settings), client=("127.0.0.1", 40000))  # started by ``client``
    for i in range(5):
        wrong = peer.post(
            "/api/v1/auth/token",
            data={"username": "chen", "password": "guess"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert wrong.status_code == 401
    spoofed = peer.post(
        "/api/v1/auth/token",
        data={"username": "chen", "password": PASSWORDS["chen"]},
        headers={"X-Forwarded-For": "198.51.100.99"},
    )
    assert spoofed.status_code == 429
