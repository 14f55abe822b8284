"""/metrics tells who calls which route how often and what fails: it answers the monitoring only, from an address
of ``metrics_allow_ips`` (loopback by default) or with the bearer token ``metrics_token`` from anywhere."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api import create_app
from core.runtime import Runtime

PROBLEM = "application/problem+json"


def _metrics(runtime: Runtime, address: str, headers: dict[str, str] | None = None, **settings: object) -> int:
    configured = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update=settings))
    with TestClient(create_app(configured), client=(address, 40000)) as client:
        answer = client.get("/metrics", headers=headers or {})
    if answer.status_code == 200:
        assert "sealgate_http_requests_total" in answer.text
    else:
        assert answer.headers["content-type"] == PROBLEM
    status: int = answer.status_code
    return status


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_loopback_reads_the_metrics_by_default(runtime: Runtime, address: str) -> None:
    assert _metrics(runtime, address) == 200


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.5", "testclient"])
def test_any_other_address_is_refused(runtime: Runtime, address: str) -> None:
    assert _metrics(runtime, address) == 403


def test_the_allowed_addresses_are_a_setting_and_may_be_networks(runtime: Runtime) -> None:
    allowed = ["10.1.0.0/16", "192.0.2.7"]
    assert _metrics(runtime, "10.1.200.3", metrics_allow_ips=allowed) == 200
    assert _metrics(runtime, "192.0.2.7", metrics_allow_ips=allowed) == 200
    assert _metrics(runtime, "127.0.0.1", metrics_allow_ips=allowed) == 403


def test_the_token_reads_the_metrics_from_anywhere_and_only_that_token(runtime: Runtime) -> None:
    token = SecretStr("s3cret-for-prometheus")
    far = "198.51.100.20"
    assert _metrics(runtime, far, {"Authorization": "Bearer s3cret-for-prometheus"}, metrics_token=token) == 200
    assert _metrics(runtime, far, {"Authorization": "Bearer s3cret-for-prometheus-"}, metrics_token=token) == 403
    assert _metrics(runtime, far, {"Authorization": "Bearer "}, metrics_token=token) == 403
    assert _metrics(runtime, far, {"Authorization": "Basic s3cret-for-prometheus"}, metrics_token=token) == 403
    assert _metrics(runtime, far, metrics_token=token) == 403


def test_without_a_configured_token_no_token_opens_the_metrics(runtime: Runtime) -> None:
    assert _metrics(runtime, "198.51.100.20", {"Authorization": "Bearer "}) == 403
    assert _metrics(runtime, "198.51.100.20", {"Authorization": "Bearer None"}) == 403
