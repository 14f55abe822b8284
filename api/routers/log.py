"""The log's read interface: C2SP checkpoint and tiles under /log/, and a JSON API under /api/v1/log/."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import LogDep, ReadSessionDep
from core.errors import NotFound
from ledger.tiles import TileNotFound, parse_tile_path

router = APIRouter(tags=["log"])

IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/log/checkpoint", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def checkpoint(log: LogDep, session: ReadSessionDep) -> Response:
    note = log.reader.published(session).note
    return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get("/log/tile/{path:path}", response_class=Response)
def tile(path: str, request: Request, log: LogDep, session: ReadSessionDep) -> Response:
    try:
        level, index, width = parse_tile_path(path)
    except TileNotFound as exc:
        raise NotFound(str(exc)) from None
    body = log.reader.tile(session, level, index, width)
    if level is None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            gzip.compress(body),
            media_type="application/octet-stream",
            headers={"Cache-Control": IMMUTABLE, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


class EntryOut(BaseModel):
    index: int
    event_id: str
    leaf_hash: str
    entry: dict[str, Any]
    raw: str


class InclusionOut(BaseModel):
    index: int
    size: int
    root: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


class KeyOut(BaseModel):
    origin: str
    vkey: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/api/v1/log/entries/{index}", response_model=EntryOut)
def entry(index: int, log: LogDep, session: ReadSessionDep) -> EntryOut:
    found = log.reader.entry(session, index)
    return EntryOut(
        index=found.idx,
        event_id=found.event_id,
        leaf_hash=found.leaf_hash.hex(),
        entry=json.loads(found.body),
        raw=_b64(found.body),
    )


@router.get("/api/v1/log/entries/{index}/receipt", response_class=Response)
def receipt(index: int, log: LogDep, session: ReadSessionDep) -> Response:
    return Response(
        log.reader.receipt(session, index),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="entry-{index}.tlog-proof"'},
    )


@router.get("/api/v1/log/proofs/inclusion", response_model=InclusionOut)
def inclusion(
    log: LogDep, session: ReadSessionDep, index: Annotated[int, Query(ge=0)], size: Annotated[int, Query(ge=1)]
) -> InclusionOut:
    proof = log.reader.inclusion(session, index, size)
    return InclusionOut(
        index=index, size=size, root=_b64(log.reader.root(session, size)), proof=[_b64(h) for h in proof]
    )


@router.get("/api/v1/log/proofs/consistency", response_model=ConsistencyOut)
def consistency(
    log: LogDep,
    session: ReadSessionDep,
    size1: Annotated[int, Query(alias="from", ge=0)],
    size2: Annotated[int, Query(alias="to", ge=0)],
) -> ConsistencyOut:
    proof = log.reader.consistency(session, size1, size2)
    return ConsistencyOut(
        size1=size1,
        size2=size2,
        root1=_b64(log.reader.root(session, size1)),
        root2=_b64(log.reader.root(session, size2)),
        proof=[_b64(h) for h in proof],
    )


@router.get("/api/v1/log/key", response_model=KeyOut)
def key(log: LogDep) -> KeyOut:
    return KeyOut(origin=log.origin, vkey=log.vkey)
