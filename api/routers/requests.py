"""Seal requests: submit (JSON, or multipart with the PDF), follow, withdraw, resubmit, decide, retry, and the
document itself."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import LogDep, PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep, TokenDep, authenticate
from api.schemas_workflow import (
    DecidedOut,
    DecisionIn,
    RequestIn,
    RequestOut,
    RequestPage,
    ResubmitIn,
    WithdrawIn,
)
from core.runtime import Runtime
from identity.auth import Principal
from signer import records
from workflow import execution, history, listing, physical, requests, review, views
from workflow.requests import Submission
from workflow.states import State

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RequestIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["request"],
                    "properties": {
                        "request": {"type": "string", "description": "the RequestIn object, as JSON"},
                        "document": {"type": "string", "format": "binary", "description": "the PDF to be sealed"},
                    },
                }
            },
        },
        "required": True,
    }
}


async def _submission(http: Request, max_bytes: int) -> Submission:
    document: bytes | None = None
    if http.headers.get("content-type", "").startswith("multipart/form-data"):
        async with http.form(max_files=1, max_part_size=max_bytes) as parts:
            raw = parts.get("request")
            upload = parts.get("document")
            if upload is not None and not isinstance(upload, str):
                document = await upload.read(max_bytes + 1)
        if not isinstance(raw, str):
            raise RequestValidationError([{"type": "missing", "loc": ("body", "request"), "msg": "Field required"}])
        payload: Any = raw
    else:
        payload = await http.body()
    try:
        body = RequestIn.model_validate_json(payload)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return Submission(**body.model_dump(), document=document)


@router.post("", response_model=RequestOut, status_code=201, openapi_extra=_BODY)
async def submit(http: Request, who: PrincipalDep, rt: RuntimeDep) -> dict[str, Any]:
    submission = await _submission(http, rt.settings.workflow.max_upload_bytes)
    return await run_in_threadpool(_submit, rt, who, submission)


def _submit(rt: Runtime, who: Principal, submission: Submission) -> dict[str, Any]:
    with rt.sessions() as session:
        now = rt.clock.now()
        request = requests.submit(
            session,
            who,
            submission,
            blobs=rt.blobs,
            max_bytes=rt.settings.workflow.max_upload_bytes,
            now=now,
            webhook=rt.settings.workflow.notification_webhook,
            anchor=rt.settings.signer.anchor,
        )
        view = views.request_view(session, request, who, now)
        session.commit()
        return view


@router.get("", response_model=RequestPage)
def listed(
    who: PrincipalDep,
    rt: RuntimeDep,
    session: ReadSessionDep,
    scope: listing.Scope = "mine",
    state: State | None = None,
    matter: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=listing.MAX_PAGE_SIZE)] = 20,
) -> listing.Page:
    """The caller's own requests (``scope=mine``: applied for or submitted), or every request the caller may see
    (``scope=visible``), newest first."""
    return listing.requests(
        session, who, now=rt.clock.now(), scope=scope, state=state, matter=matter or None, page=page, size=size
    )


@router.get("/{request_id}", response_model=RequestOut)
def get(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> dict[str, Any]:
    now = rt.clock.now()
    return views.request_view(session, requests.visible(session, request_id, who, now), who, now)


@router.get("/{request_id}/document", response_class=FileResponse)
def document(
    request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep, original: bool = False
) -> FileResponse:
    """The sealed PDF once the request is sealed, else (or with ``original=true``) the document as submitted: to
    its applicant, its approvers, the custodians who stamp it and the bureau receiving it; 403 to others who may
    see the request, 404 to everyone else."""
    return document_file(rt, session, request_id, who, original=original, now=rt.clock.now())


def document_file(
    rt: Runtime, session: Session, request_id: int, who: Principal, *, original: bool, now: dt.datetime
) -> FileResponse:
    """A request's document for someone who may take it, to the API's clients and the pages alike."""
    request, sha256, sealed = requests.document_of(session, request_id, who, original=original, now=now)
    return _pdf(rt, sha256, f"{request.number}{'-sealed' if sealed else ''}.pdf")


@router.get("/{request_id}/sheet", response_class=FileResponse)
def sheet(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> FileResponse:
    """For a physical seal, what is printed and stamped: the approved document with its record's QR code."""
    return sheet_file(rt, session, request_id, who, rt.clock.now())


def sheet_file(rt: Runtime, session: Session, request_id: int, who: Principal, now: dt.datetime) -> FileResponse:
    request, sha256 = physical.sheet_of(session, request_id, who, now)
    return _pdf(rt, sha256, f"{request.number}-sheet.pdf")


def _pdf(rt: Runtime, sha256: str, name: str) -> FileResponse:
    """Shown in the browser, kept in no shared cache."""
    return FileResponse(
        rt.blobs.path(sha256),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private"},
    )


@router.get("/{request_id}/receipt", response_class=Response)
def receipt(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, log: LogDep, session: ReadSessionDep) -> Response:
    """The log's receipt for the request's seal: a C2SP tlog-proof with the log entry as its extra data."""
    request = requests.visible(session, request_id, who, rt.clock.now())
    text = records.receipt(session, log.reader, records.latest(session, history.subject(request.id)))
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{request.number}.tlog-proof"'},
    )


@router.post("/{request_id}/withdraw", response_model=RequestOut)
def withdraw(
    request_id: RowId, body: WithdrawIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    now = rt.clock.now()
    request = requests.withdraw(session, request_id, who, reason=body.reason, now=now)
    view = views.request_view(session, request, who, now)
    session.commit()
    return view


@router.post("/{request_id}/resubmit", response_model=RequestOut)
def resubmit(
    request_id: RowId, body: ResubmitIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    now = rt.clock.now()
    request = requests.resubmit(
        session,
        request_id,
        who,
        form=body.form,
        purpose=body.purpose,
        now=now,
        blobs=rt.blobs,
        max_bytes=rt.settings.workflow.max_upload_bytes,
        webhook=rt.settings.workflow.notification_webhook,
        anchor=rt.settings.signer.anchor,
    )
    view = views.request_view(session, request, who, now)
    session.commit()
    return view


@router.post("/{request_id}/decisions", response_model=DecidedOut, responses={403: {}, 409: {}})
async def decide(request_id: RowId, body: DecisionIn, token: TokenDep, rt: RuntimeDep) -> dict[str, Any]:
    """Async, with the caller's lookup and the decision in one worker thread and one session: a sync route with
    principal and session dependencies costs three more hand-offs between threads and a second connection, which
    on the approvals benchmark weighed more than the decision itself."""
    return await run_in_threadpool(_decide, rt, token, request_id, body)


def _decide(rt: Runtime, token: str | None, request_id: int, body: DecisionIn) -> dict[str, Any]:
    with rt.sessions() as session:
        who = authenticate(rt, token, session)
        decided = review.decide(
            session,
            request_id,
            review.Actor(who.user_id, who.username),
            level=body.level,
            verdict=review.Verdict(body.decision),
            comment=body.comment,
            to_level=body.to_level,
            now=rt.clock.now(),
            webhook=rt.settings.workflow.notification_webhook,
        )
        session.commit()
        case = decided.request
        return {
            "id": case.id,
            "number": case.number,
            "state": case.state,
            "level": case.level,
            "round": case.round,
            "decision": decided.decision,
        }


@router.post("/{request_id}/retry", response_model=RequestOut)
def retry(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    now = rt.clock.now()
    request = execution.retry(session, request_id, who, now)
    view = views.request_view(session, request, who, now)
    session.commit()
    return view
