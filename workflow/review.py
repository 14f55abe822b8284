"""Review: a request moves through the levels of its chain; each level is a step with a time limit, decided by
one holder (或签), all holders (会签) or a majority of them (两委); a decision is checked against separation of
duties and recorded with both the actor and the holder a deputy acts for.

A decision reads and writes through Core statements built once (see ``workflow.case``): the request under
lock, its open step, the seats it involves and the approvals standing, then one insert or update per row. The
writes are deferred (``core.deferred``): on PostgreSQL they go out with the log's head lock and the COMMIT
instead of one round trip each.
"""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from core import deferred
from core.errors import Conflict, Invalid, NotFound
from identity.auth import principal_of
from identity.models import Organisation, User
from identity.posts import Post
from workflow import case as cases
from workflow import catalogs, history, visibility, wakeup
from workflow.case import Case, OpenStep
from workflow.catalog import Chain, Matter, Mode
from workflow.models import Decision, SealRequest, Step
from workflow.notify import notify
from workflow.routing import Authority, Duties, Seats, Unroutable, level_organisation
from workflow.states import State, check

_decisions = Decision.__table__.c
_steps = Step.__table__.c
_requests = SealRequest.__table__.c

_INSERT_DECISION = insert(Decision)
_INSERT_STEP = insert(Step)
_FINISH_STEP = (
    update(Step)
    .where(_steps.id == bindparam("step"))
    .values(finished_at=bindparam("finished_at"), outcome=bindparam("outcome"))
)
_MOVE_REQUEST = (
    update(SealRequest)
    .where(_requests.id == bindparam("request"))
    .values(
        state=bindparam("new_state"),
        level=bindparam("new_level"),
        updated_at=bindparam("now"),
        finished_at=bindparam("finished"),
    )
)
_SUPERSEDE = (
    update(Decision)
    .where(
        _decisions.request_id == bindparam("request"),
        _decisions.round == bindparam("in_round"),
        _decisions.level >= bindparam("from_level"),
    )
    .values(superseded=True)
)
_VOTES = select(_decisions.decision, _decisions.actor_id, _decisions.on_behalf_of_id).where(
    _decisions.step_id == bindparam("step"), _decisions.superseded.is_(False)
)
_USERNAME = select(User.__table__.c.username).where(User.__table__.c.id == bindparam("id"))


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"


class LevelConflict(Conflict):
    problem = "level-decided"


