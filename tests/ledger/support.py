"""Helpers to append test events to the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from core.runtime import Runtime
from ledger.append import Appended, append_many
from ledger.entry import Event
from tests.conftest import ORIGIN

__all__ = ["ORIGIN", "append_committed", "events"]


def events(count: int, *, subjects: int = 3, start: int = 0, when: dt.datetime | None = None) -> list[Event]:
    moment = when or dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    return [
        Event("test.happened", f"thing:{i % subjects}", "system", {"n": i}, moment) for i in range(start, start + count)
    ]


def append_committed(runtime: Runtime, batch: Sequence[Event]) -> list[Appended]:
    with runtime.sessions() as session:
        done = append_many(session, batch)
        session.commit()
    return done
