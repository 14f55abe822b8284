"""``/records/{public_id}``: the public record a sealed document's QR code opens. No account needed; the session
or bearer token of someone who may see the request adds the people's names."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalIfAnyDep, RuntimeDep
from api.pages.base import ViewerIfAnyDep, render
from core.errors import NotFound
from core.runtime import Runtime
from identity.auth import Principal
from workflow import public_record

router = APIRouter(tags=["verification"])

# The link is the secret: no copy in caches, no Referer to other sites, no search engine's index.
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@router.get("/records/{public_id}", response_class=HTMLResponse, responses={404: {}})
async def record(
    who: ViewerIfAnyDep, public_id: str, request: Request, rt: RuntimeDep, bearer: PrincipalIfAnyDep
) -> HTMLResponse:
    """The request's organisation, matter, seal, decisions by post, outcome, sealing, stamps and log entries; 404
    for an unknown id. Names are shown to whoever may see the request, signed in here or calling with a token."""
    caller = bearer or (who.principal if who is not None else None)
    found: dict[str, Any] | None = None
    with contextlib.suppress(NotFound):
        found = await run_in_threadpool(_record, rt, public_id, caller)
    return render(
        request, who, "record.html", status=200 if found else 404, headers=_PRIVATE, record=found, public_id=public_id
    )


def _record(rt: Runtime, public_id: str, who: Principal | None) -> dict[str, Any]:
    with rt.readers() as session:
        return public_record.record(session, public_id, who, rt.clock.now())


@router.get("/records/{public_id}/photos/{sha256}", response_class=Response, responses={404: {}})
async def photo(public_id: str, sha256: str, rt: RuntimeDep) -> Response:
    """The photo a seal machine took of a sheet it stamped for this record."""
    found = await run_in_threadpool(_photo, rt, public_id, sha256)
    return Response(found, media_type="image/png", headers=_PRIVATE)


def _photo(rt: Runtime, public_id: str, sha256: str) -> bytes:
    with rt.readers() as session:
        return rt.blobs.get(public_record.photo(session, public_id, sha256))
