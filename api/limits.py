"""How much of a request body the service reads: one table of limits, and the pure ASGI layer that keeps to it.

The layer sits in front of routing and of the Idempotency-Key middleware, so nobody reads past a limit: a body
announced larger than its route takes is refused with 413 before a byte of it is read, and a chunked one is cut
where it passes the limit. The 413, and any answer given before the body was read to its end (a 404, a 401),
closes the connection, so the rest is never read either: a server otherwise reads and drops a body it answered
early, to find the next request on the connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from core.settings import Settings

RECEIPT_BYTES = 64 * 1024  # the largest tlog-proof receipt taken beside a PDF to verify
FORM_OVERHEAD = 64 * 1024  # multipart framing and the small fields beside an uploaded file
_CLOSE = {"Connection": "close"}


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes of body each route takes: the ones that take a document by method and path, the rest
    ``default``."""

    default: int
    routes: Mapping[tuple[str, str], int]
    patterns: tuple[tuple[str, re.Pattern[str], int], ...] = ()  # routes with a path parameter

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        verify = settings.signer.max_verify_bytes + RECEIPT_BYTES + FORM_OVERHEAD
        upload = settings.workflow.max_upload_bytes + FORM_OVERHEAD
        return cls(
            default=settings.max_body_bytes,
            routes={
                ("POST", "/api/v1/verify"): verify,
                ("POST", "/verify"): verify,
                ("POST", "/api/v1/requests"): upload,
                ("POST", "/requests/new"): upload,
            },
            patterns=(
                ("POST", re.compile(r"^/api/v1/terminals/[^/]+/photos$"), settings.machines.max_photo_bytes),
                ("POST", re.compile(r"^/requests/[0-9]+/resubmit$"), upload),
            ),
        )

    def of_request(self, scope: Scope) -> int:
        path, root = scope["path"], scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path  # as the router sees it
        found = self.routes.get((scope["method"], route_path))
        if found is not None:
            return found
        for method, pattern, limit in self.patterns:
            if scope["method"] == method and pattern.match(route_path):
                return limit
        return self.default


class TooLarge(HTTPException):
    """A body past its limit. Raised from ``receive``, so whoever reads stops there; FastAPI answers it as the
    problem it is, and the layer does when it rises past the app."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes", headers=_CLOSE)


class BodyLimit:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of_request(scope)
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await _refusal(scope, limit)(scope, receive, send)
            return
        received = 0
        ended = not announced and not _chunked(scope)
        started = False

        async def bounded() -> Message:
            nonlocal received, ended
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
                ended = not message.get("more_body", False)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                if not ended and all(name != b"connection" for name, _ in headers):
                    # answered before the body was read: close rather than read the rest
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except TooLarge:
            if started:  # the answer went out before the body was read to its end: it stands
                return
            await _refusal(scope, limit)(scope, receive, send)


def _refusal(scope: Scope, limit: int) -> JSONResponse:
    detail = f"the request body is larger than {limit} bytes"
    return problem(413, "payload-too-large", detail, request=Request(scope), headers=_CLOSE)


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" and b"chunked" in value.lower() for name, value in scope["headers"])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
