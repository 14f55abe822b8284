"""Custodians and seal administrators at the seal machines: machines, outstanding authorisations, alarms, stamps
of the day."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import RowId, RuntimeDep
from api.pages.base import N_, FormDep, Keepers, redirect, render, text
from physical_seal import alarms
from workflow import machine_board
from workflow.supervision import china_day

router = APIRouter(include_in_schema=False)

# What the pages call a machine's state and its alarms (the codes are the protocol's).
STATES = {
    "registered": N_("waiting for enrolment"),
    "active": N_("in service"),
    "suspended": N_("suspended"),
    "retired": N_("retired"),
}
ALARMS = {
    "tamper": N_("the machine was tampered with"),
    "unauthorised-stamp": N_("a stamp without authorisation"),
    "uses-exceeded": N_("more stamps than authorised"),
    "outside-window": N_("a stamp outside the authorised time"),
    "outside-fence": N_("a stamp away from the machine's place"),
    "document-mismatch": N_("the paper is not the approved document"),
    "custodian-not-allowed": N_("a custodian not named in the authorisation"),
    "clock-drift": N_("the machine's clock is off"),
    "power-loss": N_("power lost while stamping"),
    "counter-gap": N_("records of the machine are missing"),
    "counter-replay": N_("a record of the machine was sent again"),
    "forged-event": N_("a forged record"),
    "revoked-machine": N_("a record from a retired machine"),
    "machine-silent": N_("the machine has not been heard from"),
    "photo-missing": N_("the photo of a stamp is missing"),
}


@router.get("/machines")
def machine_list(request: Request, who: Keepers, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        found = machine_board.board(session, who.principal)
    return render(request, who, "custodians/machines.html", machines=found, states=STATES)


@router.get("/machines/{machine_id}")
def machine_page(
    request: Request, who: Keepers, machine_id: str, rt: RuntimeDep, day: dt.date | None = None
) -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        shown = machine_board.machine_day(session, machine_id, who.principal, now, day or china_day(now))
    return render(
        request,
        who,
        "custodians/machine.html",
        states=STATES,
        alarm_names=ALARMS,
        today=china_day(now),
        **shown,
    )


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge(who: Keepers, alarm_id: RowId, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        alarm = alarms.acknowledge(session, alarm_id, who.principal, text(form, "comment"), rt.clock.now())
        session.commit()
        machine_id = alarm.machine_id
    return redirect(f"/machines/{machine_id}", done=N_("The alarm is acknowledged."))
