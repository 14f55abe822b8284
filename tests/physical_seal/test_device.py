"""The seal machine's logic (docs/protocol.md §4-§5) without a line: enrolment, every refusal with its alarm, the
counter, repeated requests and power loss, against a throwaway CA made here."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from ca.profiles import AUTHORISATION_SIGNING
from physical_seal.device.camera import Camera
from physical_seal.device.machine import Machine
from physical_seal.device.store import Store
from physical_seal.protocol.messages import Kind
from physical_seal.structures import Authorisation, EpochNotice, Event, open_event, read, sign

MACHINE = "yz-m1"
HERE = (183_500_000, 1_091_700_000)
NOW = 1_760_000_000
DOC = hashlib.sha256(b"the approved document").digest()
CUSTODIANS = {"sn.custodian1": "123456", "cx.custodian2": "654321"}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject: x509.Name,
    public: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    now: int,
    purposes: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=True)
    return builder.sign(key, hashes.SHA256())


@dataclass
class Pki:
    """A root, its issuing CA and an authorisation signer, valid around ``now``."""

    now: int = NOW
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    issuing_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    signer_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        root_name, issuing_name = _name("Test Root"), _name("Test Issuing CA")
        self.root = _certificate(root_name, self.root_key.public_key(), root_name, self.root_key, ca=True, now=self.now)
        self.issuing = _certificate(
            issuing_name, self.issuing_key.public_key(), root_name, self.root_key, ca=True, now=self.now
        )
        self.signer = _certificate(
            _name("Test Seal Machine Authorisations"), self.signer_key.public_key(), issuing_name, self.issuing_key,
            ca=False, now=self.now, purposes=[AUTHORISATION_SIGNING],
        )  # fmt: skip
        self.other = _certificate(
            _name("Test Time-Stamp Authority"), self.signer_key.public_key(), issuing_name, self.issuing_key,
            ca=False, now=self.now, purposes=[ExtendedKeyUsageOID.TIME_STAMPING],
        )  # fmt: skip

    def device(self, csr_der: bytes) -> x509.Certificate:
        csr = x509.load_der_x509_csr(csr_der)
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return _certificate(csr.subject, public, self.issuing.subject, self.issuing_key, ca=False, now=self.now)

    def authorisation(self, *, signer: x509.Certificate | None = None, **changes: Any) -> bytes:
        values: dict[str, Any] = {
            "id": hashlib.md5(repr(sorted(changes.items())).encode(), usedforsecurity=False).hexdigest(),
            "machine": MACHINE, "slot": 0, "request": "YZ-2025-0001", "doc": DOC, "uses": 3,
            "nbf": self.now - 60, "exp": self.now + 3600, "fence": (HERE[0], HERE[1], 200),
            "custodians": ("sn.custodian1",), "epoch": 0, "iat": self.now - 60,
        }  # fmt: skip
        values.update(changes)
        return sign(Authorisation(**values), self.signer_key, [signer or self.signer, self.issuing])

    def epoch(self, epoch: int, machine: str = MACHINE) -> bytes:
        return sign(
            EpochNotice(machine=machine, epoch=epoch, iat=self.now), self.signer_key, [self.signer, self.issuing]
        )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


class PowerLoss(BaseException):
    """The seal lost power while pressing."""


class Rig:
    """A machine over a store in ``state``, and a terminal's numbering of requests."""

    def __init__(self, state: Path, pki: Pki) -> None:
        self.state, self.pki, self.clock = state, pki, Clock()
        self.rids = itertools.count(1)
        self.fail_press = False
        self.start()

    def start(self) -> None:
        self.store = Store(self.state, MACHINE)
        self.machine = Machine(self.store, self.clock, HERE, CUSTODIANS, Camera(MACHINE, seed=1), press=self.press)

    def restart(self) -> None:
        self.store.close()
        self.start()

    def press(self) -> None:
        if self.fail_press:
            raise PowerLoss

    def call(self, kind: Kind, rid: int | None = None, **fields: Any) -> dict[str, Any]:
        return self.machine.handle(kind, {"rid": next(self.rids) if rid is None else rid, **fields})

    def ok(self, kind: Kind, **fields: Any) -> dict[str, Any]:
        response = self.call(kind, **fields)
        assert response["ok"], response
        return response

    def refused(self, kind: Kind, code: str, **fields: Any) -> None:
        response = self.call(kind, **fields)
        assert (response["ok"], response.get("error")) == (False, code), response

    def enrol(self) -> None:
        csr = self.ok(Kind.ENROL, machine=MACHINE)["csr"]
        self.device = self.pki.device(csr)
        der = [c.public_bytes(Encoding.DER) for c in (self.device, self.pki.issuing, self.pki.root)]
        self.ok(Kind.INSTALL, certificate=der[0], chain=der[1:])

    def events(self) -> list[Event]:
        public = self.device.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return [open_event(e, public) for e in self.ok(Kind.EVENTS, after=0, max=32)["events"]]

    def last_alarm(self) -> str | None:
        return self.events()[-1].alarm


