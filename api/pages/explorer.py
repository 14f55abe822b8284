"""The log explorer: the latest published checkpoint with the key that verifies it, and any entry by index with its
inclusion proof against that checkpoint, checked here by the ledger's own verification. Public, as the log is:
whoever audits the service, or holds a record, may look without an account."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import LogDep, RuntimeDep
from api.pages.base import N_, ViewerIfAnyDep, render
from core.errors import NotFound
from core.runtime import Runtime
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import NoteError, open_checkpoint, parse_vkey
from ledger.service import LogService

router = APIRouter(include_in_schema=False)

MAX_INDEX = 2**63 - 1  # an index is a uint64 in the log, and a signed BIGINT in the database

# The kinds of entries, shown translated; the request's own (request.submitted, ...) are in messages.po.
KINDS = (
    N_("ca.certificate.issued"),
    N_("ca.certificate.revoked"),
    N_("ca.certificate.expiring"),
    N_("ca.seal.added"),
    N_("ca.seal.suspended"),
    N_("ca.seal.resumed"),
    N_("catalog.loaded"),
    N_("org.created"),
    N_("user.created"),
    N_("post.granted"),
    N_("post.ended"),
    N_("post.delegated"),
    N_("post.delegation_ended"),
    N_("machine.registered"),
    N_("machine.enrolment_code.issued"),
    N_("machine.enrolled"),
    N_("machine.epoch.revoked"),
    N_("machine.authorisation.issued"),
    N_("machine.authorisation.cancelled"),
    N_("machine.authorisation.expired"),
    N_("machine.stamp"),
    N_("machine.alarm"),
    N_("machine.close"),
    N_("machine.photo.received"),
    N_("machine.alarm.raised"),
    N_("machine.alarm.acknowledged"),
    N_("request.authorised"),
    N_("request.expired"),
    N_("request.delivery_dead"),
)


@dataclass(frozen=True)
class Head:
    """The latest published checkpoint as the page shows it; ``verified`` says the log's key signed it."""

    origin: str
    size: int
    root: bytes
    signed_at: dt.datetime
    note: str
    lines: list[tuple[str, bool]]  # each signature line, and whether it is the log's own, verified here
    verified: bool

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()


@dataclass(frozen=True)
class Shown:
    """One entry, its leaf hash and its inclusion proof against ``head``; ``problem`` is None once it verified."""

    index: int
    body: bytes
    leaf: bytes
    proof: list[bytes]
    problem: str | None

    @property
    def entry(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    @property
    def pretty(self) -> str:
        return json.dumps(self.entry, ensure_ascii=False, indent=2)

    @property
    def proof_b64(self) -> list[str]:
        return [base64.b64encode(digest).decode() for digest in self.proof]


@router.get("/explorer")
async def explorer(
    who: ViewerIfAnyDep,
    request: Request,
    rt: RuntimeDep,
    log: LogDep,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Response:
    """The latest checkpoint and how to audit the log; ``?index=`` (the page's form) opens that entry."""
    if index is not None:
        return RedirectResponse(f"/explorer/entries/{index}", status_code=303)
    head = await run_in_threadpool(_latest, rt, log)
    return render(request, who, "explorer/index.html", head=head, vkey=log.vkey, public_url=rt.settings.public_url)


@router.get("/explorer/entries/{index}")
async def entry(
    who: ViewerIfAnyDep,
    request: Request,
    rt: RuntimeDep,
    log: LogDep,
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
) -> Response:
    """Entry ``index`` with its inclusion proof in the latest checkpoint; 404 past the end of the published tree."""
    head, shown = await run_in_threadpool(_entry, rt, log, index)
    if shown is None:
        return render(request, who, "explorer/missing.html", status=404, head=head, index=index)
    assert head is not None
    return render(request, who, "explorer/entry.html", head=head, shown=shown)


def _latest(rt: Runtime, log: LogService) -> Head | None:
    with rt.readers() as session:
        return _head(session, log)


def _head(session: Session, log: LogService) -> Head | None:
    """The published checkpoint, its note opened with the log's key; None while the log has published none."""
    try:
        published = log.reader.published(session)
    except NotFound:
        return None
    try:
        checkpoint, opened = open_checkpoint(published.note, log.origin, [parse_vkey(log.vkey)])
    except NoteError:
        return Head(log.origin, published.size, published.root, published.signed_at, published.note, [], False)
    lines = [(s.line, s in opened.verified) for s in opened.note.signatures]
    return Head(checkpoint.origin, checkpoint.size, checkpoint.root, published.signed_at, published.note, lines, True)


def _entry(rt: Runtime, log: LogService, index: int) -> tuple[Head | None, Shown | None]:
    with rt.readers() as session:
        head = _head(session, log)
        if head is None or index >= head.size:
            return head, None
        body = log.reader.entry(session, index).body
        proof = log.reader.inclusion(session, index, head.size)
    leaf = leaf_hash(body)
    try:
        verify_inclusion(leaf, index, head.size, proof, head.root)
        problem = None
    except ProofError as exc:
        problem = str(exc)
    return head, Shown(index, body, leaf, proof, problem)
