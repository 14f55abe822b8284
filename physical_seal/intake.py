"""Events a machine signed, as its terminal uploads them: checked, stored once each, logged, and turned into alarms
and authorisation state.

An event that happened is kept even when it should not have happened (a stamp outside its window is evidence, not
noise): only events the machine did not sign, or a machine that may no longer speak, are refused.

A batch is checked in memory first, against the authorisations, stored counters and device key it loads once,
and then written together: one INSERT of its events, one of its alarms, one UPDATE of the machine and of each
authorisation it moved. What the checks refuse costs only its own event; past them an event holds nothing the
database should refuse, so the batch takes no SAVEPOINT per event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.blobs import BlobStore
from core.errors import DomainError, Invalid, NotFound
from ledger.append import append, append_many
from ledger.entry import Event as LogEvent
from ledger.entry import timestamp
from physical_seal import machines, structures
from physical_seal.alarms import raised
from physical_seal.cose import Sign1
from physical_seal.geo import distance_m
from physical_seal.machines import LIVE, AuthorisationState, MachineStatus, subject
from physical_seal.models import Alarm, Authorisation, Machine, MachineEvent
from physical_seal.structures import Event, StructureError, read, verify_with

Status = Literal["accepted", "duplicate", "refused"]
Transition = Literal["first-use", "spent", "closed"]
CODE_LENGTH = 40
_STOPPED = (MachineStatus.SUSPENDED, MachineStatus.RETIRED)
_VOID = (AuthorisationState.CANCELLED, AuthorisationState.EXPIRED, AuthorisationState.CLOSED)


@dataclass
class Outcome:
    """What became of one uploaded event, and the authorisation it moved, for the workflow to follow."""

    counter: int | None
    status: Status
    reason: str | None = None
    alarms: list[Alarm] = field(default_factory=list)
    transition: tuple[Authorisation, Transition] | None = None


# A log entry, or an alarm and the counter of its event: its entry names its id, known once it is inserted.
_Entry = LogEvent | tuple[Alarm, int | None]


@dataclass
class _Batch:
    session: Session
    machine: Machine
    now: dt.datetime
    device: ec.EllipticCurvePublicKey | None
    revoked: bool
    stored: dict[int, str]  # counter -> sha256 of the events already kept
    authorisations: dict[str, Authorisation]
    rows: list[dict[str, Any]] = field(default_factory=list)  # the machine_events to insert
    entries: list[_Entry] = field(default_factory=list)  # in log order
    terms: dict[str, structures.Authorisation] = field(default_factory=dict)

    def signed(self, authorisation: Authorisation) -> structures.Authorisation:
        """What the service signed for the machine (its fence, its custodians), which binds the machine, not
        what the machine's record says today."""
        if authorisation.id not in self.terms:
            self.terms[authorisation.id] = read(structures.Authorisation, authorisation.cose)[0]
        return self.terms[authorisation.id]


def ingest(session: Session, machine: Machine, events: Sequence[bytes], now: dt.datetime) -> list[Outcome]:
    """One outcome per event, in order; the caller commits."""
    session.flush()  # the caller's own changes to the machine survive the refresh
    session.refresh(machine, with_for_update=True)  # one upload of a machine at a time: its counter moves in order
    parsed = [_parse(data) for data in events]
    good = [p[0] for p in parsed if not isinstance(p, StructureError)]
    counters = {e.counter for e in good}
    wanted = {e.auth for e in good if e.auth is not None}
    stored = select(MachineEvent.counter, MachineEvent.sha256).where(
        MachineEvent.machine_id == machine.id, MachineEvent.counter.in_(counters)
    )
    named = select(Authorisation).where(Authorisation.id.in_(wanted))
    batch = _Batch(
        session,
        machine,
        now,
        machines.device_key(session, machine),
        machines.device_certificate_revoked(session, machine),
        stored={counter: digest for counter, digest in session.execute(stored)} if counters else {},
        authorisations={a.id: a for a in session.scalars(named)} if wanted else {},
    )
    outcomes: list[Outcome] = []
    for data, item in zip(events, parsed, strict=True):
        entries: list[_Entry] = []
        try:
            outcome = _one(batch, data, item, entries)
        except DomainError as exc:  # a value the log refuses: this event is lost, not the batch
            counter = None if isinstance(item, StructureError) else item[0].counter
            outcomes.append(Outcome(counter, "refused", exc.detail))
            continue
        batch.entries += entries
        outcomes.append(outcome)
    _write(batch)
    return outcomes


def _write(batch: _Batch) -> None:
    """The batch's rows in a few statements, then its log entries."""
    session = batch.session
    ids: dict[int, int] = {}
    if batch.rows:
        inserted = insert(MachineEvent).returning(MachineEvent.id, sort_by_parameter_order=True)
        ids = dict(zip((row["counter"] for row in batch.rows), session.scalars(inserted, batch.rows), strict=True))
    alarms = [entry for entry in batch.entries if isinstance(entry, tuple)]
    for alarm, counter in alarms:
        alarm.event_id = ids[counter] if counter is not None else None
    session.add_all(alarm for alarm, _ in alarms)
    session.flush()  # the alarms get their ids; the machine and authorisations their one UPDATE each
    append_many(session, [raised(*e) if isinstance(e, tuple) else e for e in batch.entries])


