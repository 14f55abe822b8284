"""Seal machines against the database and the real CA in the test token: registration and its refusals,
enrolment with a machine's own CSR, the terminal's credential, status changes and who may make them, the
revocation epoch; and each change's log entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import hierarchy
from ca.hierarchy import Authority
from ca.models import Certificate, Crl, Seal
from ca.seals import SealForm, SealStatus
from core.clock import ManualClock
from core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from core.runtime import Runtime
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, PostGrant, User
from identity.posts import Post
from ledger.models import PendingEntry
from physical_seal import machines, structures
from physical_seal.models import Authorisation, Machine

CODE_HOURS = 72.0


@dataclass(frozen=True)
class World:
    seals: dict[str, int]  # name -> id


def _org(session: Session, code: str, kind: str, parent: Organisation | None, now: dt.datetime) -> Organisation:
    org = Organisation(code=code, name=f"org {code}", kind=kind, parent=parent, created_at=now)
    session.add(org)
    session.flush()
    return org


def _person(session: Session, username: str, org: Organisation, post: Post, since: dt.datetime) -> None:
    user = User(username=username, display_name=username, password_hash=None, active=True, created_at=since)
    session.add(user)
    session.flush()
    session.add(PostGrant(user_id=user.id, organisation_id=org.id, post=str(post), valid_from=since))


def world(session: Session, now: dt.datetime) -> World:
    """District d over township t over villages v and w; another district d2 beside them."""
    since = now - dt.timedelta(days=1)
    d = _org(session, "d", "district", None, now)
    d2 = _org(session, "d2", "district", None, now)
    t = _org(session, "t", "township", d, now)
    v = _org(session, "v", "village", t, now)
    w = _org(session, "w", "village", t, now)
    for username, org, post in (
        ("alice", v, Post.CUSTODIAN),
        ("bob", v, Post.CUSTODIAN),
        ("wendy", w, Post.CUSTODIAN),
        ("sam", v, Post.SEAL_ADMIN),
        ("ina", t, Post.INSPECTOR),
        ("ida", d2, Post.INSPECTOR),
        ("adm", d2, Post.ADMIN),
        ("staff", v, Post.STAFF),
    ):
        _person(session, username, org, post, since)
    _person(session, "carol", v, Post.CUSTODIAN, since - dt.timedelta(days=10))
    carol = session.scalars(
        select(PostGrant).join(User, User.id == PostGrant.user_id).where(User.username == "carol")
    ).one()
    carol.valid_until = since
    seals = {}
    for name, org, form, status, kind in (
        ("committee", v, SealForm.PHYSICAL, SealStatus.ACTIVE, "committee"),
        ("party", v, SealForm.BOTH, SealStatus.ACTIVE, "party"),
        ("finance", v, SealForm.PHYSICAL, SealStatus.ACTIVE, "finance"),
        ("digital", v, SealForm.ELECTRONIC, SealStatus.ACTIVE, "digital"),
        ("suspended", v, SealForm.PHYSICAL, SealStatus.SUSPENDED, "old"),
        ("w-committee", w, SealForm.PHYSICAL, SealStatus.ACTIVE, "committee"),
    ):
        seal = Seal(organisation_id=org.id, kind=kind, form=str(form), name=name, status=str(status), created_at=now)
        session.add(seal)
        session.flush()
        seals[name] = seal.id
    session.flush()
    return World(seals)


def principal(session: Session, username: str, now: dt.datetime) -> Principal:
    user = directory.user(session, username)
    return Principal(user.id, user.username, user.display_name, tuple(directory.posts_of(session, user.id, now)))


def register(session: Session, w: World, now: dt.datetime, **changes: Any) -> tuple[Machine, str]:
    args: dict[str, Any] = {
        "machine_id": "M-1",
        "organisation_code": "v",
        "name": "村委会盖章机",
        "slots": [(1, w.seals["committee"]), (2, w.seals["party"])],
        "latitude": 18.2528,
        "longitude": 109.5119,
        "radius_m": 200,
        "custodians": ["alice", "bob"],
        "now": now,
        "actor": "user:sam",
        "code_hours": CODE_HOURS,
    }
    args.update(changes)
    return machines.register(session, **args)


def csr(
    machine_id: str,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
) -> tuple[bytes, CertificateIssuerPrivateKeyTypes]:
    """A PKCS#10 request as a machine makes it: its own key, its id as the subject serialNumber."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, machine_id)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, algorithm or hashes.SHA256())
    return request.public_bytes(Encoding.DER), key


