"""The calls of a seal machine's terminal, each behind the machine's credential (given at enrolment): pull the
authorisations to load, push the machine's signed events and the photos of its stamps. The terminal is only a
relay: what matters in these calls is signed by the service or by the machine."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import CaDep, RuntimeDep, SessionDep, TokenDep
from api.schemas_machines import AuthorisationsOut, EnrolIn, EnrolledOut, EventsIn, EventsOut, PhotoOut
from ca import hierarchy
from core.errors import Invalid, Unauthorized
from core.runtime import Runtime
from physical_seal import machines, relay
from workflow import physical

router = APIRouter(prefix="/api/v1/terminals", tags=["terminals"])


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{what} is not base64") from None


def _b64s(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _credential(token: str | None) -> str:
    if token is None:
        raise Unauthorized("a terminal calls with its machine's credential as a bearer token")
    return token


@router.post("/{machine_id}/enrol", response_model=EnrolledOut)
def enrol(machine_id: str, body: EnrolIn, rt: RuntimeDep, ca: CaDep, session: SessionDep) -> dict[str, Any]:
    """The one call without a credential: the enrolment code stands for it, once."""
    enrolled = machines.enrol(
        session,
        ca.authority,
        machine_id=machine_id,
        code=body.code,
        csr_der=_b64(body.csr, "csr"),
        now=rt.clock.now(),
        ca_settings=rt.settings.ca,
        urls=hierarchy.urls(rt.settings),
    )
    session.commit()
    return {
        "certificate": _b64s(enrolled.certificate),
        "chain": [_b64s(c) for c in enrolled.chain],
        "credential": enrolled.credential,
    }


@router.get("/{machine_id}/authorizations", response_model=AuthorisationsOut)
def authorisations(machine_id: str, rt: RuntimeDep, ca: CaDep, token: TokenDep, session: SessionDep) -> dict[str, Any]:
    pulled = relay.pull(session, ca.authority, machine_id, _credential(token), rt.clock.now())
    session.commit()
    return {
        "machine": pulled.machine,
        "epoch": pulled.epoch,
        "epoch_notice": _b64s(pulled.epoch_notice) if pulled.epoch_notice is not None else None,
        "authorisations": [
            {"id": a.id, "request": a.request_number, "uses": a.uses, "not_after": a.not_after, "cose": _b64s(a.cose)}
            for a in pulled.authorisations
        ],
    }


def _ingest(rt: Runtime, machine_id: str, credential: str, events: list[bytes]) -> dict[str, Any]:
    settings = rt.settings
    with rt.sessions() as session:
        outcomes = physical.upload(
            session,
            machine_id,
            credential,
            events,
            rt.clock.now(),
            limit=settings.machines.max_events_per_upload,
            webhook=settings.workflow.notification_webhook,
        )
    return {
        "results": [
            {"counter": o.counter, "status": o.status, "reason": o.reason, "alarms": [a.code for a in o.alarms]}
            for o in outcomes
        ]
    }


@router.post("/{machine_id}/events", response_model=EventsOut)
async def events(machine_id: str, body: EventsIn, rt: RuntimeDep, token: TokenDep) -> dict[str, Any]:
    """Authentication, checks and the write run in one worker thread with one connection."""
    decoded = [_b64(e, "an event") for e in body.events]
    return await run_in_threadpool(_ingest, rt, machine_id, _credential(token), decoded)


@router.post("/{machine_id}/photos", response_model=PhotoOut)
async def photos(machine_id: str, counter: int, request: Request, rt: RuntimeDep, token: TokenDep) -> dict[str, Any]:
    """The PNG of a stamped sheet, as the raw body; its hash must be the one the machine signed."""
    data = await request.body()  # bounded by the body limit of this route (settings.machines.max_photo_bytes)
    credential = _credential(token)

    def store() -> str:
        with rt.sessions() as session:
            digest = relay.photo(session, rt.blobs, machine_id, credential, counter, data, rt.clock.now())
            session.commit()
            return digest

    return {"sha256": await run_in_threadpool(store), "counter": counter}
