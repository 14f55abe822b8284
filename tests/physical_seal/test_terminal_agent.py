"""The terminal agent between a real machine (the emulator's Machine in process, and `sealgate device-sim` on its
pseudo-terminal) and a fake service: enrolment, authorisations, stamps, and uploads in order across an outage."""

import base64
import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import serial
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca.profiles import AUTHORISATION_SIGNING
from physical_seal import structures
from physical_seal.protocol.link import LinkDown, Refused
from physical_seal.protocol.messages import Kind
from physical_seal.structures import Authorisation, EpochNotice, Event
from physical_seal.terminal.agent import Agent, connect
from physical_seal.terminal.console import execute, run
from physical_seal.terminal.journal import Journal
from physical_seal.terminal.service import TerminalService

MACHINE = "M-1"
YAZHOU = (183_500_000, 1_091_700_000)
DOC = hashlib.sha256(b"the approved sheet").digest()
NOW = dt.datetime.now(dt.UTC)


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, issuer_key: Any, *, ca: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([AUTHORISATION_SIGNING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class FakeService:
    """The service's terminal API over httpx.MockTransport; `down` makes every call fail to connect."""

    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    issuing_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    signer_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    down: bool = False
    epoch: int = 1
    auths: list[Authorisation] = field(default_factory=list)
    device: ec.EllipticCurvePublicKey | None = None
    received: list[int] = field(default_factory=list)  # counters accepted, in the order they came
    duplicates: list[int] = field(default_factory=list)
    events: dict[int, Event] = field(default_factory=dict)
    photos: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = _certificate("Test Root", self.root_key, None, self.root_key, ca=True)
        self.issuing = _certificate("Test Issuing", self.issuing_key, self.root, self.root_key, ca=True)
        self.signer = _certificate("Test Authorisations", self.signer_key, self.issuing, self.issuing_key, ca=False)

    def authorise(self, uses: int, custodians: tuple[str, ...] = ("alice",)) -> str:
        now = int(NOW.timestamp())
        auth = Authorisation(
            id=os.urandom(16).hex(), machine=MACHINE, slot=0, request=f"R-{len(self.auths) + 1}", doc=DOC,
            uses=uses, nbf=now - 60, exp=now + 3600, fence=(*YAZHOU, 1000), custodians=custodians,
            epoch=self.epoch, iat=now,
        )  # fmt: skip
        self.auths.append(auth)
        return auth.id

    def _sign(self, structure: Authorisation | EpochNotice) -> str:
        cose = structures.sign(structure, self.signer_key, [self.signer, self.issuing])
        return base64.b64encode(cose).decode()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path.removeprefix(f"/api/v1/terminals/{MACHINE}")
        if path == "/enrol":
            return self._enrol(json.loads(request.content))
        if request.headers.get("Authorization") != "Bearer the-credential":
            return httpx.Response(401, json={"type": "about:blank", "title": "Unauthorized", "detail": "who?"})
        if path == "/authorizations":
            notice = EpochNotice(machine=MACHINE, epoch=self.epoch, iat=int(NOW.timestamp()))
            items = [
                {"id": a.id, "request": a.request, "uses": a.uses, "not_after": "", "cose": self._sign(a)}
                for a in self.auths
            ]
            body = {
                "machine": MACHINE,
                "epoch": self.epoch,
                "epoch_notice": self._sign(notice),
                "authorisations": items,
            }
            return httpx.Response(200, json=body)
        if path == "/events":
            return httpx.Response(
                200, json={"results": [self._event(e) for e in json.loads(request.content)["events"]]}
            )
        if path == "/photos":
            counter = int(request.url.params["counter"])
            event = self.events.get(counter)
            if event is None:
                return httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "detail": "no event"})
            assert hashlib.sha256(request.content).digest() == event.photo
            assert counter not in self.photos
            self.photos[counter] = request.content
            return httpx.Response(200, json={"sha256": hashlib.sha256(request.content).hexdigest(), "counter": counter})
        return httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "detail": path})

    def _enrol(self, body: dict[str, Any]) -> httpx.Response:
        if body["code"] != "the-code":
            return httpx.Response(403, json={"type": "about:blank", "title": "Forbidden", "detail": "bad code"})
        csr = x509.load_der_x509_csr(base64.b64decode(body["csr"]))
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        self.device = public
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.issuing.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .sign(self.issuing_key, hashes.SHA256())
        )
        der = [c.public_bytes(Encoding.DER) for c in (certificate, self.issuing, self.root)]
        b64 = [base64.b64encode(d).decode() for d in der]
        return httpx.Response(200, json={"certificate": b64[0], "chain": b64[1:], "credential": "the-credential"})

    def _event(self, data: str) -> dict[str, Any]:
        assert self.device is not None
        event = structures.open_event(base64.b64decode(data), self.device)
        if event.counter in self.events:
            self.duplicates.append(event.counter)
            return {"counter": event.counter, "status": "duplicate", "reason": None, "alarms": []}
        self.events[event.counter] = event
        self.received.append(event.counter)
        return {"counter": event.counter, "status": "accepted", "reason": None, "alarms": []}