def logged(session: Session, kind: str, subject: str) -> list[dict[str, Any]]:
    """The log entries of that type and subject: each one's actor and data."""
    bodies = session.scalars(
        select(PendingEntry.body)
        .where(PendingEntry.type == kind, PendingEntry.subject == subject)
        .order_by(PendingEntry.id)
    )
    return [{"actor": b["actor"], **b["data"]} for b in map(json.loads, bodies)]


@pytest.fixture
def authority(runtime: Runtime) -> Authority:
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
        return hierarchy.load(session, runtime.keystore)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


@pytest.fixture
def places(session: Session, clock: ManualClock) -> World:
    made = world(session, clock.now())
    session.commit()
    return made


def enrol(
    session: Session,
    authority: Authority,
    runtime: Runtime,
    machine_id: str,
    code: str,
    csr_der: bytes,
    now: dt.datetime,
) -> machines.Enrolled:
    return machines.enrol(
        session,
        authority,
        machine_id=machine_id,
        code=code,
        csr_der=csr_der,
        now=now,
        ca_settings=runtime.settings.ca,
        urls=hierarchy.urls(runtime.settings),
    )


def newest_crl(session: Session, authority: Authority) -> x509.CertificateRevocationList:
    row = session.scalars(
        select(Crl).where(Crl.issuer_id == authority.issuing_id).order_by(Crl.number.desc()).limit(1)
    ).one()
    return x509.load_der_x509_crl(row.der)


def test_register_stores_the_machine_and_a_typeable_code_as_a_digest(
    session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine, code = register(session, places, now)
    session.commit()
    assert machine.status == "registered"
    assert machine.epoch == 0
    assert (machine.latitude_e7, machine.longitude_e7, machine.radius_m) == (182_528_000, 1_095_119_000, 200)
    assert machines.custodian_names(session, machine) == ["alice", "bob"]
    assert [(s.slot, s.seal_id) for s in machines.slots_of(session, "M-1")] == [
        (1, places.seals["committee"]),
        (2, places.seals["party"]),
    ]
    groups = code.split("-")
    assert len(groups) == 4
    assert all(len(g) == 4 and set(g) <= set(machines._CODE_ALPHABET) for g in groups)
    assert machine.enrolment_sha256 == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    assert machine.enrolment_expires_at == now + dt.timedelta(hours=CODE_HOURS)
    [entry] = logged(session, "machine.registered", "machine:M-1")
    assert entry == {
        "actor": "user:sam",
        "organisation": "v",
        "name": "村委会盖章机",
        "slots": [[1, places.seals["committee"]], [2, places.seals["party"]]],
        "position": [182_528_000, 1_095_119_000],
        "radius_m": 200,
        "custodians": ["alice", "bob"],
    }
    assert code.replace("-", "") not in json.dumps(entry)


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"machine_id": "-bad"}, Invalid, "machine id"),
        ({"machine_id": "x" * 65}, Invalid, "machine id"),
        ({"organisation_code": "nowhere"}, NotFound, "nowhere"),
        ({"organisation_code": "d"}, Invalid, "district"),
        ({"custodians": ["alice"]}, Invalid, "two different"),
        ({"custodians": ["alice", "alice"]}, Invalid, "two different"),
        ({"custodians": ["alice", "nobody"]}, NotFound, "nobody"),
        ({"custodians": ["alice", "carol"]}, Invalid, "carol is not a custodian"),
        ({"custodians": ["alice", "wendy"]}, Invalid, "wendy is not a custodian"),
        ({"custodians": ["alice", "sam"]}, Invalid, "sam is not a custodian"),
        ({"slots": []}, Invalid, "1 to 16 slots"),
        ({"slots": [(n, 1) for n in range(1, 18)]}, Invalid, "1 to 16 slots"),
        ({"slots": [(0, "committee")]}, Invalid, "slot numbers"),
        ({"slots": [(17, "committee")]}, Invalid, "slot numbers"),
        ({"slots": [(1, "committee"), (1, "party")]}, Invalid, "slot numbers"),
        ({"slots": [(1, "committee"), (2, "committee")]}, Invalid, "one slot only"),
        ({"slots": [(1, 999_999)]}, NotFound, "no seal"),
        ({"slots": [(1, "w-committee")]}, Invalid, "not a seal of v"),
        ({"slots": [(1, "suspended")]}, Invalid, "suspended"),
        ({"slots": [(1, "digital")]}, Invalid, "electronic only"),
        ({"latitude": 90.5}, Invalid, "latitude"),
        ({"longitude": -180.01}, Invalid, "longitude"),
        ({"latitude": float("nan")}, Invalid, "latitude"),
        ({"radius_m": 9}, Invalid, "radius"),
        ({"radius_m": 10_001}, Invalid, "radius"),
        ({"name": " "}, Invalid, "name"),
        ({"name": "n" * 101}, Invalid, "name"),
    ],
)
def test_register_refuses(
    session: Session, places: World, clock: ManualClock, changes: dict[str, Any], error: type[Exception], words: str
) -> None:
    if "slots" in changes:
        changes["slots"] = [(n, places.seals.get(s, s) if isinstance(s, str) else s) for n, s in changes["slots"]]
    with pytest.raises(error, match=words):
        register(session, places, clock.now(), **changes)


