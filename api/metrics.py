"""Prometheus metrics of the HTTP layer, labelled by route template so the label set stays bounded."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

registry = CollectorRegistry(auto_describe=True)

requests_total = Counter(
    "sealgate_http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=registry
)
request_seconds = Histogram(
    "sealgate_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    registry=registry,
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    requests_total.labels(method, route, str(status)).inc()
    request_seconds.labels(method, route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
