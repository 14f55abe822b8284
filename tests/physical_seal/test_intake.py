"""Uploaded machine events, signed with a machine's own software key against a device certificate of a real CA:
each rule of intake, and the photo of a stamp."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca import hierarchy, profiles
from ca.models import Certificate
from ca.profiles import Role
from core.errors import Invalid, NotFound
from core.runtime import Runtime
from identity.models import Organisation, PostGrant, User
from ledger.models import PendingEntry
from physical_seal import structures
from physical_seal.intake import Outcome, ingest, receive_photo
from physical_seal.models import Alarm, Authorisation, Machine, MachineEvent
from physical_seal.structures import Event, sign

LAT, LON = 183_000_000, 1_095_000_000  # Sanya
DOC = hashlib.sha256(b"the approved document").digest()
PHOTO = b"\x89PNG a photo of the stamped sheet"


@dataclass
class World:
    session: Session
    runtime: Runtime
    now: dt.datetime
    machine: Machine
    key: ec.EllipticCurvePrivateKey
    village: Organisation
    township: Organisation
    users: dict[str, User]

    def event(self, counter: int, **fields: Any) -> Event:
        base = Event(
            machine=self.machine.id,
            counter=counter,
            time=int(self.now.timestamp()),
            pos=(LAT, LON),
            kind="stamp",
            auth=None,
            use=1,
            custodian="keeper1",
            doc=DOC,
            photo=hashlib.sha256(PHOTO).digest(),
            alarm=None,
            detail="",
        )
        return replace(base, **fields)

    def signed(self, counter: int, key: ec.EllipticCurvePrivateKey | None = None, **fields: Any) -> bytes:
        return sign(self.event(counter, **fields), key or self.key)

    def authorisation(self, uses: int = 1, **fields: Any) -> Authorisation:
        row = Authorisation(
            id=uuid.uuid4().hex,
            machine_id=self.machine.id,
            slot=1,
            request_id=7,
            request_number="YZ-2026-0007",
            document_sha256=DOC.hex(),
            uses=uses,
            used=0,
            epoch=0,
            not_before=self.now - dt.timedelta(hours=1),
            not_after=self.now + dt.timedelta(hours=1),
            state="issued",
            cose=b"signed elsewhere",
            issued_at=self.now,
        )
        for name, value in fields.items():
            setattr(row, name, value)
        row.cose = self.sign_terms(row)
        self.session.add(row)
        self.session.flush()
        return row

    def sign_terms(self, row: Authorisation, *, fence: tuple[int, int, int] = (LAT, LON, 200)) -> bytes:
        """The authorisation as the service signs it (here with a throwaway key: intake reads what was signed,
        it was the machine that checked the signature)."""
        terms = structures.Authorisation(
            id=row.id,
            machine=row.machine_id,
            slot=row.slot,
            request=row.request_number,
            doc=bytes.fromhex(row.document_sha256),
            uses=row.uses,
            nbf=int(row.not_before.timestamp()),
            exp=int(row.not_after.timestamp()),
            fence=fence,
            custodians=("keeper1", "keeper2"),
            epoch=row.epoch,
            iat=int(self.now.timestamp()),
        )
        return structures.sign(terms, ec.generate_private_key(ec.SECP256R1()))

    def ingest(self, *events: bytes) -> list[Outcome]:
        outcomes = ingest(self.session, self.machine, events, self.now)
        self.session.commit()
        return outcomes


def make_world(runtime: Runtime, session: Session) -> World:
    now = runtime.clock.now()
    district = Organisation(code="yz", name="崖州区", kind="district", created_at=now)
    township = Organisation(code="yz.t", name="崖城镇", kind="township", parent=district, created_at=now)
    village = Organisation(code="yz.t.v", name="水南村", kind="village", parent=township, created_at=now)
    session.add_all([district, township, village])
    names = ("keeper1", "keeper2", "sealadmin", "inspector", "admin", "stranger", "villager")
    users = {n: User(username=n, display_name=n, active=True, created_at=now) for n in names}
    session.add_all(users.values())
    session.flush()
    for name, post, org in (
        ("sealadmin", "seal_admin", village),
        ("inspector", "inspector", township),
        ("admin", "admin", district),
        ("stranger", "seal_admin", township),
    ):
        session.add(PostGrant(user_id=users[name].id, organisation_id=org.id, post=post, valid_from=now))
    hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
    authority = hierarchy.load(session, runtime.keystore)
    key = ec.generate_private_key(ec.SECP256R1())
    machine_id = f"m-{uuid.uuid4().hex[:8]}"
    certificate = profiles.device(
        key.public_key(),
        village.name,
        machine_id,
        authority.issuing,
        hierarchy.urls(runtime.settings),
        now,
        365,
        policy=runtime.settings.ca.policy_oid,
    )
    row = hierarchy.record(
        session,
        certificate,
        Role.DEVICE,
        now,
        "test",
        key_label=None,
        issuer_id=authority.issuing_id,
        machine=machine_id,
    )
    machine = Machine(
        id=machine_id,
        organisation_id=village.id,
        name="the village machine",
        status="active",
        latitude_e7=LAT,
        longitude_e7=LON,
        radius_m=200,
        custodians=[users["keeper1"].id, users["keeper2"].id],
        epoch=0,
        certificate_id=row.id,
        last_counter=0,
        created_at=now,
        updated_at=now,
    )
    session.add(machine)
    session.commit()
    return World(session, runtime, now, machine, key, village, township, users)


@pytest.fixture
def world(runtime: Runtime) -> Iterator[World]:
    with runtime.sessions() as session:
        yield make_world(runtime, session)


def codes(outcome: Outcome) -> list[str]:
    return [a.code for a in outcome.alarms]


def test_a_valid_stamp_is_stored_logged_and_spends_its_authorisation(world: World) -> None:
    auth = world.authorisation()
    [outcome] = world.ingest(world.signed(1, auth=auth.id))
    assert (outcome.counter, outcome.status, outcome.alarms) == (1, "accepted", [])
    assert outcome.transition == (auth, "spent")
    assert (auth.state, auth.used, auth.finished_at) == ("spent", 1, world.now)
    row = world.session.scalars(select(MachineEvent)).one()
    assert (row.counter, row.kind, row.document_sha256, row.custodian) == (1, "stamp", DOC.hex(), "keeper1")
    assert world.machine.last_counter == 1
    assert world.machine.last_seen_at == world.now
    entry = world.session.scalars(select(PendingEntry).where(PendingEntry.type == "machine.stamp")).one()
    assert entry.event_id == row.sha256
    assert entry.subject == f"machine:{world.machine.id}"
    assert b'"request":"YZ-2026-0007"' in entry.body


def test_first_use_then_spent(world: World) -> None:
    auth = world.authorisation(uses=3)
    outcomes = world.ingest(*(world.signed(n, auth=auth.id, use=n) for n in (1, 2, 3)))
    assert [o.transition[1] if o.transition else None for o in outcomes] == ["first-use", None, "spent"]
    assert (auth.used, auth.state) == (3, "spent")


def test_a_use_lost_to_a_power_cut_counts_as_spent(world: World) -> None:
    """The machine counts a stamp cut short by the power as used (the seal may have been pressed): the service
    counts as the machine does, so the authorisation is spent when the machine says it is."""
    auth = world.authorisation(uses=2)
    cut = world.signed(2, auth=auth.id, use=2, kind="alarm", alarm="power-loss", doc=None, photo=None)
    first, lost = world.ingest(world.signed(1, auth=auth.id, use=1), cut)
    assert first.transition == (auth, "first-use")
    assert codes(lost) == ["power-loss"]
    assert lost.transition == (auth, "spent")
    assert (auth.used, auth.state) == (2, "spent")
    [late] = world.ingest(world.signed(3, auth=auth.id, use=3))
    assert codes(late) == ["uses-exceeded"]


def test_a_stamp_counts_its_use_as_the_machine_numbers_it(world: World) -> None:
    auth = world.authorisation(uses=3)
    world.ingest(world.signed(1, auth=auth.id, use=1))
    [third] = world.ingest(world.signed(3, auth=auth.id, use=3))  # the 2nd lost with its event: alarmed as a gap
    assert codes(third) == ["counter-gap"]
    assert third.transition == (auth, "spent")


def test_an_unparseable_event_is_refused_as_forged(world: World) -> None:
    [outcome] = world.ingest(b"\xd2not cbor")
    assert (outcome.counter, outcome.status, codes(outcome)) == (None, "refused", ["forged-event"])
    assert outcome.reason is not None
    assert "not an event of the protocol" in outcome.reason
    assert world.session.scalar(select(func.count()).select_from(MachineEvent)) == 0


def test_an_event_signed_by_another_key_or_for_another_machine_is_forged(world: World) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    outcomes = world.ingest(world.signed(1, key=other), world.signed(2, machine="another"))
    assert [(o.status, codes(o)) for o in outcomes] == [("refused", ["forged-event"])] * 2
    assert world.machine.last_counter == 0
    logged = world.session.scalars(select(PendingEntry.type).where(PendingEntry.type.like("machine.%"))).all()
    assert logged == ["machine.alarm.raised"] * 2


@pytest.mark.parametrize("how", ["suspended", "retired", "revoked"])
def test_a_stopped_or_revoked_machine_is_refused(world: World, how: str) -> None:
    if how == "revoked":
        world.session.get_one(Certificate, world.machine.certificate_id).revoked_at = world.now
    else:
        world.machine.status = how
    [outcome] = world.ingest(world.signed(1, kind="alarm", alarm="tamper", doc=None, photo=None, use=0))
    assert (outcome.status, codes(outcome)) == ("refused", ["revoked-machine"])


def test_duplicates_and_replays(world: World) -> None:
    auth = world.authorisation(uses=2)
    first = world.signed(1, auth=auth.id)
    world.ingest(first)
    again, replay = world.ingest(first, world.signed(1, auth=auth.id, detail="other"))
    assert (again.status, again.alarms) == ("duplicate", [])
    assert (replay.status, codes(replay)) == ("refused", ["counter-replay"])
    assert auth.used == 1
    # the same event twice in one batch is kept once
    second = world.signed(2, auth=auth.id, use=2)
    assert [o.status for o in world.ingest(second, second)] == ["accepted", "duplicate"]


def test_a_gap_is_alarmed_and_a_late_event_fills_it(world: World) -> None:
    alarm: dict[str, Any] = {"kind": "alarm", "alarm": "clock-drift", "doc": None, "photo": None, "use": 0}
    [gap] = world.ingest(world.signed(4, **alarm))
    assert codes(gap) == ["counter-gap", "clock-drift"]
    assert gap.alarms[0].detail == "missing counters 1 to 3"
    assert gap.alarms[1].source == "machine"
    late = world.ingest(world.signed(2, **alarm))
    assert codes(late[0]) == ["clock-drift"]
    assert world.machine.last_counter == 4


def test_one_bad_event_does_not_lose_the_others(world: World) -> None:
    auth = world.authorisation(uses=2)
    outcomes = world.ingest(world.signed(1, auth=auth.id), b"garbage", world.signed(2, auth=auth.id, use=2))
    assert [o.status for o in outcomes] == ["accepted", "refused", "accepted"]
    assert world.session.scalar(select(func.count()).select_from(MachineEvent)) == 2
    assert auth.state == "spent"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"auth": uuid.uuid4().hex}, ["unauthorised-stamp"]),
        ({"custodian": "villager"}, ["custodian-not-allowed"]),
        ({"custodian": None}, ["custodian-not-allowed"]),
        ({"doc": hashlib.sha256(b"another sheet").digest()}, ["document-mismatch"]),
        ({"pos": (LAT + 30_000, LON)}, ["outside-fence"]),  # 0.003 degree north: some 330 m
        ({"time_shift": dt.timedelta(hours=2)}, ["outside-window"]),
        ({"use": 2}, ["uses-exceeded"]),
    ],
)
def test_a_wrong_stamp_is_kept_and_alarmed(world: World, change: dict[str, Any], expected: list[str]) -> None:
    auth = world.authorisation()
    fields = {"auth": auth.id, **change}
    shift = fields.pop("time_shift", dt.timedelta())
    fields["time"] = int((world.now + shift).timestamp())
    [outcome] = world.ingest(world.signed(1, **fields))
    assert (outcome.status, codes(outcome), outcome.transition) == ("accepted", expected, None)
    assert all(a.source == "service" and a.event_id is not None for a in outcome.alarms)
    assert auth.used == 0
    assert world.session.scalars(select(PendingEntry.type).where(PendingEntry.type == "machine.stamp")).one()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": "cancelled"}, ["unauthorised-stamp"]),
        ({"state": "expired"}, ["unauthorised-stamp"]),
        ({"state": "spent", "used": 1}, ["uses-exceeded"]),
    ],
)
def test_a_stamp_under_a_void_authorisation_is_alarmed(
    world: World, fields: dict[str, Any], expected: list[str]
) -> None:
    auth = world.authorisation(**fields)
    [outcome] = world.ingest(world.signed(1, auth=auth.id))
    assert codes(outcome) == expected


def test_a_stamp_under_an_epoch_since_revoked_is_alarmed(world: World) -> None:
    auth = world.authorisation()
    world.machine.epoch = 1
    [outcome] = world.ingest(world.signed(1, auth=auth.id))
    assert codes(outcome) == ["unauthorised-stamp"]


def test_the_fence_and_custodians_are_the_signed_ones_not_the_machines_today(world: World) -> None:
    """The machine's record may change after an authorisation is signed; the machine obeys what was signed."""
    auth = world.authorisation(uses=2)
    auth.cose = world.sign_terms(auth, fence=(LAT + 100_000, LON, 200))  # centred 1.1 km north of the machine
    [outcome] = world.ingest(world.signed(1, auth=auth.id, pos=(LAT + 100_000, LON)))
    assert codes(outcome) == []
    [outcome] = world.ingest(world.signed(2, auth=auth.id, pos=(LAT, LON)))
    assert codes(outcome) == ["outside-fence"]


