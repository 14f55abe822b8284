"""The workers' wake-up: a request approved in this process is executed as soon as its transaction commits,
rather than at the workers' next pass; other processes find it at theirs."""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

approved = threading.Event()
_WAKE = "workflow.wakeup"  # in Session.info: wake the workers when this transaction commits


def on_commit(session: Session) -> None:
    """Wake the workers when ``session``'s transaction commits; a rollback wakes nobody. (Marked in the session,
    read by listeners every session has: a listener of its own per session cost more than the rest of this.)"""
    session.info[_WAKE] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """Fired by a savepoint's release as well, inside the transaction still open: that wakes nobody yet."""
    if session.get_nested_transaction() is None and session.info.pop(_WAKE, False):
        approved.set()


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    """The mark goes with the transaction (after ``after_commit`` has read it), however it ended."""
    if transaction.parent is None:
        session.info.pop(_WAKE, None)
