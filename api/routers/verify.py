"""Verification for bureaus and anyone holding a sealed document: ``POST /api/v1/verify`` (JSON), and the
``/verify`` page (upload form and report; the record a document's QR code opens is ``/records/{public_id}``).
No account needed."""

from __future__ import annotations

import base64
import contextlib
from tempfile import SpooledTemporaryFile
from typing import Any, BinaryIO, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import CertificateAuthority, LogDep, RuntimeDep
from api.gate import Busy, Gate
from api.i18n import language, translations
from api.limits import RECEIPT_BYTES
from api.pages import refusal_words, verdict_words
from api.pages.base import ViewerIfAnyDep, render
from ca import crl
from ca.hierarchy import Authority, NotInitialised
from core.errors import Invalid
from core.runtime import Runtime
from ledger.note import parse_checkpoint, parse_note, parse_vkey
from ledger.receipt import parse_receipt
from ledger.service import LogService
from signer import verification
from signer.revocation import NO_SOURCES, Sources
from workflow.documents import size_text
from workflow.verifier_priming import Priming

router = APIRouter(tags=["verification"])
_IN_MEMORY = 1024 * 1024  # bytes of an upload held in memory before its spooled file moves to disk


@router.post("/api/v1/verify")
async def verify(request: Request, rt: RuntimeDep, log: LogDep) -> dict[str, Any]:
    """A PDF (``application/pdf`` body, or multipart ``file`` with an optional ``receipt``) in, the report out."""
    upload, receipt = await _upload(request, rt.settings.signer.max_verify_bytes)
    return await _verified(request, rt, log, upload, receipt)


@router.get("/verify", response_class=HTMLResponse)
async def page(who: ViewerIfAnyDep, request: Request) -> HTMLResponse:
    """The upload form. ``?request=<number>`` is 404 for everyone: a sequential number opens no record, lest
    anyone count through who applied for what; a document's QR code carries its record's unguessable link."""
    missing = "request" in request.query_params
    status = 404 if missing else 200
    return render(request, who, "verify.html", status=status, report=None, error=None, missing=missing, busy=False)


@router.post("/verify", response_class=HTMLResponse)
async def page_report(who: ViewerIfAnyDep, request: Request, rt: RuntimeDep, log: LogDep) -> HTMLResponse:
    """The report of an uploaded PDF. Anyone may verify, signed in or not, and nothing is stored: the form has no
    session to carry a CSRF token and needs none. While the verifier is busy the page says so, with Retry-After."""
    try:
        upload, receipt = await _upload(request, rt.settings.signer.max_verify_bytes)
        report = _with_checkpoints(await _verified(request, rt, log, upload, receipt))
    except Invalid as exc:
        kind, limit = str(exc.extensions.get("kind")), exc.extensions.get("limit")
        gettext = translations(who.lang if who is not None else language(request)).gettext
        said = refusal_words.document(kind, limit, exc.detail, gettext, verdict_words.UNVERIFIABLE, frozenset())
        finding = exc.detail if kind == "unreadable" and said != exc.detail else None  # what the parser found
        return render(
            request, who, "verify.html", status=422, report=None, error=said, finding=finding, missing=False, busy=False
        )
    except Busy as exc:
        retry = {"Retry-After": str(exc.extensions["retry_after"])}
        return render(
            request, who, "verify.html", status=503, headers=retry, report=None, error=None, missing=False, busy=True
        )
    reasons = verdict_words.SUB_INDICATIONS
    return render(request, who, "verify.html", report=report, reasons=reasons, error=None, missing=False, busy=False)


def _with_checkpoints(report: dict[str, Any]) -> dict[str, Any]:
    """Each logged signature with the checkpoint its inclusion proof was checked against (origin, size, root) and
    the proof's hashes, read from the receipt the log section carries, for the page to show."""
    for signature in report["signatures"]:
        log = signature.get("log")
        if log and log.get("receipt"):
            receipt = parse_receipt(log["receipt"])
            checkpoint = parse_checkpoint(parse_note(receipt.checkpoint).text)
            log["checkpoint"] = {
                "origin": checkpoint.origin,
                "size": checkpoint.size,
                "root": base64.b64encode(checkpoint.root).decode(),
                "proof": [base64.b64encode(digest).decode() for digest in receipt.proof],
            }
    return report


