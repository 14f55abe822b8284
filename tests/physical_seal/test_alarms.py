"""Alarms: who may acknowledge and see them, who hears of them, and the log's completeness check of machines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from core.errors import Conflict, Forbidden, Invalid
from core.runtime import Runtime
from identity import directory
from identity.auth import Principal
from ledger.models import PendingEntry
from physical_seal import alarms, logcheck
from physical_seal.models import Alarm
from tests.physical_seal.test_intake import World, make_world


@pytest.fixture(name="world")
def _world(runtime: Runtime) -> Iterator[World]:
    with runtime.sessions() as session:
        yield make_world(runtime, session)


def principal(world: World, name: str) -> Principal:
    user = world.users[name]
    return Principal(user.id, name, name, tuple(directory.posts_of(world.session, user.id, world.now)))


def raised(world: World) -> Alarm:
    return alarms.raise_alarm(world.session, world.machine.id, "machine-silent", "service", "quiet", world.now)


def test_acknowledge_permissions_comment_and_conflict(world: World) -> None:
    alarm = raised(world)
    for name in ("stranger", "inspector", "villager"):
        with pytest.raises(Forbidden):
            alarms.acknowledge(world.session, alarm.id, principal(world, name), "seen", world.now)
    with pytest.raises(Invalid):
        alarms.acknowledge(world.session, alarm.id, principal(world, "keeper1"), "   ", world.now)
    done = alarms.acknowledge(world.session, alarm.id, principal(world, "keeper1"), " checked the seal ", world.now)
    assert (done.comment, done.acknowledged_by_id) == ("checked the seal", world.users["keeper1"].id)
    with pytest.raises(Conflict):
        alarms.acknowledge(world.session, alarm.id, principal(world, "admin"), "again", world.now)
    for name in ("sealadmin", "admin"):
        alarms.acknowledge(world.session, raised(world).id, principal(world, name), "ok", world.now)
    assert len(world.session.query(PendingEntry).filter_by(type="machine.alarm.acknowledged").all()) == 3


def test_listing_and_recipients(world: World) -> None:
    first, second = raised(world), raised(world)
    alarms.acknowledge(world.session, first.id, principal(world, "keeper2"), "ok", world.now)
    for name in ("keeper1", "sealadmin", "inspector", "admin"):
        seen = alarms.listing(world.session, principal(world, name), open_only=False, machine_id=None, limit=10)
        assert [a.id for a in seen] == [second.id, first.id]
    keeper = principal(world, "keeper1")
    assert alarms.listing(world.session, keeper, open_only=True, machine_id=world.machine.id, limit=10) == [second]
    assert alarms.listing(world.session, keeper, open_only=False, machine_id="none", limit=10) == []
    for name in ("stranger", "villager"):
        assert alarms.listing(world.session, principal(world, name), open_only=False, machine_id=None, limit=10) == []
    expected = {world.users[n].id for n in ("keeper1", "keeper2", "sealadmin", "inspector")}
    assert alarms.recipients(world.session, world.machine, world.now) == expected


def test_logcheck_finds_an_event_without_its_entry(world: World) -> None:
    world.ingest(world.signed(2, kind="alarm", alarm="tamper", doc=None, photo=None, use=0))
    before = list(logcheck.missing_entries(world.session))
    assert not [m for m in before if "event" in m or "alarm " in m]
    world.session.execute(delete(PendingEntry).where(PendingEntry.type.in_(["machine.alarm", "machine.alarm.raised"])))
    after = list(logcheck.missing_entries(world.session))
    assert f"event 2 of machine {world.machine.id} has no machine.alarm entry" in after
    assert sum("has no machine.alarm.raised entry" in m for m in after) == 2  # the gap and the tamper
    assert f"machine {world.machine.id} has no machine.registered entry" in after  # made here without register()
