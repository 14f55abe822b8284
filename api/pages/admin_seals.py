"""Seals and their certificates: certificate administrators add seals and ask for issuance, renewal or revocation,
or for a seal's suspension or resumption, which runs only once a second certificate administrator approves it
(``ca.operations``); administrators look on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import CaDep, RowId, RuntimeDep
from api.pages.administrators import CertAdmin, SealsAdmin
from api.pages.base import N_, FormDep, redirect, render, text
from ca import administration, operations, seals
from ca.models import Certificate, Operation, Seal
from ca.seals import SealForm
from core.errors import Invalid
from identity import directory
from workflow import catalogs

router = APIRouter(include_in_schema=False)
LABELS = (
    N_("electronic"),
    N_("physical"),
    N_("both"),
    N_("active"),
    N_("suspended"),
    N_("valid"),
    N_("expired"),
    N_("revoked"),
    N_("issue"),
    N_("renew"),
    N_("revoke"),
    N_("suspend"),
    N_("resume"),
    N_("executed"),
    N_("rejected"),
)
REASONS = (
    N_("unspecified"),
    N_("key_compromise"),
    N_("ca_compromise"),
    N_("affiliation_changed"),
    N_("superseded"),
    N_("cessation_of_operation"),
    N_("certificate_hold"),
    N_("privilege_withdrawn"),
)
HISTORY = 20


@router.get("/admin/seals")
def seal_list(request: Request, who: SealsAdmin, rt: RuntimeDep) -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        shown = [_seal(seal, code, certificate, now) for seal, code, certificate in seals.listing(session)]
        _, catalog = catalogs.current(session)
        kinds = {code: kind.name for code, kind in catalog.seals.items()}
        tree = [{"depth": d, "code": o.code, "name": o.name} for d, o in directory.organisation_tree(session)]
    return render(
        request,
        who,
        "admin/seals.html",
        seals=shown,
        kinds=kinds,
        tree=tree,
        forms=[str(f) for f in SealForm],
        operation_kinds=[str(k) for k in operations.Kind],
        reasons=seals.REVOCATION_REASONS,
    )


def _seal(seal: Seal, organisation: str, certificate: Certificate | None, now: dt.datetime) -> dict[str, Any]:
    shown = None
    if certificate is not None:
        status = "revoked" if certificate.revoked_at else "expired" if certificate.not_after <= now else "valid"
        shown = {"serial": certificate.serial, "not_after": certificate.not_after, "status": status}
    return {
        "id": seal.id,
        "organisation": organisation,
        "kind": seal.kind,
        "name": seal.name,
        "form": seal.form,
        "status": seal.status,
        "certificate": shown,
    }


@router.post("/admin/seals")
def add_seal(who: CertAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    try:
        shape = SealForm(text(form, "form"))
    except ValueError:
        raise Invalid("choose whether the seal is electronic, physical or both") from None
    with rt.sessions() as session:
        administration.add_seal(
            session,
            who.principal,
            text(form, "organisation"),
            text(form, "kind"),
            shape,
            text(form, "name"),
            rt.clock.now(),
        )
        session.commit()
    return redirect("/admin/seals", done=N_("The seal was added."))


@router.post("/admin/seals/{seal_id}/operations")
def ask_operation(seal_id: RowId, who: CertAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    try:
        kind = operations.Kind(text(form, "kind"))
    except ValueError:
        raise Invalid("choose issue, renew, revoke, suspend or resume") from None
    with rt.sessions() as session:
        operations.ask(session, who.principal, kind, seal_id, rt.clock.now(), reason=text(form, "reason") or None)
        session.commit()
    return redirect("/admin/certificates", done=N_("Asked: a second certificate administrator must approve it."))


@router.get("/admin/certificates")
def certificate_operations(request: Request, who: SealsAdmin, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        asked = operations.listed(session, who.principal, None)
        pending = [op for op in asked if op.state == operations.State.PENDING]
        decided = [op for op in reversed(asked) if op.state != operations.State.PENDING][:HISTORY]
        names = operations.people(session, pending + decided)
        by_id = {seal.id: {"name": seal.name, "organisation": code} for seal, code, _ in seals.listing(session)}
        me = who.principal.user_id
        waiting = [_operation(op, names, by_id, me) for op in pending]
        done = [_operation(op, names, by_id, me) for op in decided]
    return render(request, who, "admin/certificates.html", pending=waiting, decided=done)


def _operation(op: Operation, names: dict[int, str], seals_by_id: dict[int, dict[str, str]], me: int) -> dict[str, Any]:
    return {
        "id": op.id,
        "kind": op.kind,
        "state": op.state,
        "seal_id": op.seal_id,
        "seal": seals_by_id[op.seal_id],
        "reason": op.reason,
        "asked_by": names.get(op.requested_by_id, ""),
        "mine": op.requested_by_id == me,
        "requested_at": op.requested_at,
        "decided_by": names.get(op.decided_by_id, "") if op.decided_by_id else "",
        "decided_at": op.decided_at,
    }


@router.post("/admin/certificates/{operation_id}/approve")
def approve(operation_id: RowId, who: CertAdmin, form: FormDep, rt: RuntimeDep, ca: CaDep) -> Response:
    with rt.sessions() as session:
        operations.approve(session, who.principal, operation_id, rt.keystore, ca.authority, rt.settings, rt.clock.now())
        session.commit()
    ca.responder.book.invalidate()
    return redirect("/admin/certificates", done=N_("Approved: the operation was carried out."))


@router.post("/admin/certificates/{operation_id}/reject")
def reject(operation_id: RowId, who: CertAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        operations.reject(session, who.principal, operation_id, rt.clock.now())
        session.commit()
    return redirect("/admin/certificates", done=N_("The operation was rejected."))
