"""Request ids, access log lines, metrics and the last-resort 500, in one pure ASGI middleware.

It sits outside FastAPI's exception handling, so it also sees the failures no handler caught and answers
them as problem details carrying the request id, which is what an operator looks up in the logs.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.problems import CATALOGUE, MEDIA_TYPE, type_uri
from core.logs import request_id

log = logging.getLogger("sealgate.access")
errors = logging.getLogger("sealgate.api")

HEADER = b"x-request-id"
_ACCEPTABLE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            errors.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:
                await _internal_error(scope, rid, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.observe(scope["method"], template, status, elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == HEADER and _ACCEPTABLE_ID.match(value):
            return str(value.decode())
    return None


async def _internal_error(scope: Scope, rid: str, send: Any) -> None:
    body = json.dumps(
        {
            "type": type_uri("internal-error"),
            "title": CATALOGUE["internal-error"],
            "status": 500,
            "detail": "the service failed to handle the request",
            "instance": scope["path"],
            "request_id": rid,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
