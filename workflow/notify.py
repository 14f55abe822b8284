"""Notifications: an in-app inbox per user, and, where configured, the same message to a webhook through the
outbox (so a slow or absent receiver never holds up a decision)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core import deferred
from core.errors import NotFound
from workflow import delivery
from workflow.case import Subject
from workflow.models import Notification

_INSERT = insert(Notification)


def notify(
    session: Session,
    user_ids: Iterable[int],
    kind: str,
    request: Subject | None,
    title: str,
    body: str,
    now: dt.datetime,
    webhook: str | None = None,
) -> None:
    users = sorted(set(user_ids))
    request_id = request.id if request else None
    if not webhook:  # one statement for everyone: notifications go out with every decision
        if users:
            rows = [
                {"user_id": u, "request_id": request_id, "kind": kind, "title": title, "body": body, "created_at": now}
                for u in users
            ]
            deferred.write(session.connection(), _INSERT, rows)
        return
    for user_id in users:
        note = Notification(user_id=user_id, request_id=request_id, kind=kind, title=title, body=body, created_at=now)
        session.add(note)
        session.flush()
        payload = {
            "notification": note.id,
            "user": user_id,
            "kind": kind,
            "request": request.number if request else None,
            "title": title,
            "body": body,
            "time": now.isoformat(),
        }
        delivery.enqueue(
            session,
            kind="webhook",
            target=webhook,
            request_id=request_id,
            payload=json.dumps(payload, ensure_ascii=False).encode(),
            key=f"notification-{note.id}",
            now=now,
        )


def inbox(session: Session, user_id: int, *, unread: bool) -> list[Notification]:
    """The user's newest 200 notifications, or only those not read yet."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(200)))


def mark_read(session: Session, user_id: int, notification_id: int, now: dt.datetime) -> Notification:
    """Another user's notification is as unknown as a missing one."""
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        raise NotFound(f"no notification {notification_id}")
    if note.read_at is None:
        note.read_at = now
    return note
