"""The hosted inbox of a bureau with no system of its own: the outbox delivers to it, signed, as to any bureau."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from api.deps import RuntimeDep
from core.runtime import Runtime
from workflow import inbox

router = APIRouter(prefix="/api/v1/bureaus", tags=["bureaus"])


class ReceivedOut(BaseModel):
    id: int
    request: str | None
    received_at: dt.datetime


@router.post(
    "/{code}/deliveries",
    status_code=201,
    response_model=ReceivedOut,
    responses={200: {"description": "a repeat of a delivery received before", "model": ReceivedOut}},
)
async def deliveries(code: str, request: Request, response: Response, rt: RuntimeDep) -> dict[str, Any]:
    """Receive a delivery for organisation ``code``: signed with its endpoint's secret (RFC 9421), with an
    ``Idempotency-Key``; a repeat is answered 200 with the delivery first received."""
    body = await request.body()  # BodyLimit bounds what is read; inbox.receive takes less still
    target = rt.settings.public_url.rstrip("/") + request.url.path
    received, fresh = await run_in_threadpool(_receive, rt, code, target, request.headers, body)
    if not fresh:
        response.status_code = 200
    return received


def _receive(rt: Runtime, code: str, target: str, headers: Headers, body: bytes) -> tuple[dict[str, Any], bool]:
    with rt.sessions() as session:
        received = inbox.receive(session, code, target=target, headers=headers, body=body, now=rt.clock.now())
        record = received.delivery
        answer = {"id": record.id, "request": record.request.number, "received_at": record.received_at}
        session.commit()  # after the answer's reads: one after it would begin a transaction closing rolls back
        return answer, received.fresh
