"""The seal machines as their keepers see them: each machine's state, seals and open alarms; one machine's
outstanding authorisations, alarms and stamps of a day, each with the request behind it.

Who sees which machine, and who may acknowledge its alarms, is physical_seal's to say; this adds the requests.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Seal
from identity.auth import Principal
from identity.models import Organisation
from physical_seal import alarms, authorisations, machines, stamps, views
from physical_seal.models import Machine
from workflow.models import SealRequest
from workflow.supervision import day_bounds

ALARMS_SHOWN = 200


def board(session: Session, who: Principal) -> list[dict[str, Any]]:
    """The machines the principal keeps or may see, each with its seals by name and its open alarms counted."""
    kept = machines.listing(session, who)
    opened = alarms.listing(session, who, open_only=True, machine_id=None, limit=alarms.MAX_LISTING)
    counts = Counter(alarm.machine_id for alarm in opened)
    return [_shown(session, machine) | {"open_alarms": counts[machine.id]} for machine in kept]


def _shown(session: Session, machine: Machine) -> dict[str, Any]:
    shown = views.machine(session, machine)
    seal_ids = [slot["seal"] for slot in shown["slots"]]
    names = dict(session.execute(select(Seal.id, Seal.name).where(Seal.id.in_(seal_ids))).all()) if seal_ids else {}
    organisation = session.get_one(Organisation, machine.organisation_id)
    return shown | {
        "organisation_name": organisation.name,
        "slots": [slot | {"seal_name": names.get(slot["seal"], str(slot["seal"]))} for slot in shown["slots"]],
    }


def machine_day(session: Session, machine_id: str, who: Principal, now: dt.datetime, day: dt.date) -> dict[str, Any]:
    """One machine (Forbidden to those who may not see it): its outstanding authorisations, its alarms (open
    ones first), whether the principal may acknowledge them, and its stamps of ``day`` in China."""
    machine = machines.get(session, machine_id, who)
    outstanding = authorisations.outstanding(session, machine_id, now)
    found = alarms.listing(session, who, open_only=False, machine_id=machine_id, limit=ALARMS_SHOWN)
    found.sort(key=lambda alarm: alarm.acknowledged_at is not None)  # stable: newest first within each
    start, end = day_bounds(day)
    stamped = stamps.between(session, [machine_id], start, end)
    request_ids = {a.request_id for a in outstanding} | {a.request_id for _, a in stamped if a is not None}
    public: dict[int, str] = {}
    if request_ids:
        rows = session.execute(select(SealRequest.id, SealRequest.public_id).where(SealRequest.id.in_(request_ids)))
        public = {request_id: public_id for request_id, public_id in rows}
    return {
        "machine": _shown(session, machine),
        "outstanding": [
            {
                "request_id": a.request_id,
                "number": a.request_number,
                "slot": a.slot,
                "uses_left": a.uses - a.used,
                "uses": a.uses,
                "not_after": a.not_after,
                "state": a.state,
            }
            for a in outstanding
        ],
        "alarms": views.alarms(session, found),
        "may_acknowledge": alarms.may_acknowledge(session, who, machine),
        "day": day,
        "stamps": [
            {
                "at": event.time,
                "counter": event.counter,
                "use": event.use,
                "custodian": event.custodian,
                "request_id": authorisation.request_id if authorisation else None,
                "number": authorisation.request_number if authorisation else None,
                "public_id": public.get(authorisation.request_id) if authorisation else None,
                "photo": event.photo_sha256 if event.photo_received_at is not None else None,
            }
            for event, authorisation in stamped
        ],
    }
