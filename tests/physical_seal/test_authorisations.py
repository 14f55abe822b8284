"""Authorisations signed with the CA's authorisation key in the test token: what a machine finds in them, which
machine a request goes to, what is outstanding, and expiry; and that no other key of the CA can sign one."""

# ruff: noqa: F811  # the fixtures shared with test_machines are imported, then requested by name

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from core.clock import ManualClock
from core.errors import Conflict, Invalid
from core.runtime import Runtime
from physical_seal import authorisations, machines, structures
from physical_seal.models import Machine
from tests.physical_seal.test_machines import (  # noqa: F401  # fixtures
    World,
    authority,
    csr,
    enrol,
    logged,
    places,
    principal,
    register,
    session,
)

DOC = hashlib.sha256(b"the approved document").hexdigest()


def active(runtime: Runtime, authority: Authority, session: Session, places: World, now: dt.datetime) -> Machine:
    machine, code = register(session, places, now)
    enrol(session, authority, runtime, "M-1", code, csr("M-1")[0], now)
    return machine


def issue(session: Session, authority: Authority, machine: Machine, now: dt.datetime, **changes: Any) -> Any:
    args: dict[str, Any] = {
        "machine": machine,
        "slot": 2,
        "request_id": 7,
        "request_number": "2026-000007",
        "document_sha256": DOC,
        "uses": 3,
        "not_before": now,
        "not_after": now + dt.timedelta(hours=24),
        "now": now,
    }
    args.update(changes)
    return authorisations.issue(session, authority, **args)


def test_issue_signs_every_field_for_the_machine(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine = active(runtime, authority, session, places, now)
    row = issue(session, authority, machine, now)
    session.commit()
    signed = structures.open_signed_by_service(structures.Authorisation, row.cose, authority.root, now)
    nbf = int(now.timestamp())
    assert signed == structures.Authorisation(
        id=row.id,
        machine="M-1",
        slot=2,
        request="2026-000007",
        doc=bytes.fromhex(DOC),
        uses=3,
        nbf=nbf,
        exp=nbf + 24 * 3600,
        fence=(182_528_000, 1_095_119_000, 200),
        custodians=("alice", "bob"),
        epoch=0,
        iat=nbf,
    )
    assert len(row.id) == 32
    assert row.state == "issued"
    assert (row.used, row.epoch, row.request_id) == (0, 0, 7)
    [entry] = logged(session, "machine.authorisation.issued", f"authorisation:{row.id}")
    assert entry == {
        "actor": "system",
        "machine": "M-1",
        "slot": 2,
        "request": "2026-000007",
        "document_sha256": DOC,
        "uses": 3,
        "not_before": row.not_before.isoformat(),
        "not_after": row.not_after.isoformat(),
        "epoch": 0,
        "sha256": hashlib.sha256(row.cose).hexdigest(),
    }


def test_an_authorisation_signed_by_another_key_of_the_ca_is_refused(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine = active(runtime, authority, session, places, now)
    row = issue(session, authority, machine, now)
    signed = structures.open_signed_by_service(structures.Authorisation, row.cose, authority.root, now)
    forged = structures.sign(signed, authority.tsa.key, [authority.tsa.certificate, authority.issuing.certificate])
    with pytest.raises(structures.StructureError, match="not one for authorisations") as refused:
        structures.open_signed_by_service(structures.Authorisation, forged, authority.root, now)
    assert refused.value.code == "bad-signature"


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"uses": 0}, Invalid, "1 to 1000"),
        ({"uses": 1001}, Invalid, "1 to 1000"),
        ({"not_after": dt.timedelta(0)}, Invalid, "window"),
        ({"not_after": dt.timedelta(milliseconds=500)}, Invalid, "window"),
        ({"document_sha256": "AB" * 32}, Invalid, "SHA-256"),
        ({"request_number": ""}, Invalid, "request number"),
        ({"slot": 5}, Invalid, "no slot 5"),
    ],
)
def test_issue_refuses(
    runtime: Runtime,
    authority: Authority,
    session: Session,
    places: World,
    clock: ManualClock,
    changes: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    now = clock.now()
    machine = active(runtime, authority, session, places, now)
    if isinstance(changes.get("not_after"), dt.timedelta):
        changes["not_after"] = now + changes["not_after"]
    with pytest.raises(error, match=words):
        issue(session, authority, machine, now, **changes)


def test_issue_waits_for_a_registered_machine_and_refuses_one_out_of_service(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    """An authorisation to a machine not yet enrolled waits for it: only that machine, once enrolled with a key
    of its own, can ever use it. A suspended or retired machine gets none."""
    now = clock.now()
    machine, _ = register(session, places, now)
    assert issue(session, authority, machine, now).machine_id == machine.id
    assert authorisations.machine_for(session, machine.organisation_id, "party") == (machine, 2)
    machines.suspend(session, machine.id, principal(session, "sam", now), "moved", now)
    with pytest.raises(Conflict, match="suspended: nothing is authorised to it"):
        issue(session, authority, machine, now)


def test_machine_for_picks_an_active_machine_with_that_seal(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine = active(runtime, authority, session, places, now)
    org = machine.organisation_id
    assert authorisations.machine_for(session, org, "party") == (machine, 2)
    assert authorisations.machine_for(session, org, "committee") == (machine, 1)
    assert authorisations.machine_for(session, org, "finance") is None  # in no machine
    machines.suspend(session, "M-1", principal(session, "sam", now), "moved", now)
    assert authorisations.machine_for(session, org, "party") is None


def test_outstanding_and_expiry(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine = active(runtime, authority, session, places, now)
    short = issue(session, authority, machine, now, not_after=now + dt.timedelta(hours=1))
    later = issue(session, authority, machine, now + dt.timedelta(seconds=1), request_number="2026-000008")
    spent = issue(session, authority, machine, now, request_number="2026-000009")
    spent.state = "spent"
    assert authorisations.outstanding(session, "M-1", now) == [short, later]
    assert authorisations.expire_due(session, now) == []

    hour = now + dt.timedelta(hours=1)
    assert authorisations.outstanding(session, "M-1", hour) == [later]
    assert authorisations.expire_due(session, hour) == [short]
    assert short.state == "expired"
    assert short.finished_at == hour
    [entry] = logged(session, "machine.authorisation.expired", f"authorisation:{short.id}")
    assert entry == {"actor": "system", "machine": "M-1", "request": "2026-000007", "used": 0}
    assert authorisations.expire_due(session, hour) == []

    machines.revoke_epoch(session, authority, "M-1", principal(session, "sam", now), "lost", hour)
    fresh = issue(session, authority, machine, hour, request_number="2026-000010")
    assert fresh.epoch == 1
    assert authorisations.outstanding(session, "M-1", hour) == [fresh]