def test_a_stamp_at_the_end_of_its_window_is_outside_it(world: World) -> None:
    auth = world.authorisation(not_after=world.now)
    [outcome] = world.ingest(world.signed(1, auth=auth.id))
    assert codes(outcome) == ["outside-window"]


def test_a_stamp_under_another_machines_authorisation(world: World) -> None:
    other = Machine(**{c.key: getattr(world.machine, c.key) for c in Machine.__table__.columns} | {"id": "other"})
    other.certificate_id, other.credential_sha256 = None, None
    world.session.add(other)
    world.session.flush()
    auth = world.authorisation(machine_id="other")
    [outcome] = world.ingest(world.signed(1, auth=auth.id))
    assert codes(outcome) == ["unauthorised-stamp"]


def test_a_close_event_closes_a_live_authorisation(world: World) -> None:
    auth = world.authorisation(uses=5)
    stamp, close = world.ingest(
        world.signed(1, auth=auth.id), world.signed(2, kind="close", auth=auth.id, doc=None, photo=None, use=0)
    )
    assert stamp.transition == (auth, "first-use")
    assert close.transition == (auth, "closed")
    assert (auth.state, auth.used) == ("closed", 1)
    assert world.session.scalars(select(PendingEntry.type).where(PendingEntry.type == "machine.close")).one()


