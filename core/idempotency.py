"""Idempotency keys for state-changing requests: the first response is kept and replayed for a retry.

Records are scoped to the caller (a hash of the credentials it presented) and to the key; a retry with a
different request under the same key is refused, and one that arrives while the first is still running is
told so. Responses of 5xx are not kept, so a failed request can be retried for real.

A request that never finished (its process died) leaves its record in progress; past ``TAKEOVER``, longer than
any request runs (an upload, a sealing with its timestamp and revocation data), the next request with the same
key and the same content takes the key over and runs for real. The claim is the record's ``created_at``: the
request that finishes or abandons a key changes the record only while its own claim stands.

An answer that holds a secret (a credential, an enrolment code) is not kept: its record keeps the status, with
no headers and no body, so a retry is not run twice and is told the answer is gone.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, Integer, LargeBinary, String, Text, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, UTCDateTime

LIFETIME = dt.timedelta(hours=24)
TAKEOVER = dt.timedelta(minutes=10)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Stored:
    """What a lookup found: nothing (go ahead), a request still running, a mismatch, or a response to replay."""

    def __init__(self, record: IdempotencyRecord | None, fingerprint: str, claim: dt.datetime | None = None) -> None:
        self.record = record
        self.fingerprint = fingerprint
        self.claim = claim  # when the key was claimed for this request, if it was

    @property
    def fresh(self) -> bool:
        return self.record is None

    @property
    def mismatch(self) -> bool:
        return self.record is not None and self.record.fingerprint != self.fingerprint

    @property
    def running(self) -> bool:
        return self.record is not None and self.record.status is None

    @property
    def withheld(self) -> bool:
        """The first request finished, but its answer held a secret and was not kept."""
        return self.record is not None and self.record.status is not None and self.record.headers is None


def begin(session: Session, scope: str, key: str, fingerprint: str, now: dt.datetime) -> Stored:
    """Claim the key for this request, or return what an earlier request under it left. Commits."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - LIFETIME))
    existing = session.get(IdempotencyRecord, (scope, key))
    if existing is not None:
        if existing.status is None and existing.fingerprint == fingerprint and existing.created_at < now - TAKEOVER:
            return _take_over(session, existing, fingerprint, now)
        session.commit()
        return Stored(existing, fingerprint)
    session.add(IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=now))
    try:
        session.commit()
    except IntegrityError:  # claimed by a concurrent request between our look and our insert
        session.rollback()
        return Stored(session.get(IdempotencyRecord, (scope, key)), fingerprint)
    return Stored(None, fingerprint, now)


def _take_over(session: Session, stale: IdempotencyRecord, fingerprint: str, now: dt.datetime) -> Stored:
    """Claim a key whose request never finished; of two retries that try at once, one wins."""
    scope, key, claimed = stale.scope, stale.key, stale.created_at
    taken = session.execute(
        update(IdempotencyRecord)
        .where(_claimed(scope, key, claimed), IdempotencyRecord.status.is_(None))
        .values(created_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(taken, "rowcount", 0) == 1:
        return Stored(None, fingerprint, now)
    session.expire_all()
    return Stored(session.get(IdempotencyRecord, (scope, key)), fingerprint)


def _claimed(scope: str, key: str, claim: dt.datetime | None) -> ColumnElement[bool]:
    condition = (IdempotencyRecord.scope == scope) & (IdempotencyRecord.key == key)
    return condition if claim is None else condition & (IdempotencyRecord.created_at == claim)


def finish(
    session: Session,
    scope: str,
    key: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
    *,
    claim: dt.datetime | None = None,
    secret: bool = False,
) -> None:
    """Keep the answer of the request that claimed the key at ``claim``; a secret answer keeps only its status."""
    if status >= 500:
        session.execute(delete(IdempotencyRecord).where(_claimed(scope, key, claim)))
    else:
        kept_headers, kept_body = (None, None) if secret else (json.dumps(headers), body)
        session.execute(
            update(IdempotencyRecord)
            .where(_claimed(scope, key, claim), IdempotencyRecord.status.is_(None))
            .values(status=status, headers=kept_headers, body=kept_body)
            .execution_options(synchronize_session=False)
        )
    session.commit()


def abandon(session: Session, scope: str, key: str, *, claim: dt.datetime | None = None) -> None:
    session.execute(delete(IdempotencyRecord).where(_claimed(scope, key, claim)))
    session.commit()


def replay(record: IdempotencyRecord) -> tuple[int, dict[str, str], bytes]:
    assert record.status is not None, "only a finished request is replayed"
    return record.status, json.loads(record.headers or "{}"), record.body or b""