@pytest.fixture
def rig(tmp_path: Path, pki: Pki) -> Iterator[Rig]:
    made = Rig(tmp_path / "state", pki)
    made.enrol()
    made.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    yield made
    made.store.close()


def test_enrolment_pins_the_root(tmp_path: Path, pki: Pki) -> None:
    rig = Rig(tmp_path, pki)
    assert rig.ok(Kind.HELLO, terminal="t")["enrolled"] is False
    rig.refused(Kind.LOAD, "not-enrolled", auth=pki.authorisation())
    rig.refused(Kind.ENROL, "wrong-machine", machine="another")
    rig.enrol()
    hello = rig.ok(Kind.HELLO, terminal="t")
    assert hello["enrolled"] is True
    assert hello["machine"] == MACHINE
    assert hello["counter"] == 0
    subject = rig.device.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert subject == MACHINE
    other = Pki()
    device = other.device(rig.ok(Kind.ENROL, machine=MACHINE)["csr"])
    der = [c.public_bytes(Encoding.DER) for c in (device, other.issuing, other.root)]
    rig.refused(Kind.INSTALL, "bad-signature", certificate=der[0], chain=der[1:])
    stranger = pki.device(_csr_of_new_key())  # a certificate for a key that is not the machine's
    rig.refused(
        Kind.INSTALL, "bad-signature", certificate=stranger.public_bytes(Encoding.DER),
        chain=[pki.issuing.public_bytes(Encoding.DER), pki.root.public_bytes(Encoding.DER)],
    )  # fmt: skip
    rig.store.close()


def _csr_of_new_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, MACHINE)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(Encoding.DER)


def test_three_stamps_then_the_fourth_is_refused(rig: Rig) -> None:
    assert rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["uses_left"] == 3
    auth_id = rig.ok(Kind.STATUS)["auths"][0][0]
    stamps = [rig.ok(Kind.STAMP, auth=auth_id, doc=DOC)["event"] for _ in range(3)]
    public = rig.device.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    events = [open_event(e, public) for e in stamps]
    assert [(e.counter, e.use, e.kind) for e in events] == [(1, 1, "stamp"), (2, 2, "stamp"), (3, 3, "stamp")]
    assert all(e.custodian == "sn.custodian1" and e.doc == DOC and e.pos == HERE for e in events)
    photo = rig.ok(Kind.PHOTO, counter=2, offset=0, size=2048)
    data = photo["data"]
    while len(data) < photo["total"]:
        data += rig.ok(Kind.PHOTO, counter=2, offset=len(data), size=2048)["data"]
    assert data.startswith(b"\x89PNG")
    assert hashlib.sha256(data).digest() == events[1].photo
    assert len(data) < 150_000
    rig.refused(Kind.STAMP, "uses-exceeded", auth=auth_id, doc=DOC)
    journal = rig.events()
    assert [e.counter for e in journal] == [1, 2, 3, 4]
    assert journal[-1].kind == "alarm"
    assert journal[-1].alarm == "uses-exceeded"
    assert journal[-1].auth == auth_id
    assert rig.ok(Kind.HELLO, terminal="t")["counter"] == 4


