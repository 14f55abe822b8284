"""Idempotency keys for state-changing requests: the first response is kept and replayed for a retry.

Records are scoped to the caller (a hash of the credentials it presented) and to the key; a retry with a
different request under the same key is refused, and one that arrives while the first is still running is
told so. Responses of 5xx are not kept, so a failed request can be retried for real.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Integer, LargeBinary, String, Text, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, UTCDateTime

LIFETIME = dt.timedelta(hours=24)


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

    def __init__(self, record: IdempotencyRecord | None, fingerprint: str) -> None:
        self.record = record
        self.fingerprint = fingerprint

    @property
    def fresh(self) -> bool:
        return self.record is None

    @property
    def mismatch(self) -> bool:
        return self.record is not None and self.record.fingerprint != self.fingerprint

    @property
    def running(self) -> bool:
        return self.record is not None and self.record.status is None


def begin(session: Session, scope: str, key: str, fingerprint: str, now: dt.datetime) -> Stored:
    """Claim the key for this request, or return what an earlier request under it left. Commits."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - LIFETIME))
    existing = session.get(IdempotencyRecord, (scope, key))
    if existing is not None:
        session.commit()
        return Stored(existing, fingerprint)
    session.add(IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=now))
    try:
        session.commit()
    except IntegrityError:  # claimed by a concurrent request between our look and our insert
        session.rollback()
        return Stored(session.get(IdempotencyRecord, (scope, key)), fingerprint)
    return Stored(None, fingerprint)


def finish(session: Session, scope: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
    record = session.get(IdempotencyRecord, (scope, key))
    if record is None:
        return
    if status >= 500:
        session.delete(record)
    else:
        record.status, record.headers, record.body = status, json.dumps(headers), body
    session.commit()


def abandon(session: Session, scope: str, key: str) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
    session.commit()


def replay(record: IdempotencyRecord) -> tuple[int, dict[str, str], bytes]:
    assert record.status is not None, "only a finished request is replayed"
    return record.status, json.loads(record.headers or "{}"), record.body or b""
