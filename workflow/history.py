"""A request's history in the log: every transition, decision, warning and delivery is an entry with the
subject ``request:<id>``, so that ``prev`` links the request's entries into one chain.

The log is public, and a request for a welfare, disability or guardianship matter says something about its
applicant: so the applicant's side (who submitted, withdrew or resubmitted it, whom it is for) and the matter
enter it only as salted commitments (``person``, ``matter``). Officials who decide stay named: their decisions are
what the log is there to show."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.append import Appended, append
from ledger.entry import Event, commit
from ledger.models import PersonalDatum
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


def person(session: Session, username: str, now: dt.datetime) -> str:
    """A user of the applicant's side as the log holds them: the commitment to ``user:<username>``."""
    return commit(session, "person", f"user:{username}", now)


def matter(session: Session, code: str, now: dt.datetime) -> str:
    """A matter's code as the log holds it for a request: which matter someone applied for is personal."""
    return commit(session, "matter", code, now)


def opened(session: Session, value: str) -> str:
    """What a commitment of this module stands for, for those allowed to know; anything else as it is."""
    if not value.startswith("sha256:"):
        return value
    found = session.scalar(select(PersonalDatum.value).where(PersonalDatum.commitment == value))
    return found if found is not None else value