def test_photo_accepted_once_and_refused_when_not_signed(world: World) -> None:
    auth = world.authorisation()
    close = world.signed(2, kind="close", auth=auth.id, doc=None, photo=None, use=0)
    world.ingest(world.signed(1, auth=auth.id), close)
    blobs = world.runtime.blobs
    digest = receive_photo(world.session, blobs, world.machine, 1, PHOTO, world.now)
    assert digest == hashlib.sha256(PHOTO).hexdigest()
    assert blobs.get(digest) == PHOTO
    assert receive_photo(world.session, blobs, world.machine, 1, PHOTO, world.now + dt.timedelta(minutes=1)) == digest
    world.session.commit()
    row = world.session.scalars(select(MachineEvent).where(MachineEvent.counter == 1)).one()
    assert row.photo_received_at == world.now
    logged = world.session.scalars(select(PendingEntry).where(PendingEntry.type == "machine.photo.received")).all()
    assert len(logged) == 1
    with pytest.raises(Invalid, match="not the one the machine signed"):
        receive_photo(world.session, blobs, world.machine, 1, b"another photo", world.now)
    for counter in (2, 3):
        with pytest.raises(NotFound):
            receive_photo(world.session, blobs, world.machine, counter, PHOTO, world.now)


def test_alarms_name_their_event_in_the_log(world: World) -> None:
    world.ingest(world.signed(3, kind="alarm", alarm="power-loss", doc=None, photo=None, use=0, detail="cut"))
    alarms = world.session.scalars(select(Alarm).order_by(Alarm.id)).all()
    assert [(a.code, a.source) for a in alarms] == [("counter-gap", "service"), ("power-loss", "machine")]
    raised = world.session.scalars(select(PendingEntry.body).where(PendingEntry.type == "machine.alarm.raised")).all()
    assert all(b'"counter":3' in body for body in raised)


def test_throughput(world: World) -> None:
    """1,000 stamps in batches of 100; the bound is loose, the figure is printed for the record."""
    auth = world.authorisation(uses=1000)
    events = [world.signed(n, auth=auth.id, use=n) for n in range(1, 1001)]
    started = time.process_time()
    for start in range(0, 1000, 100):
        outcomes = ingest(world.session, world.machine, events[start : start + 100], world.now)
        world.session.commit()
        assert all(o.status == "accepted" and not o.alarms for o in outcomes)
    spent = time.process_time() - started
    print(f"ingest: 1,000 stamp events in {spent:.3f} s of CPU")
    assert auth.used == 1000
    assert spent < 3.0
