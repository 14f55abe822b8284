"""An idempotency record left in progress by a request whose process died is taken over after a bound."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core import idempotency
from core.idempotency import TAKEOVER, IdempotencyRecord
from core.runtime import Runtime

T = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _crashed(session: Session, at: dt.datetime, fingerprint: str = "f" * 64) -> None:
    """What a process that died mid-request leaves: a claimed key with no answer."""
    session.add(IdempotencyRecord(scope="caller", key="k", fingerprint=fingerprint, created_at=at))
    session.commit()


def test_a_record_in_progress_past_the_bound_is_taken_over(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        _crashed(s, T)
        assert idempotency.begin(s, "caller", "k", "f" * 64, T + TAKEOVER - dt.timedelta(seconds=1)).running
        taken = idempotency.begin(s, "caller", "k", "f" * 64, T + TAKEOVER + dt.timedelta(seconds=1))
        assert taken.fresh
        assert taken.claim == T + TAKEOVER + dt.timedelta(seconds=1)
        # The second retry finds the key claimed again, by the first retry.
        assert idempotency.begin(s, "caller", "k", "f" * 64, T + TAKEOVER + dt.timedelta(seconds=2)).running


def test_a_stale_record_of_another_request_is_not_taken_over(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        _crashed(s, T)
        assert idempotency.begin(s, "caller", "k", "e" * 64, T + 2 * TAKEOVER).mismatch


def test_the_request_that_lost_its_claim_changes_nothing(runtime: Runtime) -> None:
    """A request that was only slow, not dead, finishes after its key was taken over: the record stays the
    taker's."""
    with runtime.sessions() as s:
        first = idempotency.begin(s, "caller", "k", "f" * 64, T)
        later = T + TAKEOVER + dt.timedelta(minutes=1)
        second = idempotency.begin(s, "caller", "k", "f" * 64, later)
        assert second.fresh
        idempotency.finish(s, "caller", "k", 201, {}, b"slow one", claim=first.claim)
        idempotency.abandon(s, "caller", "k", claim=first.claim)
        record = s.get(IdempotencyRecord, ("caller", "k"))
        assert record is not None
        assert record.status is None
        assert record.created_at == later
        idempotency.finish(s, "caller", "k", 201, {}, b"taker", claim=second.claim)
        s.expire_all()
        record = s.get(IdempotencyRecord, ("caller", "k"))
        assert record is not None
        assert idempotency.replay(record) == (201, {}, b"taker")


def test_a_secret_answer_keeps_its_status_only(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        claimed = idempotency.begin(s, "caller", "k", "f" * 64, T)
        idempotency.finish(
            s, "caller", "k", 201, {"x": "y"}, b'{"credential": "s3cret"}', claim=claimed.claim, secret=True
        )
        s.expire_all()
        again = idempotency.begin(s, "caller", "k", "f" * 64, T + dt.timedelta(seconds=5))
        assert again.withheld
        assert not again.running
        assert again.record is not None
        assert again.record.body is None
        assert again.record.headers is None
