"""Time limits: every step is due a number of hours after it starts. An overdue step is warned about once, in
the log and to its approvers and the inspectors above the organisation, and its approvers are reminded until
it is decided."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, User
from identity.posts import Post
from workflow import history
from workflow.models import SealRequest, Step
from workflow.notify import notify
from workflow.review import matter_of
from workflow.routing import deputies_of


@dataclass(frozen=True)
class Overdue:
    request_id: int
    number: str
    matter: str
    organisation: str
    level: int
    label: str
    started_at: dt.datetime
    due_at: dt.datetime
    elapsed: dt.timedelta
    limit: dt.timedelta
    approvers: list[str]
    warned: bool


def _open_overdue(session: Session, now: dt.datetime) -> list[tuple[Step, SealRequest]]:
    rows = session.execute(
        select(Step, SealRequest)
        .join(SealRequest, SealRequest.id == Step.request_id)
        .where(Step.finished_at.is_(None), Step.due_at < now)
        .order_by(Step.due_at)
    ).all()
    return [(step, request) for step, request in rows]


def overdue(session: Session, now: dt.datetime, within: set[str] | None = None) -> list[Overdue]:
    """Open steps past their limit, oldest first; ``within`` keeps those of these organisations' subtrees."""
    found = []
    for step, request in _open_overdue(session, now):
        if within is not None and not directory.is_within(session, request.organisation, within):
            continue
        names = session.scalars(select(User.username).where(User.id.in_(step.assignees)).order_by(User.username))
        found.append(
            Overdue(
                request_id=request.id,
                number=request.number or "",
                matter=matter_of(session, request).name,
                organisation=request.organisation.name,
                level=step.level,
                label=step.label,
                started_at=step.started_at,
                due_at=step.due_at,
                elapsed=now - step.started_at,
                limit=step.due_at - step.started_at,
                approvers=list(names),
                warned=step.warned_at is not None,
            )
        )
    return found


def overdue_for(session: Session, who: Principal, now: dt.datetime) -> list[Overdue]:
    """Overdue steps in the organisations the caller supervises (inspectors, administrators) or works in
    (secretaries and seal administrators); Forbidden to anyone else."""
    supervised = {p.organisation_code for p in who.posts if p.post in (Post.INSPECTOR, Post.ADMIN)}
    working = {p.organisation_code for p in who.posts if p.post in (Post.SECRETARY, Post.SEAL_ADMIN)}
    if not supervised | working:
        raise Forbidden("the list of overdue steps is for inspectors, administrators, secretaries and seal admins")
    return overdue(session, now, supervised | working)


def _inspectors(session: Session, organisation: Organisation, now: dt.datetime) -> set[int]:
    found: set[int] = set()
    for org in directory.ancestors(session, organisation):
        found |= {u.id for u in directory.holders(session, org.code, Post.INSPECTOR, now)}
    return found


def scan(session: Session, now: dt.datetime, *, remind_every: dt.timedelta, webhook: str | None = None) -> int:
    """Warn about steps that became overdue (once, logged) and remind approvers; commits. Returns warnings."""
    warned = 0
    for step, request in _open_overdue(session, now):
        approvers = set(step.assignees) | deputies_of(session, step.assignees, step.organisation_id, step.post, now)
        late = now - step.due_at
        if step.warned_at is None:
            step.warned_at = step.reminded_at = now
            warned += 1
            data = {
                "decided_level": step.level,
                "label": step.label,
                "elapsed_seconds": int((now - step.started_at).total_seconds()),
                "limit_seconds": int((step.due_at - step.started_at).total_seconds()),
            }
            history.record(session, request, "overdue", "system", data, now)
            notify(
                session,
                approvers | _inspectors(session, request.organisation, now),
                "overdue",
                request,
                f"审批超时：{request.number}",
                f"“{step.label}”已超过办理时限 {_hours(late)}，请尽快处理。",
                now,
                webhook,
            )
        elif step.reminded_at is not None and step.reminded_at + remind_every <= now:
            step.reminded_at = now
            notify(
                session,
                approvers,
                "reminder",
                request,
                f"催办：{request.number}",
                f"“{step.label}”已超过办理时限 {_hours(late)}。",
                now,
                webhook,
            )
    session.commit()
    return warned


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} 小时"
