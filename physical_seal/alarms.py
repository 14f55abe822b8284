"""Alarms about seal machines: raised by a machine's own alarm event or by the service, open until a custodian, a
seal administrator or an administrator acknowledges them with a comment. Each step is logged under the machine.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, Invalid, NotFound
from identity import directory
from identity.auth import Principal
from identity.models import Organisation
from identity.posts import Post
from ledger.append import append
from ledger.entry import Event as LogEvent
from physical_seal import access
from physical_seal.machines import listing as listing_machines
from physical_seal.machines import subject
from physical_seal.models import Alarm, Machine, MachineEvent
from physical_seal.protocol.messages import MACHINE_ALARMS, SERVICE_ALARMS

SOURCES = frozenset({"machine", "service"})
MAX_COMMENT = 1000
MAX_LISTING = 1000


def raise_alarm(
    session: Session,
    machine_id: str,
    code: str,
    source: str,
    detail: str,
    now: dt.datetime,
    *,
    event_id: int | None = None,
    authorisation_id: str | None = None,
) -> Alarm:
    """Open an alarm and log it; a service alarm must be one of the protocol's codes, a machine's is its own."""
    if source not in SOURCES:
        raise Invalid(f"an alarm comes from the machine or the service, not {source!r}")
    if source == "service" and code not in SERVICE_ALARMS | MACHINE_ALARMS:
        raise Invalid(f"{code!r} is not an alarm code of the protocol")
    alarm = Alarm(
        machine_id=machine_id,
        code=code,
        source=source,
        detail=detail,
        event_id=event_id,
        authorisation_id=authorisation_id,
        raised_at=now,
    )
    session.add(alarm)
    session.flush()
    counter = session.get_one(MachineEvent, event_id).counter if event_id is not None else None
    append(session, raised(alarm, counter))
    return alarm


def raised(alarm: Alarm, counter: int | None) -> LogEvent:
    """The log entry of an alarm raised, with the counter of the machine event it is about (if any)."""
    data: dict[str, Any] = {
        "alarm": alarm.id,
        "code": alarm.code,
        "source": alarm.source,
        "detail": alarm.detail,
        "counter": counter,
        "authorisation": alarm.authorisation_id,
    }
    return LogEvent("machine.alarm.raised", subject(alarm.machine_id), "system", data, alarm.raised_at)


def acknowledge(session: Session, alarm_id: int, principal: Principal, comment: str, now: dt.datetime) -> Alarm:
    alarm = session.get(Alarm, alarm_id, with_for_update=True)
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id}")
    machine = session.get_one(Machine, alarm.machine_id)
    if not may_acknowledge(session, principal, machine):
        raise Forbidden("an alarm is acknowledged by a custodian or seal administrator of its machine, or an admin")
    text = comment.strip()
    if not 1 <= len(text) <= MAX_COMMENT:
        raise Invalid(f"an acknowledgement needs a comment of 1 to {MAX_COMMENT} characters")
    if alarm.acknowledged_at is not None:
        raise Conflict(f"alarm {alarm_id} was acknowledged already")
    alarm.acknowledged_by_id, alarm.acknowledged_at, alarm.comment = principal.user_id, now, text
    session.flush()
    data = {"alarm": alarm.id, "code": alarm.code, "comment": text}
    actor = f"user:{principal.username}"
    append(session, LogEvent("machine.alarm.acknowledged", subject(machine.id), actor, data, now))
    return alarm


def listing(
    session: Session, principal: Principal, *, open_only: bool, machine_id: str | None, limit: int
) -> list[Alarm]:
    """The alarms of the machines the principal may see, newest first."""
    if not 1 <= limit <= MAX_LISTING:
        raise Invalid(f"a listing holds 1 to {MAX_LISTING} alarms")
    visible = [m.id for m in listing_machines(session, principal) if machine_id is None or m.id == machine_id]
    if not visible:
        return []
    query = select(Alarm).where(Alarm.machine_id.in_(visible))
    if open_only:
        query = query.where(Alarm.acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)))


def recipients(session: Session, machine: Machine, now: dt.datetime) -> set[int]:
    """Who hears of an alarm: the machine's custodians, its organisation's seal administrators, and the inspectors
    of the organisations above it (posts held at ``now``)."""
    found = set(machine.custodians)
    chain = directory.ancestors(session, session.get_one(Organisation, machine.organisation_id))
    found |= {u.id for u in directory.holders(session, chain[0].code, Post.SEAL_ADMIN, now)}
    for org in chain[1:]:
        found |= {u.id for u in directory.holders(session, org.code, Post.INSPECTOR, now)}
    return found


def _machine_org(session: Session, machine: Machine) -> str:
    return session.get_one(Organisation, machine.organisation_id).code


def may_acknowledge(session: Session, principal: Principal, machine: Machine) -> bool:
    """Whether the principal may acknowledge the machine's alarms: a custodian of it or of its organisation, one
    of the organisation's seal administrators, or an administrator."""
    org = _machine_org(session, machine)
    return (
        principal.user_id in machine.custodians
        or principal.holds(Post.CUSTODIAN, org)
        or access.may_manage(principal, org)
    )
