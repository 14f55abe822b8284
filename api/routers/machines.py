"""Seal machines, for their organisation's seal administrators (register, enrol, suspend, retire, revoke every
authorisation at once), custodians and inspectors (see them), and the alarms raised about them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CaDep, PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from api.schemas_machines import (
    AcknowledgeIn,
    AlarmOut,
    EnrolmentCodeOut,
    EpochOut,
    MachineIn,
    MachineOut,
    ReasonIn,
    RegisteredOut,
)
from physical_seal import administration, alarms, machines, views
from workflow import physical

router = APIRouter(tags=["machines"])


@router.post("/api/v1/machines", response_model=RegisteredOut, status_code=201)
def register(body: MachineIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    machine, code = administration.register(
        session,
        who,
        machine_id=body.id,
        organisation_code=body.organisation,
        name=body.name,
        slots=[(s.slot, s.seal) for s in body.slots],
        latitude=body.latitude,
        longitude=body.longitude,
        radius_m=body.radius_m,
        custodians=body.custodians,
        now=rt.clock.now(),
        code_hours=rt.settings.machines.enrolment_code_hours,
    )
    session.commit()
    shown = views.machine(session, machine)
    return {**shown, "enrolment_code": code, "enrolment_expires_at": machine.enrolment_expires_at}


@router.get("/api/v1/machines", response_model=list[MachineOut])
def listing(who: PrincipalDep, session: ReadSessionDep) -> list[dict[str, Any]]:
    return [views.machine(session, m) for m in machines.listing(session, who)]


@router.get("/api/v1/machines/{machine_id}", response_model=MachineOut)
def one(machine_id: str, who: PrincipalDep, session: ReadSessionDep) -> dict[str, Any]:
    return views.machine(session, machines.get(session, machine_id, who))


@router.post("/api/v1/machines/{machine_id}/enrolment-code", response_model=EnrolmentCodeOut)
def enrolment_code(machine_id: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    hours = rt.settings.machines.enrolment_code_hours
    machine, code = administration.new_enrolment_code(session, who, machine_id, rt.clock.now(), hours)
    session.commit()
    return {"machine": machine.id, "enrolment_code": code, "expires_at": machine.enrolment_expires_at}


@router.post("/api/v1/machines/{machine_id}/suspend", response_model=MachineOut)
def suspend(machine_id: str, body: ReasonIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    machine = machines.suspend(session, machine_id, who, body.reason, rt.clock.now())
    session.commit()
    return views.machine(session, machine)


@router.post("/api/v1/machines/{machine_id}/resume", response_model=MachineOut)
def resume(machine_id: str, body: ReasonIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    machine = machines.resume(session, machine_id, who, body.reason, rt.clock.now())
    session.commit()
    return views.machine(session, machine)


@router.post("/api/v1/machines/{machine_id}/retire", response_model=MachineOut)
def retire(
    machine_id: str, body: ReasonIn, who: PrincipalDep, rt: RuntimeDep, ca: CaDep, session: SessionDep
) -> dict[str, Any]:
    webhook = rt.settings.workflow.notification_webhook
    machine = physical.retire(
        session, ca.authority, rt.settings.ca, machine_id, who, body.reason, rt.clock.now(), webhook
    )
    return views.machine(session, machine)


@router.post("/api/v1/machines/{machine_id}/revoke-epoch", response_model=EpochOut)
def revoke_epoch(
    machine_id: str, body: ReasonIn, who: PrincipalDep, rt: RuntimeDep, ca: CaDep, session: SessionDep
) -> dict[str, Any]:
    """Cancel every outstanding authorisation of the machine: the service refuses their stamps from now on, and
    the machine itself once its terminal has loaded the new epoch."""
    webhook = rt.settings.workflow.notification_webhook
    revoked = physical.revoke_epoch(session, ca.authority, machine_id, who, body.reason, rt.clock.now(), webhook)
    return {"machine": machine_id, "epoch": revoked.epoch, "cancelled": [a.id for a in revoked.cancelled]}


@router.get("/api/v1/alarms", response_model=list[AlarmOut])
def alarm_list(
    who: PrincipalDep, session: ReadSessionDep, open_only: bool = True, machine: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    found = alarms.listing(session, who, open_only=open_only, machine_id=machine, limit=max(1, min(limit, 1000)))
    return views.alarms(session, found)


@router.post("/api/v1/alarms/{alarm_id}/acknowledge", response_model=AlarmOut)
def acknowledge(
    alarm_id: RowId, body: AcknowledgeIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    alarm = alarms.acknowledge(session, alarm_id, who, body.comment, rt.clock.now())
    session.commit()
    return views.alarms(session, [alarm])[0]
