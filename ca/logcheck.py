"""Completeness for the audit: every seal, certificate and certificate operation has its log entries (sequenced
or queued). A row without its entry is a change that bypassed the log.

CRLs are not logged (each is derived from the revocations, which are), so they are not checked here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import seals
from ca.models import Certificate, Operation, Seal
from ca.operations import State
from ledger.audit import logged as entries_of
from ledger.entry import timestamp

_DECIDED = {State.EXECUTED: "approved", State.REJECTED: "rejected"}
_TYPES = (
    "ca.seal.added",
    "ca.seal.suspended",
    "ca.certificate.issued",
    "ca.certificate.revoked",
    "ca.certificate.expiring",
    "ca.operation.requested",
    "ca.operation.approved",
    "ca.operation.rejected",
)


def missing_entries(session: Session) -> Iterator[str]:
    logged = entries_of(session, _TYPES)
    subjects = {(kind, about) for kind, about, _ in logged}
    timed: set[tuple[str, str, str]] = set()
    operations: set[tuple[str, str, int]] = set()
    for kind, about, body in logged:
        try:
            entry = json.loads(body)
        except ValueError:
            yield f"{kind} entry of {about} has a body that is not JSON"
            continue
        try:
            if kind.startswith("ca.operation."):
                operations.add((kind, about, entry["data"]["operation"]))
            elif kind in ("ca.seal.suspended", "ca.certificate.expiring"):
                timed.add((kind, about, entry["time"]))
        except (LookupError, TypeError):
            field = "data.operation" if kind.startswith("ca.operation.") else "time"
            yield f"{kind} entry of {about} has no {field} in its body"
    for seal, suspended_at in session.execute(select(Seal.id, Seal.suspended_at)):
        if ("ca.seal.added", seals.subject(seal)) not in subjects:
            yield f"seal {seal} has no ca.seal.added entry"
        if (
            suspended_at is not None
            and ("ca.seal.suspended", seals.subject(seal), timestamp(suspended_at)) not in timed
        ):
            yield f"seal {seal} suspended at {timestamp(suspended_at)} has no ca.seal.suspended entry"
    rows = session.execute(
        select(Certificate.serial, Certificate.role, Certificate.revoked_at, Certificate.expiry_warned_at)
    )
    for serial, role, revoked_at, warned_at in rows:
        about = f"certificate:{serial}"
        if ("ca.certificate.issued", about) not in subjects:
            yield f"{role} certificate {serial} has no ca.certificate.issued entry"
        if revoked_at is not None and ("ca.certificate.revoked", about) not in subjects:
            yield f"{role} certificate {serial}, revoked, has no ca.certificate.revoked entry"
        if warned_at is not None and ("ca.certificate.expiring", about, timestamp(warned_at)) not in timed:
            yield f"{role} certificate {serial}, warned of its expiry, has no ca.certificate.expiring entry"
    for op, kind, seal, state in session.execute(
        select(Operation.id, Operation.kind, Operation.seal_id, Operation.state)
    ):
        steps = ["requested", *([_DECIDED[State(state)]] if state in _DECIDED else [])]
        for step in steps:
            if (f"ca.operation.{step}", seals.subject(seal), op) not in operations:
                yield f"operation {op} ({kind} on seal {seal}) has no ca.operation.{step} entry"
