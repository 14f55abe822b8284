"""Authorisations: what the service signs for a machine to stamp one approved document, where, when, how often
and under whose hands; and their end by time.

Their end by use or by the machine's close event comes from the machine's signed events (``intake``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from ca.models import Seal
from ca.seals import SealForm, SealStatus
from core.errors import Conflict, Invalid
from ledger.append import append
from ledger.entry import Event
from physical_seal import structures
from physical_seal.machines import (
    LIVE,
    AuthorisationState,
    MachineStatus,
    custodian_names,
    service_chain,
)
from physical_seal.machines import authorisation_subject as subject
from physical_seal.models import Authorisation, Machine, MachineSlot

_SHA256 = re.compile(r"[0-9a-f]{64}")
IN_SERVICE = (MachineStatus.REGISTERED, MachineStatus.ACTIVE)


def machine_for(session: Session, organisation_id: int, seal_kind: str) -> tuple[Machine, int] | None:
    """A machine of the organisation in service (active, or registered and waiting for its enrolment, which the
    authorisation waits for too) holding an active seal of that kind, and its slot: the lowest machine id, then
    slot, so the same request always goes to the same machine."""
    found = session.execute(
        select(Machine, MachineSlot.slot)
        .join(MachineSlot, MachineSlot.machine_id == Machine.id)
        .join(Seal, Seal.id == MachineSlot.seal_id)
        .where(
            Machine.organisation_id == organisation_id,
            Machine.status.in_(IN_SERVICE),
            Seal.status == SealStatus.ACTIVE,
            Seal.kind == seal_kind,
            Seal.form.in_([SealForm.PHYSICAL, SealForm.BOTH]),
        )
        .order_by(Machine.id, MachineSlot.slot)
        .limit(1)
    ).first()
    return None if found is None else (found[0], found[1])


def _moment(at: dt.datetime) -> int:
    return int(at.timestamp())


def issue(
    session: Session,
    authority: Authority,
    *,
    machine: Machine,
    slot: int,
    request_id: int,
    request_number: str,
    document_sha256: str,
    uses: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    now: dt.datetime,
    actor: str = "system",
) -> Authorisation:
    """Sign and store an authorisation; the times are kept to the second, as signed."""
    if machine.status not in IN_SERVICE:
        raise Conflict(f"machine {machine.id} is {machine.status}: nothing is authorised to it")
    if not 1 <= uses <= structures.MAX_USES:
        raise Invalid(f"an authorisation allows 1 to {structures.MAX_USES} uses")
    nbf, exp = _moment(not_before), _moment(not_after)
    if exp <= nbf:
        raise Invalid("an authorisation's window ends after it begins")
    if not _SHA256.fullmatch(document_sha256):
        raise Invalid("the document's SHA-256 is 64 lower-case hex digits")
    if not 0 < len(request_number) <= 32:
        raise Invalid("a request number is 1 to 32 characters")
    if session.get(MachineSlot, (machine.id, slot)) is None:
        raise Invalid(f"machine {machine.id} has no slot {slot}")
    signed = structures.Authorisation(
        id=uuid.uuid4().hex,
        machine=machine.id,
        slot=slot,
        request=request_number,
        doc=bytes.fromhex(document_sha256),
        uses=uses,
        nbf=nbf,
        exp=exp,
        fence=(machine.latitude_e7, machine.longitude_e7, machine.radius_m),
        custodians=tuple(custodian_names(session, machine)),
        epoch=machine.epoch,
        iat=_moment(now),
    )
    cose = structures.sign(signed, authority.authorisation.key, service_chain(authority))
    row = Authorisation(
        id=signed.id,
        machine_id=machine.id,
        slot=slot,
        request_id=request_id,
        request_number=request_number,
        document_sha256=document_sha256,
        uses=uses,
        used=0,
        epoch=machine.epoch,
        not_before=dt.datetime.fromtimestamp(nbf, dt.UTC),
        not_after=dt.datetime.fromtimestamp(exp, dt.UTC),
        state=AuthorisationState.ISSUED,
        cose=cose,
        issued_at=now,
    )
    session.add(row)
    session.flush()
    data = {
        "machine": machine.id,
        "slot": slot,
        "request": request_number,
        "document_sha256": document_sha256,
        "uses": uses,
        "not_before": row.not_before.isoformat(),
        "not_after": row.not_after.isoformat(),
        "epoch": machine.epoch,
        "sha256": hashlib.sha256(cose).hexdigest(),
    }
    append(session, Event("machine.authorisation.issued", subject(row.id), actor, data, now))
    return row


def outstanding(session: Session, machine_id: str, now: dt.datetime) -> list[Authorisation]:
    """What the terminal should have loaded in the machine now, oldest first."""
    return list(
        session.scalars(
            select(Authorisation)
            .join(Machine, Machine.id == Authorisation.machine_id)
            .where(
                Authorisation.machine_id == machine_id,
                Authorisation.state.in_([str(s) for s in LIVE]),
                Authorisation.not_after > now,
                Authorisation.epoch == Machine.epoch,
            )
            .order_by(Authorisation.issued_at, Authorisation.id)
        )
    )


def expire_due(session: Session, now: dt.datetime) -> list[Authorisation]:
    """Authorisations whose window has closed, each marked expired once (rows claimed with SKIP LOCKED, so
    processes scanning together expire each once); the workflow moves their requests on."""
    due = list(
        session.scalars(
            select(Authorisation)
            .where(Authorisation.state.in_([str(s) for s in LIVE]), Authorisation.not_after <= now)
            .order_by(Authorisation.not_after, Authorisation.id)
            .with_for_update(skip_locked=True)
        )
    )
    for authorisation in due:
        authorisation.state, authorisation.finished_at = AuthorisationState.EXPIRED, now
        data = {
            "machine": authorisation.machine_id,
            "request": authorisation.request_number,
            "used": authorisation.used,
        }
        append(session, Event("machine.authorisation.expired", subject(authorisation.id), "system", data, now))
    return due
