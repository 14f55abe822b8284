"""What an approver has to decide, what is overdue, and the in-app inbox of notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from api.schemas_workflow import InboxItem, NotificationOut, OverdueOut
from workflow import notify, sla, views
from workflow.models import Notification

router = APIRouter(tags=["approvals"])


@router.get("/api/v1/approvals/inbox", response_model=list[InboxItem])
def inbox(who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> list[dict[str, Any]]:
    return views.inbox_view(session, who, rt.clock.now())


@router.get("/api/v1/supervision/overdue", response_model=list[OverdueOut])
def overdue(who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep) -> list[dict[str, Any]]:
    """Steps past their time limit in the organisations the caller supervises (inspectors, administrators) or
    works in (secretaries and seal administrators)."""
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
        for o in sla.overdue_for(session, who, rt.clock.now())
    ]


@router.get("/api/v1/notifications", response_model=list[NotificationOut])
def notifications(who: PrincipalDep, session: ReadSessionDep, unread: bool = False) -> list[Notification]:
    return notify.inbox(session, who.user_id, unread=unread)


@router.post("/api/v1/notifications/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Notification:
    note = notify.mark_read(session, who.user_id, notification_id, rt.clock.now())
    session.commit()
    return note
