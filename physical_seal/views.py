"""Machines and alarms as the API shows them: names instead of ids, positions in degrees."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Certificate
from identity.models import Organisation, User
from physical_seal.models import Alarm, Machine, MachineSlot


def _usernames(session: Session, ids: list[int]) -> dict[int, str]:
    return (
        {i: name for i, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))} if ids else {}
    )


def machine(session: Session, row: Machine) -> dict[str, Any]:
    names = _usernames(session, list(row.custodians))
    slots = session.scalars(select(MachineSlot).where(MachineSlot.machine_id == row.id).order_by(MachineSlot.slot))
    certificate = session.get(Certificate, row.certificate_id) if row.certificate_id is not None else None
    organisation = session.get(Organisation, row.organisation_id)
    assert organisation is not None, "a machine belongs to an organisation that exists"
    return {
        "id": row.id,
        "organisation": organisation.code,
        "name": row.name,
        "status": row.status,
        "latitude": row.latitude_e7 / 1e7,
        "longitude": row.longitude_e7 / 1e7,
        "radius_m": row.radius_m,
        "custodians": [names.get(i, str(i)) for i in row.custodians],
        "slots": [{"slot": s.slot, "seal": s.seal_id} for s in slots],
        "epoch": row.epoch,
        "certificate_serial": certificate.serial if certificate is not None else None,
        "last_counter": row.last_counter,
        "last_seen_at": row.last_seen_at,
    }


def alarms(session: Session, rows: list[Alarm]) -> list[dict[str, Any]]:
    names = _usernames(session, [r.acknowledged_by_id for r in rows if r.acknowledged_by_id is not None])
    return [
        {
            "id": r.id,
            "machine": r.machine_id,
            "code": r.code,
            "source": r.source,
            "detail": r.detail,
            "authorisation": r.authorisation_id,
            "raised_at": r.raised_at,
            "acknowledged_at": r.acknowledged_at,
            "acknowledged_by": names.get(r.acknowledged_by_id) if r.acknowledged_by_id is not None else None,
            "comment": r.comment,
        }
        for r in rows
    ]
