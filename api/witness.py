"""A C2SP tlog-witness as its own small HTTP service: add-checkpoint, and the monitoring checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from api import problems
from api.limits import BodyLimit, BodyLimits
from api.middleware import RequestContext
from core.errors import NotFound
from core.runtime import Runtime
from core.version import VERSION
from ledger import witness
from ledger.note import CosignatureSigner, Verifier

MAX_BODY = 64 * 1024


def create_witness_app(
    runtime: Runtime, cosigner: CosignatureSigner, logs: Mapping[str, Sequence[Verifier]]
) -> FastAPI:
    app = FastAPI(title="sealgate witness", version=VERSION)
    problems.install(app)

    @app.post("/add-checkpoint", response_class=Response)
    async def add_checkpoint(request: Request) -> Response:
        body = await request.body()  # at most MAX_BODY: BodyLimit answers 413 for more, unread
        reply = await run_in_threadpool(_add, body)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    def _add(body: bytes) -> witness.Reply:
        with runtime.sessions() as session:
            return witness.add_checkpoint(session, body, logs, cosigner)

    @app.get("/{origin_hash}/checkpoint", response_class=Response)
    def monitoring(origin_hash: str) -> Response:
        with runtime.sessions() as session:
            note = witness.latest(session, origin_hash)
        if note is None:
            raise NotFound("this witness has cosigned no checkpoint of that log")
        return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "witness": cosigner.name}

    app.add_middleware(BodyLimit, limits=BodyLimits(MAX_BODY, {}))
    app.add_middleware(RequestContext)
    return app
