"""Verification for bureaus and anyone holding a sealed document: ``POST /api/v1/verify`` (JSON), and the
``/verify`` page (upload form and report; the record a document's QR code opens is ``/records/{public_id}``).
No account needed."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import CertificateAuthority, LogDep, RuntimeDep
from api.i18n import language, pages
from ca.hierarchy import NotInitialised
from ledger.note import parse_vkey
from ledger.service import LogService
from sealgate.errors import Invalid
from sealgate.runtime import Runtime
from signer import verification

router = APIRouter(tags=["verification"])


@router.post("/api/v1/verify")
async def verify(request: Request, rt: RuntimeDep, log: LogDep) -> dict[str, Any]:
    """A PDF (``application/pdf`` body, or multipart ``file`` with an optional ``receipt``) in, the report out."""
    data, receipt = await _upload(request, rt.settings.signer.max_verify_bytes)
    return await run_in_threadpool(_report, rt, log, request.app.state.ca, data, receipt)


@router.get("/verify", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The upload form. ``?request=<number>`` is 404 for everyone: a sequential number opens no record, lest
    anyone count through who applied for what; a document's QR code carries its record's unguessable link."""
    missing = "request" in request.query_params
    html = pages(language(request)).get_template("verify.html").render(report=None, error=None, missing=missing)
    return HTMLResponse(html, status_code=404 if missing else 200)


@router.post("/verify", response_class=HTMLResponse)
async def page_report(request: Request, rt: RuntimeDep, log: LogDep) -> HTMLResponse:
    lang = language(request)
    report, error = None, None
    try:
        data, receipt = await _upload(request, rt.settings.signer.max_verify_bytes)
        report = await run_in_threadpool(_report, rt, log, request.app.state.ca, data, receipt)
    except Invalid as exc:
        error = exc.detail
    html = pages(lang).get_template("verify.html").render(report=report, error=error, missing=False)
    return HTMLResponse(html, status_code=200 if error is None else 422)


async def _upload(request: Request, max_bytes: int) -> tuple[bytes, bytes | None]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type == "application/pdf":
        data = await request.body()
        return _bounded(data, max_bytes), None
    if media_type != "multipart/form-data":
        raise verification.UnverifiablePdf("send the PDF as application/pdf or as the multipart field 'file'")
    form = await request.form(max_files=2, max_fields=4, max_part_size=max_bytes + 1)
    upload, receipt = form.get("file"), form.get("receipt")
    if not isinstance(upload, UploadFile):
        raise verification.UnverifiablePdf("no PDF in the multipart field 'file'")
    data = _bounded(await upload.read(max_bytes + 1), max_bytes)
    extra = await receipt.read(64 * 1024) if isinstance(receipt, UploadFile) and receipt.filename else None
    return data, extra or None


def _bounded(data: bytes, max_bytes: int) -> bytes:
    if not data:
        raise verification.UnverifiablePdf("the file is empty")
    if len(data) > max_bytes:
        raise verification.UnverifiablePdf(f"the PDF is larger than {max_bytes} bytes")
    return data


def _report(
    rt: Runtime, log: LogService, authority: CertificateAuthority, data: bytes, receipt: bytes | None
) -> dict[str, Any]:
    trust = []
    with contextlib.suppress(NotInitialised):
        trust = [authority.get(rt).authority.root]

    def lookup(signature_sha256: str) -> dict[str, Any] | None:
        with rt.readers() as session:
            return verification.logged(session, log.reader, signature_sha256)

    return verification.bureau_report(
        data, trust=trust, receipt=receipt, log_keys=[parse_vkey(log.vkey)], lookup=lookup
    )