async def _upload(request: Request, max_bytes: int) -> tuple[UploadFile, bytes | None]:
    """The PDF in a spooled file (memory, then disk) of at most ``max_bytes``, and the receipt sent beside it: a
    PDF is read into memory only once its verification may start."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type == "application/pdf":
        return _bounded(await _streamed(request, max_bytes), max_bytes), None
    if media_type != "multipart/form-data":
        raise verification.UnverifiablePdf(
            "send the PDF as application/pdf or as the multipart field 'file'", kind="no-file"
        )
    form = await request.form(max_files=2, max_fields=4, max_part_size=RECEIPT_BYTES)
    upload, receipt = form.get("file"), form.get("receipt")
    if not isinstance(upload, UploadFile):
        raise verification.UnverifiablePdf("no PDF in the multipart field 'file'", kind="no-file")
    extra = await receipt.read(RECEIPT_BYTES) if isinstance(receipt, UploadFile) and receipt.filename else None
    return _bounded(upload, max_bytes), extra or None


async def _streamed(request: Request, max_bytes: int) -> UploadFile:
    """The body, refused as soon as it passes ``max_bytes``."""
    spool = cast(BinaryIO, SpooledTemporaryFile(max_size=_IN_MEMORY))  # noqa: SIM115  (closed by _verified)
    upload = UploadFile(spool, size=0)
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > max_bytes:
            await upload.close()
            raise _too_large(max_bytes)
        await upload.write(piece)
    await upload.seek(0)
    return upload


def _bounded(upload: UploadFile, max_bytes: int) -> UploadFile:
    if not upload.size:
        raise verification.UnverifiablePdf("the file is empty", kind="empty")
    if upload.size > max_bytes:
        raise _too_large(max_bytes)
    return upload


def _too_large(max_bytes: int) -> verification.UnverifiablePdf:
    limit = size_text(max_bytes)
    return verification.UnverifiablePdf(f"the PDF is larger than {limit}", kind="too-large", limit=limit)


async def _verified(
    request: Request, rt: Runtime, log: LogService, upload: UploadFile, receipt: bytes | None
) -> dict[str, Any]:
    """The report, once one of the few verifications allowed at once may start (else Busy, a 503)."""
    gate: Gate = request.app.state.verifications
    try:
        async with gate.turn():
            data = await upload.read()
            state = request.app.state
            return await run_in_threadpool(_report, rt, log, state.ca, state.priming, data, receipt)
    finally:
        await upload.close()


def _report(
    rt: Runtime,
    log: LogService,
    authority: CertificateAuthority,
    priming: Priming,
    data: bytes,
    receipt: bytes | None,
) -> dict[str, Any]:
    trust, revocation = [], NO_SOURCES
    with contextlib.suppress(NotInitialised):
        ca = authority.get(rt).authority
        trust = [ca.root]
        revocation = _current_revocation(rt, ca)
        priming.refresh(rt, trust, revocation)

    def lookup(signature_sha256: str) -> dict[str, Any] | None:
        with rt.readers() as session:
            return verification.logged(session, log.reader, signature_sha256)

    return verification.bureau_report(
        data,
        trust=trust,
        receipt=receipt,
        log_keys=[parse_vkey(log.vkey)],
        lookup=lookup,
        revocation=revocation,
        memory=rt.settings.signer.verify_memory_bytes,
    )


def _current_revocation(rt: Runtime, ca: Authority) -> Sources:
    """The service is the issuer: its own current CRL and ARL answer for its certificates, as fetching them from
    the pointers in those certificates would, and certificates of other issuers are fetched from theirs."""
    with rt.sessions() as session:
        crls = [crl.current(session, issuer, rt.clock.now()) for issuer in ca.revocation_issuers(rt.settings.ca)]
    return Sources(crls=crls, online=rt.settings.signer.fetch_revocation)
