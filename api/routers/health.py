"""Liveness, readiness and metrics for the orchestrator and Prometheus."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.security.utils import get_authorization_scheme_param

from api import metrics
from api.deps import RuntimeDep
from api.schemas import Health, Readiness
from core import db, metrics_access
from core.errors import DomainError

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
    """For the monitoring only (core.metrics_access): an allowed address, or the bearer token from anywhere."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    client = request.client.host if request.client else None
    metrics_access.check_reader(rt.settings, client, token if scheme.lower() == "bearer" else None)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
