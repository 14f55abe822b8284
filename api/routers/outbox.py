"""Deliveries to bureaus and webhooks, for administrators: what is pending or dead, and redelivery."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from workflow import administration
from workflow.models import OutboxMessage

router = APIRouter(prefix="/api/v1/admin/outbox", tags=["admin"])


class MessageOut(BaseModel):
    id: int
    kind: str
    target: str
    request_id: int | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


@router.get("", response_model=list[MessageOut])
def messages(who: PrincipalDep, session: ReadSessionDep, status: str = "dead") -> list[OutboxMessage]:
    return administration.outbox(session, who, status)


@router.post("/{message_id}/retry", response_model=MessageOut)
def retry(message_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> OutboxMessage:
    message = administration.redeliver(session, who, message_id, rt.clock.now())
    session.commit()
    return message