def test_load_refusals(rig: Rig) -> None:
    auth = rig.pki.authorisation()
    rig.ok(Kind.LOAD, auth=auth)
    rig.refused(Kind.LOAD, "replayed", auth=auth)
    rig.refused(Kind.LOAD, "wrong-machine", auth=rig.pki.authorisation(machine="yz-m2"))
    rig.refused(Kind.LOAD, "bad-signature", auth=rig.pki.authorisation(signer=rig.pki.other, slot=1))
    flipped = bytearray(rig.pki.authorisation(slot=2))
    flipped[-1] ^= 1
    rig.refused(Kind.LOAD, "bad-signature", auth=bytes(flipped))
    rig.refused(Kind.LOAD, "stale-epoch", auth=rig.pki.authorisation(epoch=1))
    rig.refused(Kind.LOAD, "expired", auth=rig.pki.authorisation(nbf=NOW - 7200, exp=NOW - 1))
    rig.refused(Kind.LOAD, "malformed", auth=b"\xa0")
    assert rig.call(Kind.LOAD, auth="text")["error"] == "malformed"
    assert rig.events() == []  # a refused load is no alarm


@pytest.mark.parametrize(
    ("changes", "doc", "code", "alarm"),
    [
        ({"nbf": NOW + 600, "exp": NOW + 3600}, DOC, "not-yet-valid", "outside-window"),
        ({"fence": (HERE[0] + 100_000, HERE[1], 500)}, DOC, "outside-fence", "outside-fence"),  # about 1.1 km north
        ({"custodians": ("cx.custodian2",)}, DOC, "custodian-not-allowed", "custodian-not-allowed"),
        ({}, bytes(32), "document-mismatch", "document-mismatch"),
    ],
)
def test_stamp_refusals_are_alarms(rig: Rig, changes: dict[str, Any], doc: bytes, code: str, alarm: str) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation(**changes))["id"]
    rig.refused(Kind.STAMP, code, auth=auth_id, doc=doc)
    (event,) = rig.events()
    assert (event.kind, event.alarm, event.auth, event.counter, event.use) == ("alarm", alarm, auth_id, 1, 0)


def test_stamp_outside_the_window_and_without_login(rig: Rig) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    rig.refused(Kind.STAMP, "unknown-authorisation", auth="f" * 32, doc=DOC)
    assert rig.last_alarm() == "unauthorised-stamp"
    rig.ok(Kind.LOGOUT)
    rig.refused(Kind.STAMP, "not-logged-in", auth=auth_id, doc=DOC)
    assert rig.last_alarm() == "unauthorised-stamp"
    rig.refused(Kind.LOGIN, "bad-login", custodian="sn.custodian1", pin="000000")
    rig.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    rig.clock.now += 3600
    rig.refused(Kind.STAMP, "not-logged-in", auth=auth_id, doc=DOC)  # a login lasts ten minutes
    rig.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    rig.refused(Kind.STAMP, "expired", auth=auth_id, doc=DOC)
    assert rig.last_alarm() == "outside-window"
    assert [e.counter for e in rig.events()] == [1, 2, 3, 4]


def test_an_epoch_notice_voids_older_authorisations(rig: Rig) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    rig.refused(Kind.EPOCH, "wrong-machine", notice=rig.pki.epoch(1, "yz-m2"))
    assert rig.ok(Kind.EPOCH, notice=rig.pki.epoch(1))["epoch"] == 1
    rig.refused(Kind.EPOCH, "replayed", notice=rig.pki.epoch(1))
    rig.refused(Kind.STAMP, "stale-epoch", auth=auth_id, doc=DOC)
    assert rig.last_alarm() == "unauthorised-stamp"
    assert rig.ok(Kind.STATUS)["auths"] == []
    rig.refused(Kind.LOAD, "stale-epoch", auth=rig.pki.authorisation(slot=3))
    assert rig.ok(Kind.LOAD, auth=rig.pki.authorisation(epoch=1))["uses_left"] == 3