def test_register_refuses_a_taken_id_and_a_seal_in_another_machine_until_it_retires(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    register(session, places, now)
    session.commit()
    with pytest.raises(Conflict, match="M-1 exists"):
        register(session, places, now)
    with pytest.raises(Conflict, match="sits in machine M-1"):
        register(session, places, now, machine_id="M-2", slots=[(1, places.seals["party"])])
    session.rollback()
    sam = principal(session, "sam", now)
    machines.retire(session, authority, runtime.settings.ca, "M-1", sam, "broken beyond repair", now)
    machine, _ = register(session, places, now, machine_id="M-2", slots=[(1, places.seals["party"])])
    assert machine.status == "registered"


def test_enrolment_certifies_the_machine_key_and_gives_a_credential(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine, code = register(session, places, now)
    session.commit()
    request, key = csr("M-1", ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
    done = enrol(session, authority, runtime, "M-1", code.upper().replace("-", " "), request, now)
    session.commit()
    certificate = x509.load_der_x509_certificate(done.certificate)
    issuing, root = (x509.load_der_x509_certificate(c) for c in done.chain)
    assert root == authority.root
    assert issuing == authority.issuing.certificate
    certificate.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "M-1"
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "org v"
    assert machine.status == "active"
    assert machine.enrolment_sha256 is None
    assert machine.enrolment_expires_at is None
    assert machine.credential_sha256 == hashlib.sha256(done.credential.encode()).hexdigest()
    assert machines.device_key(session, machine) == key.public_key()
    assert not machines.device_certificate_revoked(session, machine)
    row = session.scalars(select(Certificate).where(Certificate.machine == "M-1")).one()
    assert row.role == "device"
    assert row.key_label is None
    assert row.issuer_id == authority.issuing_id
    [entry] = logged(session, "machine.enrolled", "machine:M-1")
    assert entry == {"actor": "system", "serial": row.serial, "sha256": row.sha256, "superseded": None}
    assert done.credential not in json.dumps(entry)
    assert machines.authenticate(session, "M-1", done.credential) is machine

    with pytest.raises(Unauthorized, match=machines.BAD_CODE):
        enrol(session, authority, runtime, "M-1", code, csr("M-1")[0], now)  # the code is used up


def test_enrolment_refusals(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    _, code = register(session, places, now)
    session.commit()
    good, _ = csr("M-1")
    for machine_id, attempt in (("M-1", "abcd-efgh-jkmn-pqrs"), ("M-9", code), ("M-1", "")):
        with pytest.raises(Unauthorized, match=machines.BAD_CODE):
            enrol(session, authority, runtime, machine_id, attempt, good, now)
    with pytest.raises(Invalid, match="not a DER PKCS#10"):
        enrol(session, authority, runtime, "M-1", code, b"\x30\x03junk", now)
    with pytest.raises(Invalid, match="serialNumber must be 'M-1'"):
        enrol(session, authority, runtime, "M-1", code, csr("M-2")[0], now)
    tampered = bytearray(good)
    tampered[-1] ^= 0x01
    with pytest.raises(Invalid, match="signature does not verify"):
        enrol(session, authority, runtime, "M-1", code, bytes(tampered), now)
    rsa_key: CertificateIssuerPrivateKeyTypes = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Invalid, match="P-256 or P-384"):
        enrol(session, authority, runtime, "M-1", code, csr("M-1", rsa_key)[0], now)
    later = now + dt.timedelta(hours=CODE_HOURS)
    with pytest.raises(Unauthorized, match=machines.BAD_CODE):
        enrol(session, authority, runtime, "M-1", code, good, later)
    assert session.scalars(select(Certificate).where(Certificate.machine == "M-1")).all() == []

    fresh = machines.new_enrolment_code(session, "M-1", later, "user:sam", CODE_HOURS)
    with pytest.raises(Unauthorized, match=machines.BAD_CODE):
        enrol(session, authority, runtime, "M-1", code, good, later)  # the old code no longer works
    enrol(session, authority, runtime, "M-1", fresh, good, later)
    [entry] = logged(session, "machine.enrolment_code.issued", "machine:M-1")
    assert entry["actor"] == "user:sam"
    assert fresh.replace("-", "") not in json.dumps(entry)


def test_reenrolment_supersedes_and_revokes_the_old_certificate(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine, code = register(session, places, now)
    first = enrol(session, authority, runtime, "M-1", code, csr("M-1")[0], now)
    later = clock.advance(dt.timedelta(hours=1))
    code = machines.new_enrolment_code(session, "M-1", later, "user:sam", CODE_HOURS)
    request, key = csr("M-1")
    second = enrol(session, authority, runtime, "M-1", code, request, later)
    session.commit()
    old = x509.load_der_x509_certificate(first.certificate)
    revoked = newest_crl(session, authority).get_revoked_certificate_by_serial_number(old.serial_number)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.superseded
    old_row = session.scalars(select(Certificate).where(Certificate.der == first.certificate)).one()
    assert old_row.retired_at == later
    assert old_row.revoked_at == later
    assert machines.device_key(session, machine) == key.public_key()
    with pytest.raises(Unauthorized, match=machines.BAD_CREDENTIAL):
        machines.authenticate(session, "M-1", first.credential)
    assert machines.authenticate(session, "M-1", second.credential) is machine
    [entry] = logged(session, "ca.certificate.revoked", f"certificate:{old_row.serial}")
    assert entry == {"actor": "system", "serial": old_row.serial, "reason": "superseded"}
    assert logged(session, "machine.enrolled", "machine:M-1")[1]["superseded"] == old_row.serial


def test_authenticate_refuses_with_one_message(session: Session, places: World, clock: ManualClock) -> None:
    register(session, places, clock.now())
    for machine_id, credential in (("M-1", "anything"), ("M-1", ""), ("nope", "anything")):
        with pytest.raises(Unauthorized, match=f"^{machines.BAD_CREDENTIAL}$"):
            machines.authenticate(session, machine_id, credential)


def test_status_rules_and_who_may_change_them(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    _, code = register(session, places, now)
    request, key = csr("M-1")
    done = enrol(session, authority, runtime, "M-1", code, request, now)
    session.commit()
    sam, adm = principal(session, "sam", now), principal(session, "adm", now)
    for who in ("alice", "ina", "staff"):
        with pytest.raises(Forbidden):
            machines.suspend(session, "M-1", principal(session, who, now), "lost key", now)
    with pytest.raises(Invalid, match="reason"):
        machines.suspend(session, "M-1", sam, "", now)
    with pytest.raises(Conflict, match="active; it cannot become active"):
        machines.resume(session, "M-1", sam, "all fine", now)
    assert machines.suspend(session, "M-1", sam, "lost key", now).status == "suspended"
    with pytest.raises(Conflict):
        machines.suspend(session, "M-1", sam, "again", now)
    assert machines.resume(session, "M-1", adm, "key found", now).status == "active"
    machine, _ = machines.retire(session, authority, runtime.settings.ca, "M-1", adm, "replaced", now)
    assert machine.status == "retired"
    for change in (machines.suspend, machines.resume):
        with pytest.raises(Conflict, match="retired"):
            change(session, "M-1", sam, "why", now)
    with pytest.raises(Conflict, match="retired"):
        machines.retire(session, authority, runtime.settings.ca, "M-1", sam, "again", now)
    with pytest.raises(Conflict, match="retired"):
        machines.new_enrolment_code(session, "M-1", now, "user:sam", CODE_HOURS)
    assert machines.device_key(session, machine) == key.public_key()  # its events are still its own
    assert machines.device_certificate_revoked(session, machine)
    assert machines.authenticate(session, "M-1", done.credential) is machine  # intake answers it itself
    serial = x509.load_der_x509_certificate(done.certificate).serial_number
    revoked = newest_crl(session, authority).get_revoked_certificate_by_serial_number(serial)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.cessation_of_operation
    )
    assert [e["actor"] for e in logged(session, "machine.suspended", "machine:M-1")] == ["user:sam"]
    assert logged(session, "machine.resumed", "machine:M-1") == [{"actor": "user:adm", "reason": "key found"}]
    assert logged(session, "machine.retired", "machine:M-1") == [{"actor": "user:adm", "reason": "replaced"}]


def test_resume_before_enrolment_goes_back_to_registered(session: Session, places: World, clock: ManualClock) -> None:
    now = clock.now()
    register(session, places, now)
    sam = principal(session, "sam", now)
    machines.suspend(session, "M-1", sam, "wait", now)
    assert machines.resume(session, "M-1", sam, "go", now).status == "registered"


def test_who_sees_which_machines(session: Session, places: World, clock: ManualClock) -> None:
    now = clock.now()
    register(session, places, now)
    session.commit()
    seen = {
        who: [m.id for m in machines.listing(session, principal(session, who, now))]
        for who in ("alice", "sam", "ina", "adm", "ida", "wendy", "staff")
    }
    assert seen == {
        "alice": ["M-1"],
        "sam": ["M-1"],
        "ina": ["M-1"],
        "adm": ["M-1"],
        "ida": [],
        "wendy": [],
        "staff": [],
    }
    assert machines.get(session, "M-1", principal(session, "ina", now)).id == "M-1"
    with pytest.raises(Forbidden):
        machines.get(session, "M-1", principal(session, "ida", now))
    with pytest.raises(NotFound):
        machines.get(session, "M-9", principal(session, "adm", now))


def live(session: Session, machine: Machine, now: dt.datetime, number: str) -> Authorisation:
    row = Authorisation(
        id=hashlib.md5(number.encode()).hexdigest(),  # noqa: S324  # an id, not a digest of anything secret
        machine_id=machine.id,
        slot=1,
        request_id=1,
        request_number=number,
        document_sha256="0" * 64,
        uses=1,
        used=0,
        epoch=machine.epoch,
        not_before=now,
        not_after=now + dt.timedelta(hours=1),
        state="issued",
        cose=b"",
        issued_at=now,
    )
    session.add(row)
    session.flush()
    return row


def test_revoke_epoch_cancels_live_authorisations_and_signs_a_notice(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine, code = register(session, places, now)
    enrol(session, authority, runtime, "M-1", code, csr("M-1")[0], now)
    issued, executing, spent = (live(session, machine, now, n) for n in ("R-1", "R-2", "R-3"))
    executing.state, spent.state = "executing", "spent"
    session.commit()
    with pytest.raises(Forbidden):
        machines.revoke_epoch(session, authority, "M-1", principal(session, "alice", now), "lost", now)
    result = machines.revoke_epoch(session, authority, "M-1", principal(session, "sam", now), "custodian left", now)
    session.commit()
    assert result.epoch == machine.epoch == 1
    assert {a.id for a in result.cancelled} == {issued.id, executing.id}
    assert issued.state == executing.state == "cancelled"
    assert issued.finished_at == now
    assert spent.state == "spent"
    notice = structures.open_signed_by_service(structures.EpochNotice, result.notice, authority.root, now)
    assert notice == structures.EpochNotice(machine="M-1", epoch=1, iat=int(now.timestamp()))
    assert machines.epoch_notice(authority, machine, now) != b""
    [entry] = logged(session, "machine.epoch.revoked", "machine:M-1")
    assert entry["epoch"] == 1
    assert entry["reason"] == "custodian left"
    assert entry["actor"] == "user:sam"
    assert sorted(entry["cancelled"]) == sorted([issued.id, executing.id])
    for row in (issued, executing):
        [cancelled] = logged(session, "machine.authorisation.cancelled", f"authorisation:{row.id}")
        assert cancelled["machine"] == "M-1"
        assert cancelled["actor"] == "user:sam"


def test_retire_cancels_live_authorisations(
    runtime: Runtime, authority: Authority, session: Session, places: World, clock: ManualClock
) -> None:
    now = clock.now()
    machine, _ = register(session, places, now)
    row = live(session, machine, now, "R-1")
    machines.retire(session, authority, runtime.settings.ca, "M-1", principal(session, "sam", now), "gone", now)
    assert row.state == "cancelled"
    assert len(logged(session, "machine.authorisation.cancelled", f"authorisation:{row.id}")) == 1