class InProcess:
    """The emulator's Machine called directly, as the link would deliver requests to it."""

    def __init__(self, machine: Any) -> None:
        self._machine = machine
        self._rid = 0

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        self._rid += 1
        response = self._machine.handle(kind, {"rid": self._rid, **fields})
        if not response["ok"]:
            raise Refused(response["error"], response["message"])
        return {k: v for k, v in response.items() if k not in ("rid", "ok")}


@pytest.fixture(params=["in-process", "device-sim"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Agent, FakeService]]:
    """An agent with its journal in tmp_path/terminal, before a machine that is not enrolled yet."""
    pytest.importorskip("physical_seal.device.machine")
    service = FakeService()
    journal = Journal(tmp_path / "terminal" / "journal.sqlite")
    client = TerminalService("https://sealgate.test", MACHINE, transport=httpx.MockTransport(service.handle))
    if request.param == "in-process":
        from physical_seal.device.camera import Camera
        from physical_seal.device.machine import Machine
        from physical_seal.device.store import Store

        store = Store(tmp_path / "machine", MACHINE)
        machine = Machine(store, clock=time.time, position=YAZHOU, custodians={"alice": "1234"},
                          camera=Camera(MACHINE, seed=1))  # fmt: skip
        yield Agent(MACHINE, InProcess(machine), journal, client), service
        store.close()
    else:
        sealgate = Path(sys.executable).with_name("sealgate")
        command = [str(sealgate), "device-sim", "--machine", MACHINE, "--state", str(tmp_path / "machine"),
                   "--custodian", "alice:1234"]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            path = process.stdout.readline().strip()
            if not path:
                pytest.skip("sealgate device-sim did not start")
            with serial.Serial(path, 115200, timeout=0.1) as port:
                yield Agent(MACHINE, connect(port, journal), journal, client), service
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    journal.close()
    client.close()


def _enrolled(agent: Agent, service: FakeService) -> None:
    agent.enrol("the-code")
    assert agent.journal.credential == "the-credential"
    assert agent.journal.pending_install() is None
    assert execute(agent, "status")["epoch"] == 0


def test_enrol_load_stamp_three_times_and_the_fourth_is_refused(rig: tuple[Agent, FakeService]) -> None:
    agent, service = rig
    _enrolled(agent, service)
    auth = service.authorise(uses=3)
    report = agent.sync()
    assert (report.machine, report.service) == (True, True)
    status = execute(agent, "status")
    assert status["epoch"] == 1
    assert status["auths"] == [{"id": auth, "uses_left": 3, "exp": service.auths[0].exp}]
    assert execute(agent, "login alice 1234") == {"command": "login", "ok": True, "custodian": "alice"}
    for use in (1, 2, 3):
        assert execute(agent, f"stamp {auth} {DOC.hex()}") == {
            "command": "stamp",
            "ok": True,
            "counter": use,
            "use": use,
        }
    refused = execute(agent, f"stamp {auth} {DOC.hex()}")
    assert refused["ok"] is False
    assert refused["error"] == "uses-exceeded"
    sync = execute(agent, "sync")
    assert (sync["ok"], sync["read"], sync["uploaded"], sync["pending"]) == (True, 4, 4, 0)
    assert service.received == [1, 2, 3, 4]
    assert [service.events[c].kind for c in (1, 2, 3, 4)] == ["stamp", "stamp", "stamp", "alarm"]
    assert sorted(service.photos) == [1, 2, 3]
    # A second pass loads nothing again and uploads nothing twice.
    agent.sync()
    assert service.duplicates == []
    assert execute(agent, "close " + auth)["counter"] == 5
    agent.sync()
    assert service.received == [1, 2, 3, 4, 5]


