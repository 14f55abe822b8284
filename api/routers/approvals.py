"""What an approver has to decide, what is overdue, and the in-app inbox of notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import PrincipalDep, ReadSessionDep, RuntimeDep, SessionDep
from api.schemas_workflow import InboxItem, NotificationOut, OverdueOut
from core.errors import Forbidden, NotFound
from identity.posts import Post
from workflow import sla, views
from workflow.models import Notification
from workflow.review import matter_of

router = APIRouter(tags=["approvals"])


@router.get("/api/v1/approvals/inbox", response_model=list[InboxItem])
def inbox(who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> list[dict[str, Any]]:
    now = rt.clock.now()
    return [
        {
            "id": request.id,
            "number": request.number,
            "matter": matter_of(session, request).name,
            "organisation": request.organisation.name,
            "level": step.level,
            "label": step.label,
            "mode": step.mode,
            "started_at": step.started_at,
            "due_at": step.due_at,
            "overdue": step.due_at < now,
        }
        for step, request in views.inbox(session, who, now)
    ]


@router.get("/api/v1/supervision/overdue", response_model=list[OverdueOut])
def overdue(who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> list[dict[str, Any]]:
    """Steps past their time limit in the organisations the caller supervises (inspectors, administrators) or
    works in (secretaries and seal administrators)."""
    supervised = {p.organisation_code for p in who.posts if p.post in (Post.INSPECTOR, Post.ADMIN)}
    working = {p.organisation_code for p in who.posts if p.post in (Post.SECRETARY, Post.SEAL_ADMIN)}
    if not supervised | working:
        raise Forbidden("the list of overdue steps is for inspectors, administrators, secretaries and seal admins")
    return [
        {
            "id": o.request_id,
            "number": o.number,
            "matter": o.matter,
            "organisation": o.organisation,
            "level": o.level,
            "label": o.label,
            "started_at": o.started_at,
            "due_at": o.due_at,
            "elapsed_seconds": int(o.elapsed.total_seconds()),
            "limit_seconds": int(o.limit.total_seconds()),
            "approvers": o.approvers,
            "warned": o.warned,
        }
        for o in sla.overdue(session, rt.clock.now(), supervised | working)
    ]


@router.get("/api/v1/notifications", response_model=list[NotificationOut])
def notifications(who: PrincipalDep, session: ReadSessionDep, unread: bool = False) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == who.user_id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(200)))


@router.post("/api/v1/notifications/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: int, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Notification:
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != who.user_id:
        raise NotFound(f"no notification {notification_id}")
    if note.read_at is None:
        note.read_at = rt.clock.now()
    session.commit()
    return note
