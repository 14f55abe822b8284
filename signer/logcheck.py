"""Completeness for the audit: every sealing has its ``seal.applied`` entry (sequenced or queued), found by the
event id the sealing keeps. A sealing without it is a signature the log does not know of."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from ledger.models import Entry, PendingEntry
from signer.models import Sealing


def missing_entries(session: Session) -> Iterator[str]:
    query = union_all(
        select(Entry.event_id, Entry.subject).where(Entry.type == "seal.applied"),
        select(PendingEntry.event_id, PendingEntry.subject).where(PendingEntry.type == "seal.applied"),
    )
    logged = {(event, subject) for event, subject in session.execute(query)}
    for sealing, subject, event in session.execute(select(Sealing.id, Sealing.subject, Sealing.event_id)):
        if (event, subject) not in logged:
            yield f"sealing {sealing} of {subject} has no seal.applied entry (event {event})"
