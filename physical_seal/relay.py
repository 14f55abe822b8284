"""What a machine's terminal asks of the service, behind the machine's credential: the authorisations to load
and the epoch in force, and the photos of its stamps (its events go through the workflow, which moves requests).

Each call counts as contact from the machine, so a terminal that keeps calling keeps its machine from being
alarmed as silent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from core.blobs import BlobStore
from physical_seal import authorisations, intake, machines
from physical_seal.models import Authorisation, Machine


@dataclass(frozen=True)
class Pulled:
    machine: str
    epoch: int
    epoch_notice: bytes | None  # none while the machine is at its first epoch
    authorisations: list[Authorisation]


def seen(session: Session, machine_id: str, credential: str, now: dt.datetime) -> Machine:
    """The machine behind the credential, marked as heard from now."""
    machine = machines.authenticate(session, machine_id, credential)
    machine.last_seen_at, machine.silence_alarmed_at = now, None
    return machine


def pull(session: Session, authority: Authority, machine_id: str, credential: str, now: dt.datetime) -> Pulled:
    """The authorisations a machine should hold now; nothing new goes to a machine that is not active."""
    machine = seen(session, machine_id, credential, now)
    rows = (
        authorisations.outstanding(session, machine.id, now) if machine.status == machines.MachineStatus.ACTIVE else []
    )
    notice = machines.epoch_notice(authority, machine, now) if machine.epoch > 0 else None
    return Pulled(machine.id, machine.epoch, notice, rows)


def photo(
    session: Session, blobs: BlobStore, machine_id: str, credential: str, counter: int, data: bytes, now: dt.datetime
) -> str:
    machine = seen(session, machine_id, credential, now)
    return intake.receive_photo(session, blobs, machine, counter, data, now)