def test_events_made_while_the_service_is_down_arrive_in_order_once(rig: tuple[Agent, FakeService]) -> None:
    agent, service = rig
    _enrolled(agent, service)
    auth = service.authorise(uses=20)
    agent.sync()
    execute(agent, "login alice 1234")
    service.down = True
    for use in range(1, 21):
        assert execute(agent, f"stamp {auth} {DOC.hex()}")["counter"] == use
        report = agent.sync()
        assert (report.machine, report.service) == (True, False)
    assert agent.journal.counts().pending == 20
    assert len(agent.journal.photos_missing()) == 0
    assert service.received == []
    service.down = False
    report = agent.sync()
    assert (report.service, report.uploaded, report.pending) == (True, 20, 0)
    assert service.received == list(range(1, 21))
    assert sorted(service.photos) == list(range(1, 21))
    assert service.duplicates == []


def test_a_wrong_enrolment_code_stops_the_agent(rig: tuple[Agent, FakeService]) -> None:
    from physical_seal.terminal.agent import AgentError

    agent, _ = rig
    with pytest.raises(AgentError, match="bad code"):
        agent.enrol("not-the-code")
    assert agent.journal.credential is None


def test_enrolment_waits_for_a_service_that_is_away(rig: tuple[Agent, FakeService]) -> None:
    agent, service = rig
    service.down = True
    agent.enrol("the-code")
    assert not agent.sync().service
    journal = agent.journal
    assert journal.credential is None
    service.down = False
    assert agent.sync().service
    assert agent.journal.credential == "the-credential"
    assert agent.journal.pending_install() is None


def test_enrolment_waits_for_a_machine_that_does_not_answer(rig: tuple[Agent, FakeService]) -> None:
    """A terminal started with its enrolment code on a line that loses the answer keeps the code, and enrols
    at a later pass, instead of exiting."""
    agent, _ = rig
    caller = agent._caller
    lost = _LosesFirst(caller, Kind.ENROL)
    agent._caller = lost
    agent.enrol("the-code")
    assert lost.lost == 1
    journal = agent.journal
    assert journal.credential is None
    assert agent.sync().machine
    assert agent.journal.credential == "the-credential"
    assert agent.journal.pending_install() is None


@dataclass
class _LosesFirst:
    """The link, but the answer to the first request of ``kind`` is lost on the line."""

    caller: Any
    kind: int
    lost: int = 0

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.caller.call(kind, **fields)
        if kind == self.kind and not self.lost:
            self.lost += 1
            raise LinkDown(f"no response to request (type 0x{kind:02x}) within 5.0 s")
        return answer


def test_a_restarted_terminal_uploads_what_it_journalled_once_and_numbers_requests_on(
    rig: tuple[Agent, FakeService], tmp_path: Path
) -> None:
    agent, service = rig
    _enrolled(agent, service)
    auth = service.authorise(uses=5)
    agent.sync()
    execute(agent, "login alice 1234")
    service.down = True
    for _ in range(2):
        execute(agent, f"stamp {auth} {DOC.hex()}")
    agent.sync()
    rid = agent.journal.peek_rid()
    agent.journal.close()

    journal = Journal(tmp_path / "terminal" / "journal.sqlite")
    assert journal.peek_rid() == rid
    assert [c for c, _ in journal.pending_events(10)] == [1, 2]
    restarted = Agent(MACHINE, agent._caller, journal, agent.service)
    service.down = False
    report = restarted.sync()
    assert (report.read, report.uploaded, report.pending) == (0, 2, 0)
    assert service.received == [1, 2]
    assert sorted(service.photos) == [1, 2]
    assert service.duplicates == []
    agent.journal = journal  # the fixture closes it


def test_the_console_answers_one_json_line_per_command_and_stops_at_end_of_input(
    rig: tuple[Agent, FakeService], tmp_path: Path
) -> None:
    agent, service = rig
    _enrolled(agent, service)
    auth = service.authorise(uses=1)
    sheet = tmp_path / "sheet.pdf"
    sheet.write_bytes(b"the approved sheet")
    out = io.StringIO()
    commands = f"login alice 1234\nstamp {auth} {sheet}\nstamp {auth}\nclose nothing\nfly\n"
    run(agent, io.StringIO(commands), out, poll=0.1)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["command"] for r in replies] == ["login", "stamp", "stamp", "close", "fly"]
    assert replies[1] == {"command": "stamp", "ok": True, "counter": 1, "use": 1}
    assert [r.get("error") for r in replies[2:]] == ["usage", "unknown-authorisation", "usage"]
    assert service.received == [1]  # a refused CLOSE is no event