class ReasonNeeded(Invalid):
    """A rejection or a return without a reason: the applicant is owed one, and the log keeps it."""

    problem = "reason-needed"


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str

    @property
    def log_name(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class Decided:
    """What a decision did to its request, and the decision as the API shows it."""

    request: Case
    decision: dict[str, Any]


def matter_of(session: Session, request: SealRequest | Case) -> Matter:
    matter = catalogs.version(session, request.catalog_version_id).matter(request.matter_code)
    if matter is None:
        raise NotFound(f"matter {request.matter_code} is not in catalogue version {request.catalog_version_id}")
    return matter


def chain_of(session: Session, request: SealRequest | Case) -> Chain:
    catalog = catalogs.version(session, request.catalog_version_id)
    return catalog.chains[matter_of(session, request).chain]


def start_level(
    session: Session,
    case: Case,
    chain: Chain,
    number: int,
    now: dt.datetime,
    webhook: str | None,
    seats: Seats | None = None,
    duties: Duties | None = None,
) -> None:
    """Open level ``number``: a step assigned to the holders who may decide it, and a message to each of them
    and their deputies. The caller moves the request to the level."""
    level = chain.levels[number - 1]
    organisation_id = level_organisation(session, case, level)
    seats = seats or Seats.read(session, [(organisation_id, level.post), (case.organisation_id, Post.CUSTODIAN)], now)
    ruled_out = (duties or Duties.read(session, case, seats)).barred
    assignees = [user for user in seats.holding(organisation_id, level.post) if user not in ruled_out]
    if not assignees:
        organisation = session.get(Organisation, organisation_id)
        raise Unroutable(
            f"nobody may decide '{level.label}': no holder of {level.post} in "
            f"{organisation.name if organisation else organisation_id} "
            "who is not the applicant, a custodian of its seals, or an approver of an earlier level"
        )
    deferred.write(
        session.connection(),
        _INSERT_STEP,
        {
            "request_id": case.id,
            "round": case.round,
            "level": number,
            "label": level.label,
            "post": str(level.post),
            "organisation_id": organisation_id,
            "mode": str(level.mode),
            "assignees": assignees,
            "started_at": now,
            "due_at": now + dt.timedelta(hours=level.hours),
            "finished_at": None,
            "outcome": None,
            "warned_at": None,
            "reminded_at": None,
        },
    )
    notify(
        session,
        set(assignees) | seats.deputies(organisation_id, level.post, assignees),
        "review",
        case,
        f"待审批：{matter_of(session, case).name}",
        f"申请编号 {case.number} 等待您{level.label}，办理时限 {level.hours:g} 小时。",
        now,
        webhook,
    )


def check_routable(session: Session, case: Case, chain: Chain, now: dt.datetime) -> None:
    """Refuse at submission a request that no one could decide at some level."""
    organisations = [level_organisation(session, case, level) for level in chain.levels]
    seats = Seats.read(
        session,
        [(org, level.post) for org, level in zip(organisations, chain.levels, strict=True)]
        + [(case.organisation_id, Post.CUSTODIAN)],
        now,
    )
    ruled_out = Duties.read(session, case, seats).barred
    for org, level in zip(organisations, chain.levels, strict=True):
        if not set(seats.holding(org, level.post)) - ruled_out:
            organisation = session.get(Organisation, org)
            raise Unroutable(
                f"nobody may decide '{level.label}': no holder of {level.post} in "
                f"{organisation.name if organisation else org} who is not the applicant or a custodian of its seals"
            )


def decide(
    session: Session,
    request_id: int,
    actor: Actor,
    *,
    level: int,
    verdict: Verdict,
    comment: str,
    to_level: int | None,
    now: dt.datetime,
    webhook: str | None = None,
) -> Decided:
    """Decide the open level of a request; the row lock makes concurrent deciders take turns, and the level
    named in the decision makes the loser of a race on a 或签 level a conflict, not a second decision."""
    session.flush()  # what this session changed through the ORM, before Core reads it
    case = cases.locked(session, request_id)
    step = cases.open_step(session, case) if case is not None and case.state == State.IN_REVIEW else None
    if case is None or not _sees(session, case, step, actor, now):
        raise NotFound(f"no request {request_id} that you may see")
    if case.state != State.IN_REVIEW:
        raise LevelConflict(f"request {case.number} is {case.state}; it is not under review", state=case.state)
    if case.level != level:
        raise LevelConflict(
            f"level {level} of request {case.number} is no longer under review; it is at level {case.level}",
            level=case.level,
        )
    if step is None:
        raise NotFound(f"request {case.number} has no open step")
    chain = chain_of(session, case)
    following = _following(chain, level, verdict, to_level)
    wanted = [(step.organisation_id, step.post), (case.organisation_id, Post.CUSTODIAN)]
    if following is not None:
        upcoming = chain.levels[following - 1]
        with suppress(Unroutable):  # start_level says so, once the decision itself is known to be allowed
            wanted.append((level_organisation(session, case, upcoming), upcoming.post))
    seats = Seats.read(session, wanted, now)
    duties = Duties.of(case, seats, step.approvals)
    duties.check(step, Authority(actor.user_id, None))  # the specific reason first
    who = seats.authority(actor.user_id, step)
    if who.on_behalf_of_id is not None:
        duties.check(step, who)
    if verdict is not Verdict.APPROVE and not comment.strip():
        raise ReasonNeeded(f"a decision to {verdict} needs a reason in the comment")
    if verdict is Verdict.RETURN and (to_level is None or not 0 <= to_level < level):
        raise Invalid(f"return to an earlier level (1 to {level - 1}) or to the applicant (0)")
    conn = session.connection()
    decision = {
        "request_id": case.id,
        "step_id": step.id,
        "round": case.round,
        "level": level,
        "decision": str(verdict),
        "actor_id": who.actor_id,
        "on_behalf_of_id": who.on_behalf_of_id,
        "to_level": to_level if verdict is Verdict.RETURN else None,
        "comment": comment,
        "decided_at": now,
        "superseded": False,
    }
    deferred.write(conn, _INSERT_DECISION, decision)
    outcome = _outcome(session, step, verdict)
    changes: dict[str, Any] = {"state": case.state, "level": case.level, "finished_at": None}
    if outcome is not None:
        deferred.write(conn, _FINISH_STEP, {"step": step.id, "finished_at": now, "outcome": _FINISHED[outcome]})
    if outcome is Verdict.APPROVE and level == len(chain.levels):
        check(case.state, State.APPROVED, "approve")
        changes |= {"state": State.APPROVED, "level": None}
        wakeup.on_commit(session)
    elif outcome is Verdict.REJECT:
        changes |= {"state": State.REJECTED, "level": None, "finished_at": now}
    elif outcome is Verdict.RETURN:
        deferred.write(conn, _SUPERSEDE, {"request": case.id, "in_round": case.round, "from_level": to_level or 1})
        if to_level == 0:
            changes |= {"state": State.RETURNED, "level": None}
    if outcome is Verdict.APPROVE and following is not None:
        duties.approved(level, who)
        start_level(session, case, chain, following, now, webhook, seats, duties)
        changes |= {"state": State.IN_REVIEW, "level": following}
    elif outcome is Verdict.RETURN and to_level:
        start_level(session, case, chain, to_level, now, webhook, seats)
        changes |= {"state": State.IN_REVIEW, "level": to_level}
    deferred.write(
        conn,
        _MOVE_REQUEST,
        {
            "request": case.id,
            "new_state": changes["state"],
            "new_level": changes["level"],
            "now": now,
            "finished": changes["finished_at"],
        },
    )
    after = replace(case, state=changes["state"], level=changes["level"])
    on_behalf_of = _username(session, who.on_behalf_of_id)
    data = {
        "decision": str(verdict),
        "decided_level": level,
        "round": case.round,
        "on_behalf_of": f"user:{on_behalf_of}" if on_behalf_of else None,
        "to_level": decision["to_level"],
        "comment": history.committed_text(session, "comment", comment, now),
    }
    history.record(session, after, "decided", actor.log_name, data, now)
    _tell_applicant(session, after, chain, outcome, level, webhook, now)
    view = {
        "round": case.round,
        "level": level,
        "decision": str(verdict),
        "by": actor.username,
        "on_behalf_of": on_behalf_of,
        "to_level": decision["to_level"],
        "comment": comment,
        "decided_at": now,
        "superseded": False,
    }
    return Decided(after, view)


def _sees(session: Session, case: Case, step: OpenStep | None, actor: Actor, now: dt.datetime) -> bool:
    """Deciding is for someone who may see the request (``visibility.can_see`` at ``now``): a request that is
    not found for reading is not found for deciding either. An assignee of the open step sees it, without more
    reading; anyone else is judged by the posts they hold now."""
    if step is not None and actor.user_id in step.assignees:
        return True
    request, account = session.get(SealRequest, case.id), session.get(User, actor.user_id)
    if request is None or account is None:
        return False
    return visibility.can_see(session, request, principal_of(session, account, now), now)


_FINISHED = {Verdict.APPROVE: "approved", Verdict.REJECT: "rejected", Verdict.RETURN: "returned"}


def _following(chain: Chain, level: int, verdict: Verdict, to_level: int | None) -> int | None:
    """The level that opens if this decision settles its own level."""
    if verdict is Verdict.APPROVE and level < len(chain.levels):
        return level + 1
    if verdict is Verdict.RETURN and to_level is not None and 0 < to_level < level:
        return to_level
    return None


def _outcome(session: Session, step: OpenStep, verdict: Verdict) -> Verdict | None:
    """What the level decides now: a verdict, or None while a 会签 or 两委 level is still collecting votes."""
    mode = Mode(step.mode)
    if mode is Mode.ANY or verdict is Verdict.RETURN:
        return verdict
    votes = session.connection().execute(_VOTES, {"step": step.id}).all()
    voters = {str(v): {behalf or actor for d, actor, behalf in votes if d == v} for v in ("approve", "reject")}
    approvals = len(voters["approve"] & set(step.assignees))
    rejections = len(voters["reject"] & set(step.assignees))
    total = len(step.assignees)
    if mode is Mode.ALL:
        return Verdict.REJECT if rejections else (Verdict.APPROVE if approvals == total else None)
    if approvals * 2 > total:
        return Verdict.APPROVE
    return Verdict.REJECT if rejections * 2 >= total else None


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    name: str | None = session.connection().execute(_USERNAME, {"id": user_id}).scalar()
    return name


_TOLD = {
    Verdict.REJECT: ("申请未通过", "您的用章申请 {number} 在“{label}”环节未获通过。"),
    Verdict.RETURN: ("申请被退回", "您的用章申请 {number} 在“{label}”环节被退回，请查看意见。"),
}


def _tell_applicant(
    session: Session,
    case: Case,
    chain: Chain,
    outcome: Verdict | None,
    level: int,
    webhook: str | None,
    now: dt.datetime,
) -> None:
    if case.state == State.APPROVED:
        title, body = "申请已批准", "您的用章申请 {number} 已通过全部审批，正在用印。"
    elif outcome in _TOLD:
        title, body = _TOLD[outcome]
    else:
        return
    label = chain.levels[level - 1].label
    users = {case.applicant_id, case.submitted_by_id}
    notify(session, users, "decision", case, title, body.format(number=case.number, label=label), now, webhook)
