"""Bureaus: the sealed documents delivered to them, newest first, each to open, verify and download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from api.pages.base import Bureaus, Viewer, render
from core.runtime import Runtime
from workflow import inbox

router = APIRouter(include_in_schema=False)


@router.get("/bureau")
async def received(
    request: Request, who: Bureaus, rt: RuntimeDep, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    rows, more = await run_in_threadpool(_received, rt, who, page)
    bureaus = sorted({p.organisation_name for p in who.principal.posts if p.post == "bureau"})
    return render(request, who, "bureaus/received.html", rows=rows, more=more, page=page, bureaus=bureaus)


def _received(rt: Runtime, who: Viewer, page: int) -> tuple[list[dict[str, Any]], bool]:
    with rt.readers() as session:
        return inbox.listing(session, who.principal, page)
