"""The stamps machines reported, by machine and time: a machine's day for its keepers, a district's for its
inspectors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from physical_seal.models import Authorisation, MachineEvent

MAX_STAMPS = 2000


def between(
    session: Session,
    machine_ids: Collection[str],
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    newest_first: bool = False,
) -> list[tuple[MachineEvent, Authorisation | None]]:
    """Stamps made from ``start`` until before ``end`` (by the machine's signed time; no end: up to the latest)
    on these machines, each with the authorisation it was made under (None for a stamp made without one); at
    most MAX_STAMPS, oldest first unless ``newest_first``."""
    if not machine_ids:
        return []
    query = select(MachineEvent, Authorisation).outerjoin(
        Authorisation, Authorisation.id == MachineEvent.authorisation_id
    )
    query = query.where(
        MachineEvent.kind == "stamp", MachineEvent.machine_id.in_(list(machine_ids)), MachineEvent.time >= start
    )
    if end is not None:
        query = query.where(MachineEvent.time < end)
    order = (MachineEvent.time, MachineEvent.machine_id, MachineEvent.counter)
    query = query.order_by(*(c.desc() for c in order) if newest_first else order)
    rows = session.execute(query.limit(MAX_STAMPS)).all()
    return [(event, authorisation) for event, authorisation in rows]
