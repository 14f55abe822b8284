"""Every endpoint reads at most its limit: a body announced too large is refused before a byte of it is read, a
chunked one is cut at the limit, and the Idempotency-Key middleware reads nothing for a request no route answers
or whose caller is not signed in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.types import Message, Scope

from api import create_app
from api.limits import FORM_OVERHEAD, RECEIPT_BYTES, BodyLimits
from core.idempotency import IdempotencyRecord
from core.runtime import Runtime
from core.settings import Settings
from identity.models import Organisation
from tests.api.conftest import token

MIB = 1024 * 1024
PIECE = 64 * 1024
ORGANISATIONS = "/api/v1/admin/organisations"
ORG = b'{"code": "yz.sn.g9", "name": "\\u7b2c\\u4e5d\\u7ec4", "kind": "group", "parent": "yz.sn"'


@dataclass
class Served:
    status: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    pulled: int  # pieces of the body the app asked for

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.raw_headers)


def serve(app: FastAPI, path: str, headers: dict[str, str], pieces: Iterator[bytes], *, chunked: bool) -> Served:
    """Call the app as the server does, handing it the body a piece at a time only when it asks."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        piece = next(pieces, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    framing = {"transfer-encoding": "chunked"} if chunked else {}
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in {**headers, **framing}.items()],
    }
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Served(start["status"], list(start["headers"]), body, pulled)


def endless() -> Iterator[bytes]:
    while True:
        yield b" " * PIECE


def organisations(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(Organisation).where(Organisation.code == "yz.sn.g9")) or 0


