"""Seal machines for seal administrators and administrators: registering one (its one-time enrolment code shown
once), suspending, resuming and retiring it, and revoking every authorisation it holds at once (a new epoch)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import CaDep, RuntimeDep
from api.pages.administrators import MachinesAdmin
from api.pages.base import N_, FormDep, Viewer, redirect, render, text
from ca import seals
from ca.models import Certificate, Seal
from core.errors import Invalid
from core.runtime import Runtime
from identity import admin, directory
from identity.posts import OrgKind, Post
from physical_seal import administration, machines, views
from workflow import physical

router = APIRouter(include_in_schema=False)
STATES = (N_("registered"), N_("active"), N_("suspended"), N_("retired"))
SEATS = (OrgKind.TOWNSHIP, OrgKind.VILLAGE, OrgKind.COMMUNITY)  # where seal machines stand


@router.get("/admin/machines")
def machine_list(request: Request, who: MachinesAdmin, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        shown = [views.machine(session, m) for m in machines.listing(session, who.principal)]
        every_seal = seals.listing(session)
        context = _register_form(session, who, rt, every_seal)
    names = {seal.id: seal.name for seal, _, _ in every_seal}
    return render(request, who, "admin/machines.html", machines=shown, seal_names=names, **context)


def _register_form(
    session: Session, who: Viewer, rt: Runtime, every_seal: list[tuple[Seal, str, Certificate | None]]
) -> dict[str, Any]:
    """The organisations the viewer sets machines up for, their physical seals and their custodians."""
    codes = [p.organisation_code for p in who.principal.posts if p.post is Post.SEAL_ADMIN]
    if who.holds_any("admin"):
        codes += [o.code for _, o in admin.list_organisations(session, who.principal) if o.kind in SEATS]
    codes = list(dict.fromkeys(codes))
    physical_seals = [
        {"id": seal.id, "name": seal.name, "organisation": code}
        for seal, code, _ in every_seal
        if code in codes and seal.form != seals.SealForm.ELECTRONIC
    ]
    now = rt.clock.now()
    custodians = sorted({u.username for code in codes for u in directory.holders(session, code, Post.CUSTODIAN, now)})
    return {"organisations": codes, "physical_seals": physical_seals, "custodians": custodians}


@router.post("/admin/machines")
def register(request: Request, who: MachinesAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    slots = [(number, _int(seal, "seal")) for number, seal in enumerate(form.getlist("seal"), start=1)]
    with rt.sessions() as session:
        machine, code = administration.register(
            session,
            who.principal,
            machine_id=text(form, "id"),
            organisation_code=text(form, "organisation"),
            name=text(form, "name"),
            slots=slots,
            latitude=_float(text(form, "latitude"), "latitude"),
            longitude=_float(text(form, "longitude"), "longitude"),
            radius_m=_int(text(form, "radius_m") or "200", "radius"),
            custodians=[text(form, "custodian1"), text(form, "custodian2")],
            now=rt.clock.now(),
            code_hours=rt.settings.machines.enrolment_code_hours,
        )
        session.commit()
        shown = views.machine(session, machine)
        expires = machine.enrolment_expires_at
    # The code is shown on this answer only: it is stored as a hash, and a redirect would carry it in a URL.
    return render(request, who, "admin/machine_registered.html", machine=shown, code=code, expires=expires)


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a whole number") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a number") from None


def _reason(form: FormData) -> str:
    reason = text(form, "reason")
    if not reason:
        raise Invalid("say why, for the log")
    return reason


@router.post("/admin/machines/{machine_id}/suspend")
def suspend(machine_id: str, who: MachinesAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        machines.suspend(session, machine_id, who.principal, _reason(form), rt.clock.now())
        session.commit()
    return redirect("/admin/machines", done=N_("The machine was suspended: no authorisation goes to it."))


@router.post("/admin/machines/{machine_id}/resume")
def resume(machine_id: str, who: MachinesAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        machines.resume(session, machine_id, who.principal, _reason(form), rt.clock.now())
        session.commit()
    return redirect("/admin/machines", done=N_("The machine was resumed."))


@router.post("/admin/machines/{machine_id}/retire")
def retire(machine_id: str, who: MachinesAdmin, form: FormDep, rt: RuntimeDep, ca: CaDep) -> Response:
    webhook = rt.settings.workflow.notification_webhook
    with rt.sessions() as session:
        physical.retire(
            session, ca.authority, rt.settings.ca, machine_id, who.principal, _reason(form), rt.clock.now(), webhook
        )
    return redirect("/admin/machines", done=N_("The machine was retired and its certificate revoked."))


@router.post("/admin/machines/{machine_id}/revoke-epoch")
def revoke_epoch(machine_id: str, who: MachinesAdmin, form: FormDep, rt: RuntimeDep, ca: CaDep) -> Response:
    webhook = rt.settings.workflow.notification_webhook
    with rt.sessions() as session:
        physical.revoke_epoch(session, ca.authority, machine_id, who.principal, _reason(form), rt.clock.now(), webhook)
    return redirect("/admin/machines", done=N_("Every authorisation the machine held was revoked."))
