"""The watch alarms a silent machine once per silence and a missing photo once per stamp."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from core.runtime import Runtime
from physical_seal import watch
from physical_seal.intake import ingest
from tests.physical_seal.test_intake import World, make_world

HOUR = dt.timedelta(hours=1)


@pytest.fixture(name="world")
def _world(runtime: Runtime) -> Iterator[World]:
    with runtime.sessions() as session:
        yield make_world(runtime, session)


def scan(world: World, at: dt.datetime) -> list[str]:
    found = watch.scan(world.session, at, silent_after=HOUR, photo_within=dt.timedelta(minutes=30))
    world.session.commit()
    return [a.code for a in found]


def test_silence_is_alarmed_once_until_the_machine_speaks(world: World) -> None:
    assert scan(world, world.now + dt.timedelta(minutes=59)) == []
    assert scan(world, world.now + 2 * HOUR) == ["machine-silent"]
    assert scan(world, world.now + 3 * HOUR) == []
    alarm = world.signed(1, kind="alarm", alarm="tamper", doc=None, photo=None, use=0)
    ingest(world.session, world.machine, [alarm], world.now + 3 * HOUR)
    assert world.machine.silence_alarmed_at is None
    assert scan(world, world.now + 3 * HOUR) == []
    assert scan(world, world.now + 5 * HOUR) == ["machine-silent"]


def test_a_missing_photo_is_alarmed_once(world: World) -> None:
    auth = world.authorisation()
    world.ingest(world.signed(1, auth=auth.id))
    assert scan(world, world.now + dt.timedelta(minutes=20)) == []
    assert "photo-missing" in scan(world, world.now + dt.timedelta(minutes=40))
    assert "photo-missing" not in scan(world, world.now + dt.timedelta(minutes=50))
