"""Request ids, access log lines, metrics, security headers and the last-resort 500, in one pure ASGI middleware;
and the layer that refuses NaN and the infinities in JSON bodies.

It sits outside FastAPI's exception handling, so it also sees the failures no handler caught and answers
them as problem details carrying the request id, which is what an operator looks up in the logs.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.problems import CATALOGUE, MEDIA_TYPE, type_uri
from core.logs import request_id

log = logging.getLogger("sealgate.access")
errors = logging.getLogger("sealgate.api")

HEADER = b"x-request-id"
_ACCEPTABLE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

# Scripts and styles come from the service's own files only (htmx, Swagger UI and its starter live under /static),
# so an injected inline script does not run and injected markup cannot restyle a page (to hide or fake a part of
# it); no page may be framed (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_HTML_ONLY = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),)


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
                message["headers"] = _with_security_headers([*message.get("headers", []), (HEADER, rid.encode())])
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


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Every answer is not to be sniffed, framed or named in a referrer elsewhere; a page also gets the CSP. A
    header the route set itself stands."""
    present = {name.lower() for name, _ in headers}
    html = any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers)
    extra = SECURITY_HEADERS + (_HTML_ONLY if html else ())
    return headers + [(name, value) for name, value in extra if name not in present]


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


class NotFinite(HTTPException):
    """A JSON body holding NaN or an infinity. Raised from ``receive`` once the body is read to its end, so the
    route that reads it stops there, and FastAPI answers it as the problem it is."""

    def __init__(self) -> None:
        super().__init__(422, "the JSON body holds NaN or an infinite number, which JSON does not have")


class FiniteJson:
    """Python's JSON reader takes ``NaN``, ``Infinity`` and numbers too large for a float, which JSON has not;
    such a number passed on fails later where it is written canonically (the log), as a 500. This layer checks
    a JSON body as a route reads it, whatever the route then does with it; other bodies pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _json_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not finite_json(b"".join(chunks)):
                    raise NotFinite()
            return message

        await self.app(scope, checked, send)


def _json_body(scope: Scope) -> bool:
    """What FastAPI reads as JSON: a JSON media type, or none at all."""
    if scope["method"] in {"GET", "HEAD", "OPTIONS"}:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


class _Unfinite(ValueError):
    pass


def _refuse_constant(text: str) -> float:
    raise _Unfinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Unfinite(text)
    return value


def finite_json(body: bytes) -> bool:
    """Whether ``body`` has no NaN, infinity or overflowing number; a body that is not JSON at all is for the
    route to refuse as it does."""
    try:
        json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _Unfinite:
        return False
    except (ValueError, RecursionError):
        return True
    return True
