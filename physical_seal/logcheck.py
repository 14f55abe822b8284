"""Completeness for the audit: every machine, authorisation, machine event and alarm has its log entry (sequenced
or queued). A row without its entry is a change that bypassed the log."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit import logged as entries_of
from physical_seal.machines import authorisation_subject, subject
from physical_seal.models import Alarm, Authorisation, Machine, MachineEvent

_EVENT_TYPES = ("machine.stamp", "machine.alarm", "machine.close")


def missing_entries(session: Session) -> Iterator[str]:
    logged = entries_of(
        session, ("machine.registered", "machine.authorisation.issued", *_EVENT_TYPES, "machine.alarm.raised")
    )
    subjects = {(kind, about) for kind, about, _ in logged}
    counters: set[tuple[str, int]] = set()
    alarms: set[int] = set()
    for kind, about, body in logged:
        if kind in _EVENT_TYPES:
            counters.add((about, json.loads(body)["data"]["counter"]))
        elif kind == "machine.alarm.raised":
            alarms.add(json.loads(body)["data"]["alarm"])
    for machine in session.scalars(select(Machine.id)):
        if ("machine.registered", subject(machine)) not in subjects:
            yield f"machine {machine} has no machine.registered entry"
    for authorisation in session.scalars(select(Authorisation.id)):
        if ("machine.authorisation.issued", authorisation_subject(authorisation)) not in subjects:
            yield f"authorisation {authorisation} has no machine.authorisation.issued entry"
    for machine, counter, kind in session.execute(
        select(MachineEvent.machine_id, MachineEvent.counter, MachineEvent.kind)
    ):
        if (subject(machine), counter) not in counters:
            yield f"event {counter} of machine {machine} has no machine.{kind} entry"
    for alarm, machine in session.execute(select(Alarm.id, Alarm.machine_id)):
        if alarm not in alarms:
            yield f"alarm {alarm} of machine {machine} has no machine.alarm.raised entry"
