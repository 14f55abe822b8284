"""The ``Idempotency-Key`` header on every state-changing request (draft-ietf-httpapi-idempotency-key-header).

A pure ASGI middleware: it reads the body once to fingerprint the request, claims the key, lets the request
through, and keeps the response; a retry with the same key and request gets that response again, marked with
``Idempotent-Replayed: true``. The key is scoped to the credentials presented, so callers cannot collide.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from sealgate import idempotency
from sealgate.runtime import Runtime

HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')
_NOT_REPLAYED = {b"date", b"server", b"x-request-id", b"content-length"}


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if scope["type"] != "http" or scope["method"] not in METHODS or HEADER not in headers:
            await self.app(scope, receive, send)
            return
        match = _KEY.match(headers[HEADER].decode("latin-1"))
        if match is None:
            await problem(400, "bad-request", "Idempotency-Key must be 1 to 255 visible ASCII characters")(
                scope, receive, send
            )
            return
        key = match.group(1)
        body = await _read_body(receive)
        runtime: Runtime = scope["app"].state.runtime
        caller = hashlib.sha256(headers.get(b"authorization", b"anonymous")).hexdigest()
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        stored = await run_in_threadpool(self._begin, runtime, caller, key, fingerprint)
        if stored.mismatch:
            await problem(422, "idempotency-key-reused", "this Idempotency-Key was used for another request")(
                scope, receive, send
            )
        elif stored.running:
            await problem(
                409,
                "idempotency-key-in-use",
                "a request with this Idempotency-Key is still being processed",
                headers={"Retry-After": "1"},
            )(scope, receive, send)
        elif not stored.fresh:
            assert stored.record is not None
            await _replay(send, *idempotency.replay(stored.record))
        else:
            await self._first(scope, body, send, runtime, caller, key)

    @staticmethod
    def _begin(runtime: Runtime, caller: str, key: str, fingerprint: str) -> idempotency.Stored:
        with runtime.sessions() as session:
            return idempotency.begin(session, caller, key, fingerprint, runtime.clock.now())

    async def _first(self, scope: Scope, body: bytes, send: Send, runtime: Runtime, caller: str, key: str) -> None:
        status = 500
        kept: dict[str, str] = {}
        chunks: list[bytes] = []
        delivered = False

        async def receive_once() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept.update(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() not in _NOT_REPLAYED
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_once, capture)
        except BaseException:
            await run_in_threadpool(_abandon, runtime, caller, key)
            raise
        await run_in_threadpool(_finish, runtime, caller, key, status, kept, b"".join(chunks))


def _finish(runtime: Runtime, caller: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
    with runtime.sessions() as session:
        idempotency.finish(session, caller, key, status, headers, body)


def _abandon(runtime: Runtime, caller: str, key: str) -> None:
    with runtime.sessions() as session:
        idempotency.abandon(session, caller, key)


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _replay(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw: list[Any] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
