"""Approved requests executed together, in one transaction: each is sealed and logged once, the seal and its
certificate are read once for all of them, one failing request fails alone, and neither the seal nor the
certificate they use can be suspended or revoked before their seals commit."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.app import _executors
from api.deps import CertificateAuthority
from ca.models import Certificate, Seal
from ca.seals import current_certificate
from core.runtime import Runtime
from ledger.models import Entry, PendingEntry
from signer.models import Sealing
from tests import demo_snapshot
from tests.api.on_demo import seal_of
from tests.conftest import heard
from tests.web.test_inspectors import approve, submit
from tests.workflow.conftest import RecordingExecutor, Village
from tests.workflow.test_workers import _approved
from workflow import execution
from workflow.catalog import SealForm
from workflow.execution import ExecutionFailed, Executors
from workflow.models import SealRequest

APPROVERS = (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3))


def _approved_subsidies(runtime: Runtime, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        request_id, _number = submit(runtime)
        for username, level in APPROVERS:
            approve(runtime, request_id, username, level)
        ids.append(request_id)
    return ids


def test_requests_executed_together_are_each_sealed_and_logged_once_reading_their_seal_once(
    runtime: Runtime, engine: Engine
) -> None:
    demo_snapshot.load(runtime, seals=True)
    ids = _approved_subsidies(runtime, 4)
    executors = _executors(runtime, CertificateAuthority())
    with heard(runtime.engine, "before_cursor_execute", lambda _conn, _cursor, statement, *_: statement) as seen:
        ran = execution.run_pending(runtime.sessions, executors, runtime.clock, together=4)
    assert ran == execution.Ran(4, 0)
    certificate_reads = [s for s in seen if "WHERE ca_certificates.seal_id" in s]
    assert len(certificate_reads) == 1, "each request of the batch read the seal's certificate again"
    with runtime.readers() as session:
        requests = session.scalars(select(SealRequest).where(SealRequest.id.in_(ids))).all()
        assert {r.state for r in requests} == {"completed"}
        sealings = session.scalars(
            select(Sealing).where(Sealing.sealed_sha256.in_([r.sealed_sha256 for r in requests]))
        )
        by_document = {s.sealed_sha256: s for s in sealings}
        assert len(by_document) == 4, "a request of the batch has no sealing of its own"
        for request in requests:
            assert runtime.blobs.exists(request.sealed_sha256 or "")
            event_id = by_document[request.sealed_sha256 or ""].event_id
            logged = [
                session.scalar(select(func.count()).where(table.event_id == event_id))
                for table in (PendingEntry, Entry)
            ]
            assert sum(n or 0 for n in logged) == 1, "a seal of the batch is not in the log once"


class _FailsFor:
    """The village's executor, failing one request by its id."""

    completes = True

    def __init__(self, recording: RecordingExecutor, failing: int) -> None:
        self.recording, self.failing = recording, failing

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        if request.id == self.failing:
            raise ExecutionFailed("this one cannot be sealed")
        return self.recording.execute(session, request, now)


def test_one_request_failing_among_those_executed_together_fails_alone(client: TestClient, village: Village) -> None:
    rids = [_approved(client) for _ in range(4)]
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, _FailsFor(village.executor, rids[2]))
    runtime = village.runtime
    ran = execution.run_pending(runtime.sessions, executors, runtime.clock, together=4)
    assert ran == execution.Ran(3, 1)
    with runtime.readers() as session:
        rows = session.execute(
            select(SealRequest.id, SealRequest.state, SealRequest.failure).where(SealRequest.id.in_(rids))
        ).all()
        completions = [
            subject
            for table in (PendingEntry, Entry)
            for subject in session.scalars(select(table.subject).where(table.type == "request.completed"))
        ]
    states = {rid: (state, failure) for rid, state, failure in rows}
    assert states[rids[2]] == ("failed", "this one cannot be sealed")
    assert [states[r][0] for r in rids if r != rids[2]] == ["completed"] * 3
    assert sorted(completions) == sorted(f"request:{r}" for r in rids if r != rids[2]), (
        "a request was logged as completed twice, or the undone batch left its entries"
    )


def _sealing_then(runtime: Runtime, change: Any) -> list[str]:
    """``change`` (an UPDATE) tried while a sealing transaction holds what it has read, then after that
    transaction: for each try, whether it waited for the sealing or went through."""
    outcome: list[str] = []

    def attempt() -> None:
        with runtime.sessions() as session:
            session.execute(text("SET LOCAL lock_timeout = '300ms'"))
            try:
                session.execute(change)
            except OperationalError:
                outcome.append("waited")
            else:
                outcome.append("went through")
            session.rollback()

    def in_a_thread() -> None:
        other = threading.Thread(target=attempt)
        other.start()
        other.join(timeout=10)

    electronic = _executors(runtime, CertificateAuthority()).by_form[SealForm.ELECTRONIC]
    with runtime.sessions() as sealing:
        request = sealing.get(SealRequest, _approved_subsidies(runtime, 1)[0])
        assert request is not None
        electronic.execute(sealing, request, runtime.clock.now())  # reads the seal and its certificate, and seals
        in_a_thread()
        sealing.rollback()
    in_a_thread()
    return outcome


def test_a_seal_being_used_is_suspended_and_its_certificate_revoked_only_after_the_sealing_transaction(
    runtime: Runtime, engine: Engine
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite writes one transaction at a time: nothing commits during a sealing")
    demo_snapshot.load(runtime, seals=True)
    seal_id = seal_of(runtime, "yazhou.shuinan")
    with runtime.readers() as session:
        certificate = current_certificate(session, seal_id)
        assert certificate is not None
        certificate_id = certificate.id
    suspend = update(Seal).where(Seal.id == seal_id).values(status="suspended", suspended_at=runtime.clock.now())
    revoke = (
        update(Certificate)
        .where(Certificate.id == certificate_id)
        .values(revoked_at=runtime.clock.now(), revocation_reason="keyCompromise")
    )
    assert _sealing_then(runtime, suspend) == ["waited", "went through"]
    assert _sealing_then(runtime, revoke) == ["waited", "went through"]
