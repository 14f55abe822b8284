"""A log on the test runtime: its service (origin, key, integrator) and a helper to append events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from ledger.append import Appended, append_many
from ledger.entry import Event
from ledger.service import LogService
from sealgate.runtime import Runtime

ORIGIN = "sealgate.test/log"


@pytest.fixture
def log(runtime: Runtime) -> LogService:
    runtime.settings.ledger.origin = ORIGIN
    return LogService.open(runtime)


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