def records(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def test_limits_come_from_the_settings(settings: Settings) -> None:
    limits = BodyLimits.of(settings)
    assert limits.default == settings.max_body_bytes == MIB
    verify = settings.signer.max_verify_bytes + RECEIPT_BYTES + FORM_OVERHEAD
    assert limits.of_request({"method": "POST", "path": "/api/v1/verify"}) == verify
    assert limits.of_request({"method": "POST", "path": "/verify"}) == verify
    upload = settings.workflow.max_upload_bytes + FORM_OVERHEAD
    assert limits.of_request({"method": "POST", "path": "/api/v1/requests"}) == upload
    assert limits.of_request({"method": "POST", "path": ORGANISATIONS}) == MIB
    assert limits.of_request({"method": "PUT", "path": "/api/v1/verify"}) == MIB
    behind_a_proxy = {"method": "POST", "path": "/seals/api/v1/verify", "root_path": "/seals"}
    assert limits.of_request(behind_a_proxy) == verify
    photos = settings.machines.max_photo_bytes
    assert limits.of_request({"method": "POST", "path": "/api/v1/terminals/shuinan-1/photos"}) == photos
    assert limits.of_request({"method": "POST", "path": "/api/v1/terminals/a/b/photos"}) == MIB
    assert limits.of_request({"method": "POST", "path": "/api/v1/terminals/shuinan-1/events"}) == MIB


def test_an_announced_body_past_the_limit_is_refused_unread(
    app: FastAPI, client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    headers = {**token(client, "admin"), "content-type": "application/json", "content-length": str(2 * MIB)}
    served = serve(app, ORGANISATIONS, headers, endless(), chunked=False)
    assert served.status == 413
    assert served.pulled == 0
    assert served.headers[b"content-type"] == b"application/problem+json"
    assert served.headers[b"connection"] == b"close"
    assert b"/problems/payload-too-large" in served.body
    assert organisations(runtime) == 0


def test_a_chunked_body_is_cut_at_the_limit(
    app: FastAPI, client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    headers = {**token(client, "admin"), "content-type": "application/json"}
    served = serve(app, ORGANISATIONS, headers, endless(), chunked=True)
    assert served.status == 413
    assert served.pulled == MIB // PIECE + 1  # the piece that passed the limit, and not one more
    assert served.headers[b"connection"] == b"close"
    assert served.raw_headers.count((b"connection", b"close")) == 1
    assert b"larger than 1048576 bytes" in served.body
    assert organisations(runtime) == 0


def test_the_413_is_a_problem_with_the_request_id(client: TestClient, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Content-Type": "application/json"}
    answer = client.post(ORGANISATIONS, content=ORG + b" " * (2 * MIB) + b"}", headers=headers)
    assert answer.status_code == 413
    problem = answer.json()
    assert problem["type"] == "/problems/payload-too-large"
    assert problem["instance"] == ORGANISATIONS
    assert problem["request_id"] == answer.headers["x-request-id"]
    assert client.get(problem["type"]).json()["title"] == "The request body is larger than this resource takes"


def test_a_body_within_the_limit_goes_through(client: TestClient, runtime: Runtime, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Content-Type": "application/json"}
    answer = client.post(ORGANISATIONS, content=ORG + b" " * (MIB - 200) + b"}", headers=headers)
    assert answer.status_code == 201, answer.text
    assert organisations(runtime) == 1


def test_verification_takes_more_than_the_default(client: TestClient) -> None:
    pdf = b"%PDF-1.7\n" + b" " * (3 * MIB)
    answer = client.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"})
    assert answer.status_code == 422  # read and judged, not refused for its size
    assert answer.json()["type"] == "/problems/unverifiable-pdf"


def test_a_pdf_past_the_verification_limit_is_refused_as_too_large(app: FastAPI, settings: Settings) -> None:
    """By the route, at its own limit, which the body limit leaves room above for a receipt."""
    headers = {"content-type": "application/pdf"}
    served = serve(app, "/api/v1/verify", headers, endless(), chunked=True)
    assert served.status == 422
    problem = json.loads(served.body)
    assert (problem["type"], problem["kind"]) == ("/problems/unverifiable-pdf", "too-large")
    assert problem["limit"] == f"{settings.signer.max_verify_bytes // MIB} MB"
    assert served.pulled == settings.signer.max_verify_bytes // PIECE + 1


def test_an_answer_given_before_the_body_closes_the_connection(app: FastAPI) -> None:
    served = serve(app, "/nowhere", {"content-type": "application/json"}, endless(), chunked=True)
    assert served.status == 404
    assert served.pulled == 0
    assert served.headers[b"connection"] == b"close"


def test_unknown_paths_and_refused_credentials_leave_no_key(
    app: FastAPI, client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    """They get their normal answer and nothing is kept. The Idempotency-Key middleware reads no body to no route
    or with a bad token; without a token it reads like anyone's what the limit lets through, and FastAPI reads a
    JSON body before it checks the token, so an endless body is cut at the limit either way."""
    for path, headers, normal in [
        ("/nowhere", {}, 404),
        (ORGANISATIONS, {}, 401),
        (ORGANISATIONS, {"authorization": "Bearer sg_not-a-token"}, 401),
    ]:
        headers = {**headers, "content-type": "application/json", "idempotency-key": "k"}
        assert serve(app, path, headers, iter([ORG + b"}"]), chunked=True).status == normal
        served = serve(app, path, headers, endless(), chunked=True)
        assert served.status in (normal, 413), path
        assert served.pulled <= MIB // PIECE + 1, path
    assert serve(app, "/nowhere", {"idempotency-key": "k"}, endless(), chunked=True).pulled == 0
    assert records(runtime) == 0


def test_a_key_on_a_route_with_parameters_is_kept(client: TestClient, runtime: Runtime, cast: dict[str, str]) -> None:
    headers = {**token(client, "chen"), "Idempotency-Key": "withdraw-999"}
    first = client.post("/api/v1/requests/999/withdraw", json={"reason": "no"}, headers=headers)
    again = client.post("/api/v1/requests/999/withdraw", json={"reason": "no"}, headers=headers)
    assert first.status_code == again.status_code == 404
    assert again.headers["idempotent-replayed"] == "true"
    assert records(runtime) == 1


def test_a_large_idempotent_body_is_spooled_and_replayed(runtime: Runtime) -> None:
    runtime.settings.max_body_bytes = 4 * MIB  # past the Idempotency-Key middleware's spool in memory
    app = create_app(runtime)

    async def echo(request: Request) -> dict[str, object]:
        body = await request.body()
        return {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}

    app.add_api_route("/echo", echo, methods=["POST"])
    body = bytes(range(256)) * (3 * MIB // 256)
    with TestClient(app) as c:
        first = c.post("/echo", content=body, headers={"Idempotency-Key": "big"})
        again = c.post("/echo", content=body, headers={"Idempotency-Key": "big"})
        other = c.post("/echo", content=body[:-1] + b"!", headers={"Idempotency-Key": "big"})
    assert first.json() == {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert records(runtime) == 1
