"""The public record of a seal request: what anyone holding the sealed paper or PDF learns by the unguessable link
in its QR code. The organisation, the matter, the seal, each decision with the post that made it, the outcome and
the sealing; nothing of the applicant and no personal names, except to a signed-in caller who may see the
request anyway. Looked up by the request's public id only: its sequential number would let anyone count and
browse who applied for what."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Seal
from core.errors import NotFound
from identity.auth import Principal
from ledger.models import Entry
from physical_seal.models import Authorisation, Machine, MachineEvent
from signer.models import Sealing
from signer.verification import approval_chain
from workflow import catalogs, history
from workflow.models import Decision, SealRequest, Step
from workflow.states import State
from workflow.visibility import can_see

# A finished step's outcome that ended the request (or sent it back to the applicant) there.
_ENDED_AT = {State.REJECTED: "rejected", State.RETURNED: "returned"}
_SETTLED = {
    State.COMPLETED: "sealed",
    State.WITHDRAWN: "withdrawn",
    State.FAILED: "failed",
    State.EXPIRED: "expired",
}
_AT_THE_MACHINE = {State.AUTHORISED: "authorised", State.EXECUTING: "stamping"}


def record(session: Session, public_id: str, viewer: Principal | None, now: dt.datetime) -> dict[str, Any]:
    """The record behind ``public_id``; NotFound for an id nobody was given. ``named`` says whether the viewer
    may see the people's names (signed in, and allowed to see the request, at ``now`` as a deputy too)."""
    request = session.scalar(select(SealRequest).where(SealRequest.public_id == public_id))
    if request is None:
        raise NotFound("no such record")
    named = viewer is not None and can_see(session, request, viewer, now)
    catalog = catalogs.version(session, request.catalog_version_id)
    matter = catalog.matter(request.matter_code)
    seal_kind = catalog.seals.get(request.seal_kind)
    steps = session.scalars(select(Step).where(Step.request_id == request.id).order_by(Step.id)).all()
    decisions = session.scalars(select(Decision).where(Decision.request_id == request.id).order_by(Decision.id))
    by_step = {step.id: step for step in steps}
    return {
        "named": named,
        "applicant": request.applicant.display_name if named else None,
        "number": request.number if named else None,
        "organisation": request.organisation.name,
        "matter": matter.name if matter else request.matter_code,
        "seal": seal_kind.name if seal_kind else request.seal_kind,
        "seal_form": request.seal_form,
        "submitted_at": request.created_at,
        "decisions": [_decision(d, by_step[d.step_id], named) for d in decisions],
        "outcome": _outcome(request, steps),
        "sealing": _sealing(session, request),
        "stamps": _stamps(session, request, named),
        "log": _log(session, request, named),
    }


def _step(step: Step) -> dict[str, Any]:
    return {"level": step.level, "label": step.label, "post": step.post, "organisation": step.organisation.name}


def _decision(decision: Decision, step: Step, named: bool) -> dict[str, Any]:
    return {
        **_step(step),
        "round": decision.round,
        "decision": decision.decision,
        "decided_at": decision.decided_at,
        "superseded": decision.superseded,
        "deputy": decision.on_behalf_of_id is not None,
        "by": decision.actor.display_name if named else None,
        "on_behalf_of": decision.on_behalf_of.display_name if named and decision.on_behalf_of else None,
    }


def _outcome(request: SealRequest, steps: Sequence[Step]) -> dict[str, Any]:
    """Where the request stands: sealed, rejected or returned at a level by a post, withdrawn, failed, or in
    progress (at an open level, if one is open)."""
    state = State(request.state)
    if state in _ENDED_AT:
        ended = next((s for s in reversed(steps) if s.outcome == _ENDED_AT[state]), None)
        where = _step(ended) if ended is not None else {}
        return {"kind": _ENDED_AT[state], "at": ended.finished_at if ended else request.updated_at, **where}
    if state in _SETTLED:
        return {"kind": _SETTLED[state], "at": request.finished_at or request.updated_at}
    if state in _AT_THE_MACHINE and request.seal_form == "physical":
        return {"kind": _AT_THE_MACHINE[state], "at": request.updated_at}
    open_step = next((s for s in steps if s.finished_at is None), None)
    return {"kind": "in_progress", "at": None, **(_step(open_step) if open_step is not None else {})}


def _sealing(session: Session, request: SealRequest) -> dict[str, Any] | None:
    """The latest electronic sealing of the request, with its place in the log (None while it waits there)."""
    found = session.execute(
        select(Sealing, Seal)
        .join(Seal, Seal.id == Sealing.seal_id)
        .where(Sealing.subject == history.subject(request.id))
        .order_by(Sealing.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    sealing, seal = found
    index = session.scalar(select(Entry.idx).where(Entry.event_id == sealing.event_id))
    return {"seal": seal.name, "at": sealing.created_at, "level": sealing.level, "log_index": index}


def _stamp_events(session: Session, request: SealRequest) -> list[tuple[MachineEvent, str]]:
    return [
        (event, name)
        for event, name in session.execute(
            select(MachineEvent, Machine.name)
            .join(Authorisation, Authorisation.id == MachineEvent.authorisation_id)
            .join(Machine, Machine.id == MachineEvent.machine_id)
            .where(Authorisation.request_id == request.id, MachineEvent.kind == "stamp")
            .order_by(MachineEvent.time, MachineEvent.counter)
        )
    ]


def _stamps(session: Session, request: SealRequest, named: bool) -> list[dict[str, Any]]:
    """Every paper stamp the machine reported for the request, with its photo and its place in the log (the
    entry's event id is the SHA-256 of the machine's signed event)."""
    found = _stamp_events(session, request)
    digests = [event.sha256 for event, _ in found]
    logged = session.execute(select(Entry.event_id, Entry.idx).where(Entry.event_id.in_(digests)))
    indexes = {event_id: index for event_id, index in logged} if digests else {}
    return [
        {
            "at": event.time,
            "machine": event.machine_id,
            "machine_name": name,
            "counter": event.counter,
            "use": event.use,
            "custodian": event.custodian if named else None,
            "photo": event.photo_sha256 if event.photo_received_at is not None else None,
            "receipt_sha256": event.sha256,
            "log_index": indexes.get(event.sha256),
        }
        for event, name in found
    ]


def _log(session: Session, request: SealRequest, named: bool) -> list[dict[str, Any]]:
    """The request's entries in the log, in order; who acted (a user name) only to those who may see names, the
    applicant's side opened from its commitment for them."""
    return [
        {**step, "actor": history.opened(session, step["actor"]) if named else None}
        for step in approval_chain(session, history.subject(request.id))
    ]


def photo(session: Session, public_id: str, sha256: str) -> str:
    """The photo of one of the record's stamps, by its hash; NotFound for any other."""
    request = session.scalar(select(SealRequest).where(SealRequest.public_id == public_id))
    if request is not None:
        for event, _ in _stamp_events(session, request):
            if event.photo_sha256 == sha256 and event.photo_received_at is not None:
                return sha256
    raise NotFound("no such photo")