def test_a_repeated_stamp_is_answered_not_done_again(rig: Rig) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    first = rig.call(Kind.STAMP, rid=77, auth=auth_id, doc=DOC)
    rig.restart()  # the answer survives the machine's restart too
    rig.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    assert rig.call(Kind.STAMP, rid=77, auth=auth_id, doc=DOC) == first
    assert rig.ok(Kind.STATUS)["auths"] == [[auth_id, 2, NOW + 3600]]
    assert len(rig.events()) == 1


def test_power_loss_during_a_stamp(rig: Rig) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    rig.ok(Kind.STAMP, auth=auth_id, doc=DOC)
    rig.fail_press = True
    with pytest.raises(PowerLoss):
        rig.call(Kind.STAMP, auth=auth_id, doc=DOC)
    rig.fail_press = False
    rig.restart()
    rig.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    events = rig.events()
    assert [(e.counter, e.kind, e.alarm) for e in events] == [(1, "stamp", None), (2, "alarm", "power-loss")]
    assert events[1].auth == auth_id
    assert events[1].doc == DOC
    third = read(Event, rig.ok(Kind.STAMP, auth=auth_id, doc=DOC)["event"])[0]
    assert (third.counter, third.use) == (3, 3)
    rig.refused(Kind.STAMP, "uses-exceeded", auth=auth_id, doc=DOC)


def test_tamper_stops_stamping_until_inspected(rig: Rig) -> None:
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    rig.machine.tamper()
    assert rig.last_alarm() == "tamper"
    rig.restart()
    rig.ok(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    assert rig.ok(Kind.STATUS)["tamper"] is True
    rig.refused(Kind.STAMP, "tampered", auth=auth_id, doc=DOC)
    assert rig.last_alarm() == "unauthorised-stamp"
    rig.machine.reset_tamper()
    assert rig.ok(Kind.STAMP, auth=auth_id, doc=DOC)["event"]


def test_clock_drift_and_close(rig: Rig) -> None:
    assert rig.ok(Kind.TIME, time=NOW + 30)["drift"] == -30
    assert rig.events() == []
    drifted = rig.ok(Kind.TIME, time=NOW - 500)
    assert (drifted["time"], drifted["drift"]) == (NOW, 500)
    assert rig.last_alarm() == "clock-drift"
    auth_id = rig.ok(Kind.LOAD, auth=rig.pki.authorisation())["id"]
    close = read(Event, rig.ok(Kind.CLOSE, auth=auth_id)["event"])[0]
    assert (close.kind, close.auth, close.counter) == ("close", auth_id, 2)
    rig.refused(Kind.STAMP, "uses-exceeded", auth=auth_id, doc=DOC)
    rig.refused(Kind.CLOSE, "uses-exceeded", auth=auth_id)


def test_the_photo_shows_the_sheet_when_there_is_one(tmp_path: Path) -> None:
    pdf = pypdfium2.PdfDocument.new()
    pdf.new_page(595, 842)
    pdf.save(tmp_path / "sheet.pdf")
    pdf.close()
    data = (tmp_path / "sheet.pdf").read_bytes()
    doc = hashlib.sha256(data).digest()
    (tmp_path / "sheet.pdf").rename(tmp_path / f"{doc.hex()}.pdf")
    camera = Camera(MACHINE, sheets=tmp_path, seed=2)
    shown = camera.photograph(doc=doc, request="R-1", counter=1, time=NOW)
    generated = camera.photograph(doc=DOC, request="R-1", counter=1, time=NOW)
    for png in (shown, generated):
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.width == 600
        assert len(png) < 150_000
    assert shown != generated


def test_the_state_of_a_machine_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """The state holds the machine's private key."""
    state = tmp_path / "var" / "machine"
    before = os.umask(0o022)
    try:
        store = Store(state, MACHINE)
        with store.transaction():
            store.put("key", b"secret")
        store.close()
    finally:
        os.umask(before)
    made = [state.parent, state, *state.iterdir()]
    assert len(made) >= 3
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in made} == {
        p.name: "0o700" if p.is_dir() else "0o600" for p in made
    }
