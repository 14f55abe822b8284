"""A request's history in the log: every transition, decision, warning and delivery is an entry with the
subject ``request:<id>``, so that ``prev`` links the request's entries into one chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from ledger.append import Appended, append
from ledger.entry import Event, commit
from workflow.case import Subject


def subject(request_id: int) -> str:
    return f"request:{request_id}"


def record(
    session: Session, request: Subject, kind: str, actor: str, data: dict[str, Any], now: dt.datetime
) -> Appended:
    body = {"number": request.number, "state": request.state, "level": request.level, **data}
    return append(session, Event(f"request.{kind}", subject(request.id), actor, body, now), fresh=True)


def committed_text(session: Session, kind: str, text: str, now: dt.datetime) -> str | None:
    """Free text (a comment, a purpose) enters the log only as a commitment: it may name people."""
    return commit(session, kind, text, now) if text else None
