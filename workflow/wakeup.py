"""The workers' wake-up: a request approved in this process is executed as soon as its transaction commits,
rather than at the workers' next pass; other processes find it at theirs."""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

approved = threading.Event()


def on_commit(session: Session) -> None:
    """Wake the workers when ``session``'s transaction commits; a rollback wakes nobody."""
    event.listen(session, "after_commit", lambda _: approved.set(), once=True)
