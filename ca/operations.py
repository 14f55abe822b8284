"""Two certificate administrators for every issuance, renewal and revocation, and for suspending or resuming a
seal (four-eyes).

One administrator asks; the operation waits, runs nothing, and is logged. A second administrator approves, and
only then does it run, in the approval's transaction, with both steps in the log under the seal's subject. The
second may not be an account the first made, nor hold a certificate administrator's post the first granted
(``identity.independence``), and the other way round.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import seals
from ca.administration import administrator
from ca.hierarchy import Authority
from ca.models import Certificate, Operation, Seal
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.keystore import Keystore
from core.settings import Settings
from identity import independence
from identity.auth import Principal
from identity.models import User
from identity.posts import Post
from ledger.append import append
from ledger.entry import Event


class Kind(enum.StrEnum):
    ISSUE = "issue"
    RENEW = "renew"
    REVOKE = "revoke"
    SUSPEND = "suspend"
    RESUME = "resume"


class State(enum.StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"
    REJECTED = "rejected"


def _admin(who: Principal) -> str:
    return administrator(who, "may ask for or decide on certificate operations")


def _log(session: Session, op: Operation, what: str, actor: str, now: dt.datetime) -> None:
    data = {"operation": op.id, "kind": op.kind, "certificate": op.certificate_id, "reason": op.reason}
    append(session, Event(f"ca.operation.{what}", seals.subject(op.seal_id), actor, data, now))


def ask(
    session: Session,
    who: Principal,
    kind: Kind,
    seal_id: int,
    now: dt.datetime,
    *,
    reason: str | None = None,
) -> Operation:
    actor = _admin(who)
    seal = seals.get(session, seal_id)
    suspended = seal.status == seals.SealStatus.SUSPENDED
    if suspended and kind is Kind.SUSPEND:
        raise Conflict(f"seal {seal.id} is suspended already")
    if suspended and kind not in (Kind.REVOKE, Kind.RESUME):
        raise Conflict(f"seal {seal.id} is suspended; resume it first, or revoke its certificate")
    if kind is Kind.RESUME and not suspended:
        raise Conflict(f"seal {seal.id} is not suspended")
    current = seals.current_certificate(session, seal.id)
    if kind is Kind.ISSUE and current is not None:
        raise Conflict(f"seal {seal.id} has certificate {current.serial} in force; renew or revoke it")
    if kind in (Kind.RENEW, Kind.REVOKE) and current is None:
        raise Conflict(f"seal {seal.id} has no certificate in force to {kind}")
    if kind is Kind.REVOKE:
        if reason not in seals.REVOCATION_REASONS:
            raise Invalid(f"a revocation needs one of RFC 5280's reasons: {', '.join(seals.REVOCATION_REASONS)}")
    elif reason is not None:
        raise Invalid("only a revocation has a reason")
    if kind is Kind.ISSUE and seal.form == seals.SealForm.PHYSICAL:
        raise Invalid(f"seal {seal.id} is physical only and has no certificate")
    pending = session.scalar(select(Operation.id).where(Operation.seal_id == seal.id, Operation.state == State.PENDING))
    if pending is not None:
        raise Conflict(f"operation {pending} on seal {seal.id} awaits a second administrator")
    op = Operation(
        kind=str(kind),
        state=State.PENDING,
        seal_id=seal.id,
        certificate_id=current.id if current is not None and kind in (Kind.RENEW, Kind.REVOKE) else None,
        reason=reason,
        requested_by_id=who.user_id,
        requested_at=now,
    )
    session.add(op)
    session.flush()
    _log(session, op, "requested", actor, now)
    return op


def _pending(session: Session, who: Principal, op_id: int) -> tuple[Operation, str]:
    actor = _admin(who)
    op = session.get(Operation, op_id, with_for_update=True)
    if op is None:
        raise NotFound(f"no certificate operation {op_id}")
    if op.state != State.PENDING:
        raise Conflict(f"operation {op.id} is {op.state} already")
    if op.requested_by_id == who.user_id:
        raise Forbidden("the administrator who asked for an operation cannot approve or reject it")
    return op, actor


def approve(
    session: Session,
    who: Principal,
    op_id: int,
    keystore: Keystore,
    authority: Authority,
    settings: Settings,
    now: dt.datetime,
) -> Operation:
    """The second administrator's approval, and the operation itself."""
    op, actor = _pending(session, who, op_id)
    independence.require(session, op.requested_by_id, who.user_id, Post.CERT_ADMIN, now)
    seal = session.get(Seal, op.seal_id, with_for_update=True)
    assert seal is not None, "an operation's seal is a foreign key"
    op.state, op.decided_by_id, op.decided_at = State.EXECUTED, who.user_id, now
    _log(session, op, "approved", actor, now)
    if op.kind == Kind.SUSPEND:
        seals.suspend(session, seal, now, actor)
    elif op.kind == Kind.RESUME:
        seals.resume(session, seal, now, actor)
    elif op.kind == Kind.REVOKE:
        certificate = session.get(Certificate, op.certificate_id)
        assert certificate is not None, "asking for a revocation checked that the seal has a certificate"
        assert op.reason is not None, "a revocation is asked for with its reason"
        seals.revoke(session, authority, settings, certificate, op.reason, now, actor)
    else:
        op.result_id = seals.issue(session, keystore, authority, settings, seal, now, actor).id
    return op


def listed(session: Session, who: Principal, state: State | None) -> list[Operation]:
    """Operations in the order they were asked for, or only those in ``state``: which seal, who asked and why a
    certificate is revoked are for the certificate administrators who decide and the administrators who look."""
    if not (who.holds(Post.CERT_ADMIN) or who.holds(Post.ADMIN)):
        raise Forbidden("only certificate administrators and administrators see certificate operations")
    query = select(Operation).order_by(Operation.id)
    if state is not None:
        query = query.where(Operation.state == state)
    return list(session.scalars(query))


def people(session: Session, operations: list[Operation]) -> dict[int, str]:
    """The names of the administrators who asked for and decided on ``operations``, by user id."""
    ids = {op.requested_by_id for op in operations} | {op.decided_by_id for op in operations if op.decided_by_id}
    return {
        user_id: name for user_id, name in session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }


def reject(session: Session, who: Principal, op_id: int, now: dt.datetime) -> Operation:
    op, actor = _pending(session, who, op_id)
    op.state, op.decided_by_id, op.decided_at = State.REJECTED, who.user_id, now
    _log(session, op, "rejected", actor, now)
    return op
