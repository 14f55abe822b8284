"""Alarms for what did not happen: a machine whose terminal stopped calling, a stamp whose photo never came.

Run on a schedule; each silence and each missing photo is alarmed once, so a scan every minute raises no flood.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.models import Certificate
from physical_seal.alarms import raise_alarm
from physical_seal.models import Alarm, Machine, MachineEvent

SILENT = "machine-silent"
PHOTO_MISSING = "photo-missing"


def scan(session: Session, now: dt.datetime, *, silent_after: dt.timedelta, photo_within: dt.timedelta) -> list[Alarm]:
    """The alarms raised by this scan; the caller commits."""
    raised: list[Alarm] = []
    since = now - silent_after
    heard = func.coalesce(Machine.last_seen_at, Certificate.created_at)  # never seen: since its enrolment
    silent = (
        select(Machine, heard)
        .outerjoin(Certificate, Certificate.id == Machine.certificate_id)
        .where(Machine.status == "active", Machine.silence_alarmed_at.is_(None), heard < since)
    )
    for machine, enrolled in session.execute(silent.order_by(Machine.id)).all():
        last = machine.last_seen_at or enrolled
        detail = f"nothing heard from the machine since {last:%Y-%m-%d %H:%M} UTC"
        raised.append(raise_alarm(session, machine.id, SILENT, "service", detail, now))
        machine.silence_alarmed_at = now
    alarmed = select(Alarm.event_id).where(Alarm.code == PHOTO_MISSING, Alarm.event_id.is_not(None))
    late = select(MachineEvent).where(
        MachineEvent.kind == "stamp",
        MachineEvent.photo_received_at.is_(None),
        MachineEvent.received_at < now - photo_within,
        MachineEvent.id.not_in(alarmed),
    )
    for event in session.scalars(late.order_by(MachineEvent.id)):
        detail = f"no photo of stamp {event.counter}, received {event.received_at:%Y-%m-%d %H:%M} UTC"
        raised.append(
            raise_alarm(
                session,
                event.machine_id,
                PHOTO_MISSING,
                "service",
                detail,
                now,
                event_id=event.id,
                authorisation_id=event.authorisation_id,
            )
        )
    return raised
