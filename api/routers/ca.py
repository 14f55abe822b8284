"""What relying parties fetch from the CA (/ca/...), and the certificate administrators' API."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Ca, CaDep, PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from ca import administration, crl, operations, seals, tsa
from ca.models import Certificate, Operation, Seal
from ca.seals import SealForm
from core.errors import Invalid
from core.runtime import Runtime

router = APIRouter()

OCSP_REQUEST, OCSP_RESPONSE = "application/ocsp-request", "application/ocsp-response"
TSA_QUERY, TSA_REPLY = "application/timestamp-query", "application/timestamp-reply"
MAX_BODY = 64 * 1024


class BadMediaType(Invalid):
    problem = "bad-media-type"


async def _body(request: Request, media_type: str) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != media_type:
        raise BadMediaType(f"send the body as {media_type}")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Invalid(f"a request body is at most {MAX_BODY} bytes")
    return body


CRL = "application/pkix-crl"


@router.get("/ca/crl", tags=["ca"], response_class=Response, responses={200: {"content": {CRL: {}}}})
def get_crl(ca: CaDep, rt: RuntimeDep, session: SessionDep) -> Response:
    """The issuing CA's full CRL (DER): revoked seal, device and service certificates."""
    der = crl.current(session, ca.authority.crl_issuer(rt.settings.ca), rt.clock.now())
    return Response(der, media_type=CRL, headers={"Cache-Control": "no-cache"})


@router.get("/ca/arl", tags=["ca"], response_class=Response, responses={200: {"content": {CRL: {}}}})
def get_arl(ca: CaDep, rt: RuntimeDep, session: SessionDep) -> Response:
    """The root's CA revocation list (DER), where the issuing CA's certificate points: revoked CA certificates."""
    der = crl.current(session, ca.authority.arl_issuer(rt.settings.ca), rt.clock.now())
    return Response(der, media_type=CRL, headers={"Cache-Control": "no-cache"})


@router.get("/ca/chain", tags=["ca"], response_class=Response)
def get_chain(ca: CaDep) -> Response:
    """The issuing CA and the root, PEM."""
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in ca.authority.chain)
    return Response(pem, media_type="application/pem-certificate-chain")


@router.get("/ca/issuer", tags=["ca"], response_class=Response)
def get_issuer(ca: CaDep) -> Response:
    """The issuing CA's certificate (DER), where seal certificates' caIssuers point."""
    der = ca.authority.issuing.certificate.public_bytes(Encoding.DER)
    return Response(der, media_type="application/pkix-cert")


@router.get("/ca/root", tags=["ca"], response_class=Response)
def get_root(ca: CaDep) -> Response:
    """The root's certificate (DER), where the issuing CA's caIssuers points; trust it only from elsewhere."""
    return Response(ca.authority.root.public_bytes(Encoding.DER), media_type="application/pkix-cert")


@router.post("/ca/ocsp", tags=["ca"], response_class=Response, responses={200: {"content": {OCSP_RESPONSE: {}}}})
async def post_ocsp(request: Request, ca: CaDep, rt: RuntimeDep) -> Response:
    return await _ocsp(await _body(request, OCSP_REQUEST), ca, rt)


@router.get("/ca/ocsp/{encoded:path}", tags=["ca"], response_class=Response)
async def get_ocsp(encoded: str, ca: CaDep, rt: RuntimeDep) -> Response:
    """RFC 6960 appendix A.1: the DER request, base64, as the last part of the path."""
    try:
        body = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        body = b""  # answered as a malformed request
    return await _ocsp(body, ca, rt)


