"""What seal administrators do to machines through the API that ``machines`` does not check itself: registering
one and issuing it a new enrolment code. The CLI, run by the operator (the demo), calls ``machines`` directly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from identity.auth import Principal
from identity.models import Organisation
from physical_seal import access, machines
from physical_seal.models import Machine


def register(
    session: Session,
    who: Principal,
    *,
    machine_id: str,
    organisation_code: str,
    name: str,
    slots: Sequence[tuple[int, int]],
    latitude: float,
    longitude: float,
    radius_m: int,
    custodians: Sequence[str],
    now: dt.datetime,
    code_hours: float,
) -> tuple[Machine, str]:
    access.require_manage(who, organisation_code)
    return machines.register(
        session,
        machine_id=machine_id,
        organisation_code=organisation_code,
        name=name,
        slots=slots,
        latitude=latitude,
        longitude=longitude,
        radius_m=radius_m,
        custodians=custodians,
        now=now,
        actor=machines.actor_of(who),
        code_hours=code_hours,
    )


def new_enrolment_code(
    session: Session, who: Principal, machine_id: str, now: dt.datetime, code_hours: float
) -> tuple[Machine, str]:
    """A fresh code, for a machine never enrolled whose code expired, or one whose key must be replaced."""
    machine = machines.get(session, machine_id, who)
    organisation = session.get(Organisation, machine.organisation_id)
    assert organisation is not None, "a machine belongs to an organisation that exists"
    access.require_manage(who, organisation.code)
    code = machines.new_enrolment_code(session, machine_id, now, machines.actor_of(who), code_hours)
    return machine, code