def receive_photo(
    session: Session, blobs: BlobStore, machine: Machine, counter: int, data: bytes, now: dt.datetime
) -> str:
    """Keep the photo a stamp event announced; its hash is the one the machine signed, so nothing else fits."""
    row = session.scalar(
        select(MachineEvent).where(MachineEvent.machine_id == machine.id, MachineEvent.counter == counter)
    )
    if row is None or row.kind != "stamp":
        raise NotFound(f"machine {machine.id} has no stamp event {counter}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != row.photo_sha256:
        raise Invalid("the photo is not the one the machine signed")
    if row.photo_received_at is None:
        blobs.put(data)
        row.photo_received_at = now
        entry = {"counter": counter, "sha256": digest, "size": len(data)}
        append(session, LogEvent("machine.photo.received", subject(machine.id), _actor(machine), entry, now))
    return digest


def _parse(data: bytes) -> tuple[Event, Sign1] | StructureError:
    try:
        event, message = read(Event, data)
        _time(event)
    except StructureError as exc:
        return exc
    return event, message


def _time(event: Event) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(event.time, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise StructureError(f"time {event.time} is not a date") from None


def _one(batch: _Batch, data: bytes, item: tuple[Event, Sign1] | StructureError, entries: list[_Entry]) -> Outcome:
    machine = batch.machine
    if isinstance(item, StructureError):
        return _refuse(batch, None, "forged-event", f"not an event of the protocol: {item}", entries)
    event, message = item
    if event.machine != machine.id:
        return _refuse(batch, event.counter, "forged-event", f"the event names machine {event.machine}", entries)
    if batch.device is None:
        return _refuse(batch, event.counter, "forged-event", "the machine has no device key to check it", entries)
    try:
        verify_with(message, batch.device)
    except StructureError:
        return _refuse(batch, event.counter, "forged-event", "the signature is not the machine's", entries)
    if machine.status in _STOPPED or batch.revoked:
        why = "its device certificate is revoked" if batch.revoked else f"it is {machine.status}"
        return _refuse(batch, event.counter, "revoked-machine", f"an event of a machine whose {why}", entries)
    digest = hashlib.sha256(data).hexdigest()
    if event.counter in batch.stored:
        if batch.stored[event.counter] == digest:
            return Outcome(event.counter, "duplicate")
        detail = f"counter {event.counter} came again with other content"
        return _refuse(batch, event.counter, "counter-replay", detail, entries)
    return _accept(batch, event, data, digest, entries)


def _refuse(batch: _Batch, counter: int | None, code: str, detail: str, entries: list[_Entry]) -> Outcome:
    alarm = _alarm(batch, code, "service", detail, None, None, entries)
    return Outcome(counter, "refused", detail, [alarm])


def _alarm(
    batch: _Batch,
    code: str,
    source: str,
    detail: str,
    counter: int | None,
    authorisation: str | None,
    entries: list[_Entry],
) -> Alarm:
    """An alarm to insert with the batch, about the event of ``counter`` if it names one."""
    alarm = Alarm(
        machine_id=batch.machine.id,
        code=code,
        source=source,
        detail=detail,
        authorisation_id=authorisation,
        raised_at=batch.now,
    )
    entries.append((alarm, counter))
    return alarm


def _accept(batch: _Batch, event: Event, data: bytes, digest: str, entries: list[_Entry]) -> Outcome:
    machine, now = batch.machine, batch.now
    time = _time(event)
    authorisation = batch.authorisations.get(event.auth) if event.auth is not None else None
    entries.append(_entry(machine, event, time, digest, authorisation, now))  # first: the log may refuse it
    batch.rows.append(
        {
            "machine_id": machine.id,
            "counter": event.counter,
            "kind": event.kind,
            "authorisation_id": event.auth,
            "use": event.use,
            "time": time,
            "custodian": event.custodian,
            "document_sha256": event.doc.hex() if event.doc is not None else None,
            "photo_sha256": event.photo.hex() if event.photo is not None else None,
            "alarm": _code(event.alarm),
            "cose": data,
            "sha256": digest,
            "received_at": now,
        }
    )
    batch.stored[event.counter] = digest
    outcome = Outcome(event.counter, "accepted")
    if event.counter > machine.last_counter + 1:
        first, last = machine.last_counter + 1, event.counter - 1
        missing = str(first) if first == last else f"{first} to {last}"
        outcome.alarms.append(
            _alarm(batch, "counter-gap", "service", f"missing counters {missing}", event.counter, None, entries)
        )
    machine.last_counter = max(machine.last_counter, event.counter)
    machine.last_seen_at, machine.silence_alarmed_at = now, None
    if event.kind == "alarm":
        code = _code(event.alarm)
        assert code is not None, "Event.check: an alarm event names its alarm"
        outcome.alarms.append(_alarm(batch, code, "machine", event.detail, event.counter, event.auth, entries))
        if code == "power-loss" and event.use and _live(authorisation, machine):
            assert authorisation is not None, "_live: it exists"
            outcome.transition = _used(authorisation, event.use, now)  # the seal may have been pressed
    elif event.kind == "stamp":
        faults = _faults(batch, event, time, authorisation)
        for code, detail in faults:
            outcome.alarms.append(_alarm(batch, code, "service", detail, event.counter, event.auth, entries))
        if not faults:
            assert authorisation is not None, "_faults: a stamp without its authorisation is a fault"
            outcome.transition = _used(authorisation, max(authorisation.used + 1, event.use), now)
    elif _live(authorisation, machine):
        assert authorisation is not None, "_live: it exists"
        authorisation.state, authorisation.finished_at = AuthorisationState.CLOSED, now
        outcome.transition = (authorisation, "closed")
    return outcome


def _live(authorisation: Authorisation | None, machine: Machine) -> bool:
    return authorisation is not None and authorisation.machine_id == machine.id and authorisation.state in LIVE


def _used(authorisation: Authorisation, used: int, now: dt.datetime) -> tuple[Authorisation, Transition] | None:
    """``used`` uses of the authorisation are gone, by the machine's count: a use lost to a power cut counts."""
    authorisation.used = max(authorisation.used, used)
    first = authorisation.state == AuthorisationState.ISSUED
    if authorisation.used >= authorisation.uses:
        authorisation.state, authorisation.finished_at = AuthorisationState.SPENT, now
        return authorisation, "spent"
    if first:
        authorisation.state = AuthorisationState.EXECUTING
        return authorisation, "first-use"
    return None


def _faults(
    batch: _Batch, event: Event, time: dt.datetime, authorisation: Authorisation | None
) -> list[tuple[str, str]]:
    """Why a stamp should not have been made; none for a valid one."""
    machine = batch.machine
    if authorisation is None or authorisation.machine_id != machine.id:
        return [("unauthorised-stamp", f"a stamp under {event.auth}, no authorisation of this machine")]
    faults: list[tuple[str, str]] = []
    if authorisation.state in _VOID:
        faults.append(("unauthorised-stamp", f"a stamp under an authorisation {authorisation.state}"))
    if authorisation.epoch < machine.epoch:
        faults.append(("unauthorised-stamp", f"a stamp under epoch {authorisation.epoch}, void since {machine.epoch}"))
    if event.use > authorisation.uses or authorisation.state == AuthorisationState.SPENT:
        faults.append(("uses-exceeded", f"use {event.use} of an authorisation for {authorisation.uses}"))
    if not authorisation.not_before <= time < authorisation.not_after:  # the machine refuses at its end
        faults.append(("outside-window", f"stamped at {timestamp(time)}, outside the authorisation's window"))
    terms = batch.signed(authorisation)
    latitude, longitude, radius = terms.fence
    distance = distance_m(event.pos, (latitude, longitude))
    if distance > radius:
        faults.append(("outside-fence", f"stamped {distance:.0f} m from the fence's centre (radius {radius} m)"))
    if event.doc is None or event.doc.hex() != authorisation.document_sha256:
        faults.append(("document-mismatch", "the sheet stamped is not the approved document"))
    if event.custodian not in terms.custodians:
        faults.append(("custodian-not-allowed", f"{event.custodian or 'nobody'} may not stamp under it"))
    return faults


def _entry(
    machine: Machine,
    event: Event,
    time: dt.datetime,
    digest: str,
    authorisation: Authorisation | None,
    now: dt.datetime,
) -> LogEvent:
    """The event's log entry; its id is the event's SHA-256, so a record page finds the entry from the event."""
    data: dict[str, Any] = {
        "counter": event.counter,
        "kind": event.kind,
        "authorisation": event.auth,
        "request": authorisation.request_number if authorisation is not None else None,
        "use": event.use,
        "document": event.doc.hex() if event.doc is not None else None,
        "photo": event.photo.hex() if event.photo is not None else None,
        "machine_time": timestamp(time),
        "custodian": event.custodian,
        "alarm": event.alarm,
        "detail": event.detail,
        "sha256": digest,
    }
    return LogEvent(f"machine.{event.kind}", subject(machine.id), _actor(machine), data, now, id=digest)


def _code(alarm: str | None) -> str | None:
    """A machine's alarm code as its column holds it: the protocol allows longer text than any code we know."""
    return alarm[:CODE_LENGTH] if alarm is not None else None


def _actor(machine: Machine) -> str:
    return f"machine:{machine.id}"