async def _ocsp(body: bytes, ca: Ca, rt: Runtime) -> Response:
    der = await run_in_threadpool(ca.responder.respond, body, rt.clock.now())
    return Response(der, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-store"})


@router.post("/ca/tsa", tags=["ca"], response_class=Response, responses={200: {"content": {TSA_REPLY: {}}}})
async def post_tsa(request: Request, ca: CaDep) -> Response:
    body = await _body(request, TSA_QUERY)
    der = await run_in_threadpool(tsa.respond, ca.tsa, body)
    return Response(der, media_type=TSA_REPLY, headers={"Cache-Control": "no-store"})


class SealIn(BaseModel):
    organisation: str = Field(description="organisation code")
    kind: str = Field(min_length=1, max_length=40, description="seal kind of the catalogue, e.g. committee")
    form: SealForm
    name: str = Field(min_length=1, max_length=100, description="the seal's name, CN of its certificate")


class OperationIn(BaseModel):
    seal: int
    kind: operations.Kind
    reason: str | None = Field(default=None, description="RFC 5280 reason, for a revocation")


def _seal_view(seal: Seal, current: Certificate | None) -> dict[str, Any]:
    return {
        "id": seal.id,
        "kind": seal.kind,
        "form": seal.form,
        "name": seal.name,
        "status": seal.status,
        "certificate": _certificate_view(current) if current is not None else None,
    }


def _certificate_view(c: Certificate) -> dict[str, Any]:
    return {
        "serial": c.serial,
        "role": c.role,
        "subject": c.subject,
        "sha256": c.sha256,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "seal": c.seal_id,
        "revoked_at": c.revoked_at,
        "revocation_reason": c.revocation_reason,
        "pem": x509.load_der_x509_certificate(c.der).public_bytes(Encoding.PEM).decode(),
    }


def _operation_view(op: Operation) -> dict[str, Any]:
    return {
        "id": op.id,
        "kind": op.kind,
        "state": op.state,
        "seal": op.seal_id,
        "reason": op.reason,
        "requested_at": op.requested_at,
        "decided_at": op.decided_at,
        "certificate": op.result_id,
    }


@router.post("/api/v1/seals", tags=["certificates"], status_code=201)
def add_seal(body: SealIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    seal = administration.add_seal(session, who, body.organisation, body.kind, body.form, body.name, rt.clock.now())
    session.commit()
    return _seal_view(seal, None)


@router.post("/api/v1/seals/{seal_id}/suspend", tags=["certificates"], status_code=202)
def suspend_seal(seal_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """Ask to stop a seal's use (a lost machine, a dispute); it stops when a second certificate administrator
    approves. Its certificate stays valid; revocation is an operation of its own."""
    op = operations.ask(session, who, operations.Kind.SUSPEND, seal_id, rt.clock.now())
    session.commit()
    return _operation_view(op)


@router.post("/api/v1/seals/{seal_id}/resume", tags=["certificates"], status_code=202)
def resume_seal(seal_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """Ask to resume a suspended seal; it resumes when a second certificate administrator approves."""
    op = operations.ask(session, who, operations.Kind.RESUME, seal_id, rt.clock.now())
    session.commit()
    return _operation_view(op)


@router.get("/api/v1/seals/{seal_id}", tags=["certificates"])
def get_seal(seal_id: RowId, who: PrincipalDep, session: ReadSessionDep) -> dict[str, Any]:
    return _seal_view(*seals.with_certificate(session, seal_id))


@router.get("/api/v1/certificates", tags=["certificates"])
def list_certificates(
    who: PrincipalDep,
    rt: RuntimeDep,
    session: ReadSessionDep,
    expiring_within_days: int | None = Query(default=None, ge=1, le=3650),
) -> list[dict[str, Any]]:
    """Certificates in use; with ``expiring_within_days``, those that expire within that many days."""
    now = rt.clock.now()
    days = expiring_within_days or 365 * 100
    return [_certificate_view(c) for c in seals.expiring(session, now, days)]


@router.post("/api/v1/certificates/operations", tags=["certificates"], status_code=202)
def ask_operation(body: OperationIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """Ask for an issuance, renewal, revocation, suspension or resumption; it runs when a second certificate
    administrator approves."""
    op = operations.ask(session, who, body.kind, body.seal, rt.clock.now(), reason=body.reason)
    session.commit()
    return _operation_view(op)


@router.post("/api/v1/certificates/operations/{op_id}/approve", tags=["certificates"])
def approve_operation(
    op_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep, ca: CaDep
) -> dict[str, Any]:
    op = operations.approve(session, who, op_id, rt.keystore, ca.authority, rt.settings, rt.clock.now())
    session.commit()
    ca.responder.book.invalidate()
    return _operation_view(op)


@router.post("/api/v1/certificates/operations/{op_id}/reject", tags=["certificates"])
def reject_operation(op_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    op = operations.reject(session, who, op_id, rt.clock.now())
    session.commit()
    return _operation_view(op)


@router.get("/api/v1/certificates/operations", tags=["certificates"])
def list_operations(
    who: PrincipalDep, session: ReadSessionDep, state: operations.State | None = None
) -> list[dict[str, Any]]:
    return [_operation_view(op) for op in operations.listed(session, who, state)]
