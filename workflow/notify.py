"""Notifications: an in-app inbox per user, and, where configured, the same message to a webhook through the
outbox (so a slow or absent receiver never holds up a decision)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

from workflow import delivery
from workflow.models import Notification, SealRequest


def notify(
    session: Session,
    user_ids: Iterable[int],
    kind: str,
    request: SealRequest | None,
    title: str,
    body: str,
    now: dt.datetime,
    webhook: str | None = None,
) -> None:
    for user_id in sorted(set(user_ids)):
        note = Notification(
            user_id=user_id,
            request_id=request.id if request else None,
            kind=kind,
            title=title,
            body=body,
            created_at=now,
        )
        session.add(note)
        if webhook:
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
                request_id=request.id if request else None,
                payload=json.dumps(payload, ensure_ascii=False).encode(),
                key=f"notification-{note.id}",
                now=now,
            )
