"""Execution: an approved request goes to the executor registered for its seal form (electronic sealing, or an
authorisation for a seal machine), and its result to the destination bureau through the outbox.

The executor's work and the request's completion share one transaction, so a request is either completed with
its result or failed with its reason, never half done; a failed request can be retried.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from core.clock import Clock
from core.errors import DomainError, Forbidden, NotFound
from identity import directory
from identity.auth import Principal
from identity.posts import Post
from physical_seal.machines import LIVE
from physical_seal.models import Authorisation
from workflow import delivery, history, wakeup
from workflow.catalog import SealForm
from workflow.models import SealRequest
from workflow.notify import notify
from workflow.requests import visible
from workflow.review import matter_of
from workflow.states import State, check, require

log = logging.getLogger(__name__)

STALE = dt.timedelta(minutes=10)


class ExecutionFailed(Exception):
    """The executor could not carry out the request; the message is shown to the applicant and logged."""


class Executor(Protocol):
    # False when executing hands the work on (an authorisation to a seal machine): the request is then
    # authorised, and completes when the machine reports its stamps.
    completes: bool

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        """Carry out an approved request inside ``session``; return what the log should say about the result."""
        ...


@dataclass
class Executors:
    by_form: dict[SealForm, Executor] = field(default_factory=dict)

    def register(self, form: SealForm, executor: Executor) -> None:
        self.by_form[form] = executor


@dataclass(frozen=True)
class Ran:
    completed: int
    failed: int


def run_pending(
    sessions: sessionmaker[Session],
    executors: Executors,
    clock: Clock,
    *,
    limit: int = 20,
    together: int = 1,
    webhook: str | None = None,
    recover: bool = True,
) -> Ran:
    """Execute up to ``limit`` approved requests whose seal form has an executor, up to ``together`` of them in one
    transaction; with ``recover``, first fail those left executing by a process that died (one of a process's
    executing threads does)."""
    completed = failed = 0
    if recover:
        _recover_stale(sessions, clock)
    while completed + failed < limit:
        ran = _run_batch(sessions, executors, clock, webhook, min(together, limit - completed - failed))
        if ran is None:
            break
        completed, failed = completed + ran.completed, failed + ran.failed
    return Ran(completed, failed)


def _run_batch(
    sessions: sessionmaker[Session], executors: Executors, clock: Clock, webhook: str | None, size: int
) -> Ran | None:
    """Claim the oldest approved requests, at most ``size``, and carry them out in the same transaction: the claim
    is their row locks, so a process that dies while executing leaves them approved (the locks gone with its
    connection) and another process takes them at once; nothing of a half-made seal is committed. Requests
    executed together share the transaction's reads (the seal, its certificate) and its COMMIT. If one of them
    fails, the whole batch is undone and each is then executed on its own, so that only the failing one fails.
    None: nothing waits."""
    forms = [str(f) for f in executors.by_form]
    if not forms:
        return None
    with sessions() as session:
        claimed = session.scalars(
            select(SealRequest)
            .where(SealRequest.state == State.APPROVED, SealRequest.seal_form.in_(forms))
            .order_by(SealRequest.updated_at)
            .limit(size)
            .options(joinedload(SealRequest.organisation))  # the seal's owner, read by every executor
            .with_for_update(skip_locked=True, of=SealRequest)
        ).all()
        if not claimed:
            # COMMIT, not the ROLLBACK of closing: at a ROLLBACK psycopg forgets every statement the connection
            # prepared, and an idle executor claims nothing several times a second.
            session.commit()
            return None
        if len(claimed) == 1:
            return _run_claimed(sessions, session, claimed[0], executors, clock, webhook)
        try:
            for request in claimed:
                _carry_out(session, request, executors, clock, webhook)
            session.commit()
            return Ran(len(claimed), 0)
        except Exception as exc:  # each request is executed again alone, which records what failed
            session.rollback()
            log.info("%d requests executed together were undone (%s); executing them one by one", len(claimed), exc)
    completed = failed = 0
    for _ in claimed:
        ran = _run_batch(sessions, executors, clock, webhook, 1)
        if ran is None:
            break
        completed, failed = completed + ran.completed, failed + ran.failed
    return Ran(completed, failed)


def _run_claimed(
    sessions: sessionmaker[Session],
    session: Session,
    request: SealRequest,
    executors: Executors,
    clock: Clock,
    webhook: str | None,
) -> Ran:
    """One claimed request carried out, or failed with its reason in a transaction of its own."""
    request_id, number = request.id, request.number
    try:
        _carry_out(session, request, executors, clock, webhook)
    except (ExecutionFailed, DomainError) as exc:
        reason = str(exc)
    except Exception as exc:
        log.exception("executing request %s failed", number)
        reason = f"the executor failed: {type(exc).__name__}"
    else:
        session.commit()
        return Ran(1, 0)
    session.rollback()
    _fail(sessions, request_id, State.APPROVED, reason, clock, webhook)
    return Ran(0, 1)


def _carry_out(session: Session, request: SealRequest, executors: Executors, clock: Clock, webhook: str | None) -> None:
    executor = executors.by_form[SealForm(request.seal_form)]
    _start(session, request, clock.now())
    result = dict(executor.execute(session, request, clock.now()))
    if executor.completes:
        complete(session, request, "system", result, clock.now(), webhook)
    else:
        _hand_over(session, request, result, clock.now(), webhook)


def _start(session: Session, request: SealRequest, now: dt.datetime) -> None:
    request.state, request.updated_at = State.EXECUTING, now
    history.record(session, request, "executing", "system", {"seal_form": request.seal_form}, now)


def complete(
    session: Session, request: SealRequest, actor: str, result: Mapping[str, Any], now: dt.datetime, webhook: str | None
) -> None:
    """The request is done: logged with its result, sent to its destination bureau, its applicant told."""
    check(request.state, State.COMPLETED, "complete")
    request.state, request.finished_at, request.updated_at, request.failure = State.COMPLETED, now, now, None
    history.record(session, request, "completed", actor, {"result": dict(result)}, now)
    _enqueue_delivery(session, request, result, now)
    notify(
        session,
        {request.applicant_id, request.submitted_by_id},
        "completed",
        request,
        "用章已完成",
        f"您的用章申请 {request.number} 已完成用印。",
        now,
        webhook,
    )


def _hand_over(
    session: Session, request: SealRequest, result: Mapping[str, Any], now: dt.datetime, webhook: str | None
) -> None:
    check(request.state, State.AUTHORISED, "authorise")
    request.state, request.updated_at, request.failure = State.AUTHORISED, now, None
    history.record(session, request, "authorised", "system", {"result": dict(result)}, now)
    notify(
        session,
        {request.applicant_id, request.submitted_by_id},
        "authorised",
        request,
        "用印已授权",
        f"您的用章申请 {request.number} 已授权，请到用印机由保管员用印。",
        now,
        webhook,
    )


def _fail(
    sessions: sessionmaker[Session], request_id: int, found: State, reason: str, clock: Clock, webhook: str | None
) -> None:
    """Record the failure in a transaction of its own, once the executor's work is rolled back, if the request is
    still as it was ``found``: another process may have taken it meanwhile, and carried it out."""
    with sessions() as session:
        request = session.get(SealRequest, request_id, with_for_update=True)
        assert request is not None, "requests are never deleted"
        if request.state != found:
            return
        if found == State.APPROVED:
            _start(session, request, clock.now())
        fail(session, request, "system", reason, clock.now(), webhook)
        session.commit()


def fail(
    session: Session, request: SealRequest, actor: str, reason: str, now: dt.datetime, webhook: str | None
) -> None:
    """The request could not be carried out; its organisation's seal administrators are told, to find out why and
    retry it (their inbox lists it)."""
    check(request.state, State.FAILED, "fail")
    request.state, request.failure, request.updated_at = State.FAILED, reason, now
    history.record(session, request, "failed", actor, {"reason": reason}, now)
    asked = {request.applicant_id, request.submitted_by_id}
    told = f"您的用章申请 {request.number} 用印失败：{reason}"
    notify(session, asked, "failed", request, "用印未完成", told, now, webhook)
    keepers = {u.id for u in directory.holders(session, request.organisation.code, Post.SEAL_ADMIN, now)}
    notify(
        session,
        keepers - asked,
        "failed",
        request,
        "用印失败，待重试",
        f"用章申请 {request.number} 用印失败：{reason}。请查明原因，再在“待我审批”页面重新用印。",
        now,
        webhook,
    )


def _recover_stale(sessions: sessionmaker[Session], clock: Clock) -> None:
    """A request an earlier version's executor left executing when its process died is failed, so that it can be
    retried (the executor now commits a request's start with its result); one that is executing because its seal
    machine is stamping under an authorisation is not stale, however long it takes."""
    now = clock.now()
    stamping = select(Authorisation.request_id).where(Authorisation.state.in_([str(s) for s in LIVE]))
    with sessions.begin() as session:  # ends in COMMIT, which keeps the connection's prepared statements
        stale = session.scalars(
            select(SealRequest.id).where(
                SealRequest.state == State.EXECUTING,
                SealRequest.updated_at < now - STALE,
                SealRequest.id.not_in(stamping),
            )
        ).all()
    for request_id in stale:
        _fail(sessions, request_id, State.EXECUTING, "execution was interrupted", clock, None)


def may_retry(who: Principal, request: SealRequest) -> bool:
    """Whether ``who`` retries ``request`` once it failed: its organisation's seal administrator, or an
    administrator."""
    return who.holds(Post.SEAL_ADMIN, request.organisation.code) or who.holds(Post.ADMIN)


def retry(session: Session, request_id: int, who: Principal, now: dt.datetime) -> SealRequest:
    """Another run of a failed request, which its organisation's seal administrator (or an administrator) asks."""
    seen = visible(session, request_id, who, now)
    if not may_retry(who, seen):
        raise Forbidden("the seal administrator of the organisation retries a failed request")
    request = session.get(SealRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound(f"no request {request_id}")
    require(request.state, State.FAILED, "retry")
    request.state, request.updated_at = State.APPROVED, now
    wakeup.on_commit(session)
    history.record(session, request, "retried", f"user:{who.username}", {"failure": request.failure}, now)
    return request


def _enqueue_delivery(session: Session, request: SealRequest, result: Mapping[str, Any], now: dt.datetime) -> None:
    matter = matter_of(session, request)
    if matter.destination is None:
        return
    payload = {
        "request": request.number,
        "matter": {"code": matter.code, "name": matter.name},
        "organisation": {"code": request.organisation.code, "name": request.organisation.name},
        "completed_at": now.isoformat(),
        "document": {"sha256": request.document_sha256, "path": f"/api/v1/requests/{request.id}/document"},
        "form": request.form,
        "result": dict(result),
    }
    delivery.enqueue(
        session,
        kind="bureau",
        target=matter.destination,
        request_id=request.id,
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True).encode(),
        key=f"request-{request.id}-to-{matter.destination}",
        now=now,
    )
