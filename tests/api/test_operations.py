"""Health, readiness, metrics, request ids and problem details for every kind of error."""

from __future__ import annotations

import dataclasses

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from core import db
from core.runtime import Runtime

PROBLEM = "application/problem+json"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["keystore"]


def test_readiness_fails_when_the_database_is_gone(runtime: Runtime) -> None:
    unreachable = db.create_db_engine("postgresql+psycopg://sealgate@127.0.0.1:1/none", connect_timeout=1)
    broken = dataclasses.replace(runtime, engine=unreachable)
    with TestClient(create_app(broken)) as c:
        response = c.get("/readyz")
    unreachable.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/not-ready"
    assert response.json()["component"] == "database"


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/not-found"
    assert body["status"] == 404
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_a_problem(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET"
    assert response.json()["type"] == "/problems/method-not-allowed"


def test_problem_types_resolve(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    described = client.get(response.json()["type"])
    assert described.status_code == 200
    assert described.json()["title"] == response.json()["title"]


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "bureau-42.a"}).headers["x-request-id"] == "bureau-42.a"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert made != "bad id with spaces"
    assert len(made) == 32


def test_unhandled_error_is_a_500_problem_with_the_request_id(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("kaputt")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["request_id"] == "trace-me"
    assert "kaputt" not in response.text


def test_metrics_count_requests_by_route(app: FastAPI) -> None:
    with TestClient(app, client=("127.0.0.1", 50000)) as client:  # the monitoring reads from an allowed address
        client.get("/healthz")
        client.get("/api/v1/nothing-here")
        text = client.get("/metrics").text
    assert 'sealgate_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text


def test_openapi_lists_the_interfaces(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/healthz", "/readyz", "/api/v1/auth/token", "/api/v1/me", "/api/v1/admin/organisations"):
        assert path in paths
