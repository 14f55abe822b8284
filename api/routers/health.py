"""Liveness, readiness and metrics for the orchestrator and Prometheus."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, Request, Response
from fastapi.security.utils import get_authorization_scheme_param

from api import metrics
from api.deps import RuntimeDep
from api.schemas import Health, Readiness
from core import db
from core.errors import DomainError, Forbidden
from core.settings import Settings

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


class NotReady(DomainError):
    status = 503
    problem = "not-ready"


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"description": "a dependency is down"}})
def readyz(rt: RuntimeDep) -> Readiness:
    try:
        db.ping(rt.engine)
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        raise NotReady("the database does not answer", component="database") from None
    try:
        token = rt.keystore.ping()
    except Exception as exc:
        log.warning("readiness: keystore unreachable: %s", exc)
        raise NotReady("the keystore token does not answer", component="keystore") from None
    return Readiness(status="ready", database=rt.engine.dialect.name, keystore=token)


@router.get("/metrics", response_class=Response, include_in_schema=False)
def prometheus(request: Request, rt: RuntimeDep) -> Response:
    """For the monitoring only: the routes, their traffic and their failures tell an outsider too much. Read from
    an address of ``metrics_allow_ips``, or from anywhere with the bearer token ``metrics_token``."""
    client = request.client.host if request.client else None
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if not may_read_metrics(rt.settings, client, token if scheme.lower() == "bearer" else None):
        raise Forbidden("the metrics are for the monitoring: an allowed address, or its token")
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def may_read_metrics(settings: Settings, client: str | None, token: str | None) -> bool:
    """An allowed address (or network), or the configured token, compared in constant time."""
    expected = settings.metrics_token
    if token and expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return True
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    for allowed in settings.metrics_allow_ips:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue  # not an address: the setting's own check is the place to say so
    return False
