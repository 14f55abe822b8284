"""The ``Idempotency-Key`` header on every state-changing request (draft-ietf-httpapi-idempotency-key-header).

A pure ASGI middleware. It takes a request up only once it knows that a route will answer it and that the
credentials presented, if any, are good: a request to no route, or with a token that is unknown, expired or
revoked, gets its normal answer (404, 405, 401) with nothing kept and no body read here. Then it fingerprints the
request, reading the body into a spooled file (memory, then disk; the body limit in front bounds it), claims the
key, lets the request through with its body read back from that file, and keeps the response; a retry with the
same key and request gets that response again, marked with ``Idempotent-Replayed: true``. The key is scoped to
the credentials presented (without any: to the path), so callers cannot collide. A 401 is not kept: a caller
without credentials who knocked at a route that needs them settled nothing.

Secrets stay out of the records. A sign-in is never taken up: its body holds a password and its answer a session
token, and signing in again is harmless. A route whose answer hands out a secret keeps only its status, so a
retry is not run twice and is told to ask for a new secret. Nor is a delivery to a bureau's hosted inbox taken up:
the inbox records each delivery once under its key and answers a repeat itself (``workflow.inbox``), and two
more transactions for each delivery would only duplicate that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import authenticate
from api.problems import problem
from core import idempotency
from core.errors import Unauthorized
from core.runtime import Runtime
from workflow import inbox

HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')
_NOT_REPLAYED = {b"date", b"server", b"x-request-id", b"content-length", b"connection"}
_IN_MEMORY = 1024 * 1024  # bytes of a body held in memory before its spooled file moves to disk
_PIECE = 64 * 1024  # bytes of the body handed on at a time
_SIGN_IN = re.compile(r"^/(api/v1/auth/token|login)$")  # POST: a password in, a session token out
_SECRET_ANSWERS = re.compile(r"^/api/v1/(machines|machines/[^/]+/enrolment-code|terminals/[^/]+/enrol)$")
# POST to a hosted inbox, which keeps its delivery keys itself
_OWN_KEYS = re.compile("^" + re.escape(inbox.PATH).replace(re.escape("{code}"), "[^/]+") + "$")


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
        runtime: Runtime = scope["app"].state.runtime
        authorization = headers.get(b"authorization")
        if (
            (scope["method"] == "POST" and (_SIGN_IN.match(scope["path"]) or _OWN_KEYS.match(scope["path"])))
            or not _routed(scope)
            or (authorization is not None and not await run_in_threadpool(_signed_in, runtime, authorization))
        ):
            await self.app(scope, receive, send)
            return
        # Callers without credentials share no scope across routes: a key guessed on one public route (a verify)
        # cannot block the same key on another (a bureau's delivery, whose keys are predictable).
        caller = hashlib.sha256(authorization or b"anonymous\0" + scope["path"].encode()).hexdigest()
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), b""])
        )
        body = _Body()
        try:
            if await body.read(receive, fingerprint):
                secret = scope["method"] == "POST" and _SECRET_ANSWERS.match(scope["path"]) is not None
                await self._answer(scope, receive, send, body, runtime, (caller, key), fingerprint.hexdigest(), secret)
        finally:
            body.close()

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: _Body,
        runtime: Runtime,
        claimed: tuple[str, str],
        fingerprint: str,
        secret: bool,
    ) -> None:
        stored = await run_in_threadpool(self._begin, runtime, *claimed, fingerprint)
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
        elif stored.withheld:
            await problem(
                409,
                "conflict",
                "the request with this Idempotency-Key was done; its answer held a secret, which is not kept:"
                " ask for a new one",
            )(scope, receive, send)
        elif not stored.fresh:
            assert stored.record is not None, "a key that is neither fresh nor running has its record"
            await _replay(send, *idempotency.replay(stored.record))
        else:
            assert stored.claim is not None, "a fresh key was claimed"
            claim = _Claim(runtime, *claimed, stored.claim, secret)
            await self._first(scope, body.receive(receive), send, claim)

    @staticmethod
    def _begin(runtime: Runtime, caller: str, key: str, fingerprint: str) -> idempotency.Stored:
        with runtime.sessions() as session:
            return idempotency.begin(session, caller, key, fingerprint, runtime.clock.now())

    async def _first(self, scope: Scope, receive: Receive, send: Send, claim: _Claim) -> None:
        status = 500
        kept: dict[str, str] = {}
        chunks: list[bytes] = []

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
            await self.app(scope, receive, capture)
        except BaseException:
            await run_in_threadpool(claim.abandon)
            raise
        if status == 401:
            await run_in_threadpool(claim.abandon)
        else:
            await run_in_threadpool(claim.finish, status, kept, b"".join(chunks))


def _routed(scope: Scope) -> bool:
    """Whether a route will answer the request (else the app says 404 or 405)."""
    routes: list[BaseRoute] = scope["app"].router.routes
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def _signed_in(runtime: Runtime, authorization: bytes) -> bool:
    scheme, token = get_authorization_scheme_param(authorization.decode("latin-1"))
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        authenticate(runtime, token)
    except Unauthorized:
        return False
    return True


class _Body:
    """A request body read once into a spooled file (memory, then disk), hashed on the way, and handed back to
    the app from that file. Writes and reads go to the page cache a piece at a time, so they stay in the loop."""

    def __init__(self) -> None:
        self.file: IO[bytes] = SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115  (closed by close())
        self.size = 0
        self._ended = False

    async def read(self, receive: Receive, digest: hashlib._Hash) -> bool:
        """Read the whole body; False if the client left before sending it."""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            piece = message.get("body", b"")
            digest.update(piece)
            self.file.write(piece)
            self.size += len(piece)
            if not message.get("more_body", False):
                self.file.seek(0)
                return True

    def receive(self, then: Receive) -> Receive:
        """A ``receive`` that hands on the body, then what the server says next (``then``)."""

        async def again() -> Message:
            if self._ended:
                return await then()
            piece = self.file.read(_PIECE)
            self._ended = self.file.tell() >= self.size
            return {"type": "http.request", "body": piece, "more_body": not self._ended}

        return again

    def close(self) -> None:
        self.file.close()


class _Claim:
    """The key this request claimed, and when: finishing or abandoning it touches only this claim."""

    def __init__(self, runtime: Runtime, caller: str, key: str, at: dt.datetime, secret: bool) -> None:
        self.runtime, self.caller, self.key, self.at, self.secret = runtime, caller, key, at, secret

    def finish(self, status: int, headers: dict[str, str], body: bytes) -> None:
        with self.runtime.sessions() as session:
            secret = self.secret and status < 400  # a refusal hands out nothing: it is replayed as usual
            idempotency.finish(session, self.caller, self.key, status, headers, body, claim=self.at, secret=secret)

    def abandon(self) -> None:
        with self.runtime.sessions() as session:
            idempotency.abandon(session, self.caller, self.key, claim=self.at)


async def _replay(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw: list[Any] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
