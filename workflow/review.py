"""Review: a request moves through the levels of its chain; each level is a step with a time limit, decided by
one holder (或签), all holders (会签) or a majority of them (两委); a decision is checked against separation of
duties and recorded with both the actor and the holder a deputy acts for."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from identity.models import Delegation, User
from sealgate.errors import Conflict, Invalid, NotFound
from workflow import catalogs, history
from workflow.catalog import Chain, Matter, Mode
from workflow.models import Decision, SealRequest, Step
from workflow.notify import notify
from workflow.routing import Authority, Duties, Unroutable, authority, holders, level_organisation
from workflow.states import State, check


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"


class LevelConflict(Conflict):
    problem = "level-decided"


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str

    @property
    def log_name(self) -> str:
        return f"user:{self.username}"


def matter_of(session: Session, request: SealRequest) -> Matter:
    matter = catalogs.version(session, request.catalog_version_id).matter(request.matter_code)
    if matter is None:
        raise NotFound(f"matter {request.matter_code} is not in catalogue version {request.catalog_version_id}")
    return matter


def chain_of(session: Session, request: SealRequest) -> Chain:
    catalog = catalogs.version(session, request.catalog_version_id)
    return catalog.chains[matter_of(session, request).chain]


def open_step(session: Session, request: SealRequest) -> Step:
    step = session.scalar(
        select(Step)
        .where(Step.request_id == request.id, Step.level == request.level, Step.finished_at.is_(None))
        .order_by(Step.id.desc())
        .limit(1)
    )
    if step is None:
        raise NotFound(f"request {request.number} has no open step")
    return step


def deputies_of(session: Session, holder_ids: list[int], organisation_id: int, post: str, at: dt.datetime) -> set[int]:
    if not holder_ids:
        return set()
    return set(
        session.scalars(
            select(Delegation.deputy_id).where(
                Delegation.holder_id.in_(holder_ids),
                Delegation.organisation_id == organisation_id,
                Delegation.post == post,
                Delegation.valid_from <= at,
                Delegation.valid_until > at,
                Delegation.ended_at.is_(None),
            )
        )
    )


def start_level(
    session: Session,
    request: SealRequest,
    chain: Chain,
    number: int,
    now: dt.datetime,
    webhook: str | None,
    duties: Duties | None = None,
) -> Step:
    level = chain.levels[number - 1]
    organisation = level_organisation(request, level)
    ruled_out = (duties or Duties.of(session, request, now)).barred
    assignees = [user for user in holders(session, organisation.id, level.post, now) if user not in ruled_out]
    if not assignees:
        raise Unroutable(
            f"nobody may decide '{level.label}': no holder of {level.post} in {organisation.name} "
            "who is not the applicant, a custodian of its seals, or an approver of an earlier level"
        )
    step = Step(
        request_id=request.id,
        round=request.round,
        level=number,
        label=level.label,
        post=str(level.post),
        organisation_id=organisation.id,
        mode=str(level.mode),
        assignees=assignees,
        started_at=now,
        due_at=now + dt.timedelta(hours=level.hours),
    )
    session.add(step)
    request.state, request.level, request.updated_at = State.IN_REVIEW, number, now
    matter = matter_of(session, request)
    notify(
        session,
        assignees + sorted(deputies_of(session, assignees, organisation.id, level.post, now)),
        "review",
        request,
        f"待审批：{matter.name}",
        f"申请编号 {request.number} 等待您{level.label}，办理时限 {level.hours:g} 小时。",
        now,
        webhook,
    )
    session.flush()
    return step


def check_routable(session: Session, request: SealRequest, chain: Chain, now: dt.datetime) -> None:
    """Refuse at submission a request that no one could decide at some level."""
    ruled_out = Duties.of(session, request, now).barred
    for level in chain.levels:
        organisation = level_organisation(request, level)
        if not set(holders(session, organisation.id, level.post, now)) - ruled_out:
            raise Unroutable(
                f"nobody may decide '{level.label}': no holder of {level.post} in {organisation.name} "
                "who is not the applicant or a custodian of its seals"
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
) -> tuple[SealRequest, Decision]:
    """Decide the open level of a request; the row lock makes concurrent deciders take turns, and the level
    named in the decision makes the loser of a race on a 或签 level a conflict, not a second decision."""
    request = session.get(SealRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound(f"no request {request_id}")
    if request.state != State.IN_REVIEW:
        raise LevelConflict(f"request {request.number} is {request.state}; it is not under review", state=request.state)
    if request.level != level:
        raise LevelConflict(
            f"level {level} of request {request.number} is no longer under review; it is at level {request.level}",
            level=request.level,
        )
    step = open_step(session, request)
    duties = Duties.of(session, request, now)
    duties.check(step, Authority(actor.user_id, None))  # the specific reason first
    who = authority(session, actor.user_id, step, now)
    if who.on_behalf_of_id is not None:
        duties.check(step, who)
    if verdict is not Verdict.APPROVE and not comment.strip():
        raise Invalid(f"a decision to {verdict} needs a reason in the comment")
    if verdict is Verdict.RETURN and (to_level is None or not 0 <= to_level < level):
        raise Invalid(f"return to an earlier level (1 to {level - 1}) or to the applicant (0)")
    made = Decision(
        request_id=request.id,
        step_id=step.id,
        round=request.round,
        level=level,
        decision=str(verdict),
        actor_id=who.actor_id,
        on_behalf_of_id=who.on_behalf_of_id,
        to_level=to_level if verdict is Verdict.RETURN else None,
        comment=comment,
        decided_at=now,
        superseded=False,
    )
    session.add(made)
    session.flush()
    chain = chain_of(session, request)
    outcome = _outcome(session, step, verdict)
    if outcome is Verdict.APPROVE:
        _finish(step, "approved", now)
        if level == len(chain.levels):
            check(request.state, State.APPROVED, "approve")
            request.state, request.level, request.updated_at = State.APPROVED, None, now
    elif outcome is Verdict.REJECT:
        _finish(step, "rejected", now)
        request.state, request.level, request.finished_at, request.updated_at = State.REJECTED, None, now, now
    elif outcome is Verdict.RETURN:
        _finish(step, "returned", now)
        session.execute(
            update(Decision)
            .where(
                Decision.request_id == request.id,
                Decision.round == request.round,
                Decision.level >= (to_level or 1),
            )
            .values(superseded=True)
        )
        if to_level == 0:
            request.state, request.level, request.updated_at = State.RETURNED, None, now
    if outcome is Verdict.APPROVE and level < len(chain.levels):
        duties.approved(level, who)
        start_level(session, request, chain, level + 1, now, webhook, duties)
    elif outcome is Verdict.RETURN and to_level:
        start_level(session, request, chain, to_level, now, webhook)
    data = {
        "decision": str(verdict),
        "decided_level": level,
        "round": request.round,
        "on_behalf_of": _username(session, who.on_behalf_of_id),
        "to_level": to_level if verdict is Verdict.RETURN else None,
        "comment": history.committed_text(session, "comment", comment, now),
    }
    history.record(session, request, "decided", actor.log_name, data, now)
    _tell_applicant(session, request, outcome, level, webhook, now)
    return request, made


def _outcome(session: Session, step: Step, verdict: Verdict) -> Verdict | None:
    """What the level decides now: a verdict, or None while a 会签 or 两委 level is still collecting votes."""
    mode = Mode(step.mode)
    if mode is Mode.ANY or verdict is Verdict.RETURN:
        return verdict
    votes = session.execute(
        select(Decision.decision, Decision.actor_id, Decision.on_behalf_of_id).where(
            Decision.step_id == step.id, Decision.superseded.is_(False)
        )
    ).all()
    voters = {str(v): {behalf or actor for d, actor, behalf in votes if d == v} for v in ("approve", "reject")}
    approvals = len(voters["approve"] & set(step.assignees))
    rejections = len(voters["reject"] & set(step.assignees))
    total = len(step.assignees)
    if mode is Mode.ALL:
        return Verdict.REJECT if rejections else (Verdict.APPROVE if approvals == total else None)
    if approvals * 2 > total:
        return Verdict.APPROVE
    return Verdict.REJECT if rejections * 2 >= total else None


def _finish(step: Step, outcome: str, now: dt.datetime) -> None:
    step.finished_at, step.outcome = now, outcome


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return f"user:{user.username}" if user else None


_TOLD = {
    Verdict.REJECT: ("申请未通过", "您的用章申请 {number} 在“{label}”环节未获通过。"),
    Verdict.RETURN: ("申请被退回", "您的用章申请 {number} 在“{label}”环节被退回，请查看意见。"),
}


def _tell_applicant(
    session: Session,
    request: SealRequest,
    outcome: Verdict | None,
    level: int,
    webhook: str | None,
    now: dt.datetime,
) -> None:
    label = chain_of(session, request).levels[level - 1].label
    if request.state == State.APPROVED:
        title, body = "申请已批准", "您的用章申请 {number} 已通过全部审批，正在用印。"
    elif outcome in _TOLD:
        title, body = _TOLD[outcome]
    else:
        return
    users = {request.applicant_id, request.submitted_by_id}
    notify(session, users, "decision", request, title, body.format(number=request.number, label=label), now, webhook)
