"""Seal machines: receipts ingested per second through the HTTP API, and the time to load an authorisation into a
machine over a 115200-baud line.

Ingest: one `sealgate serve` on the shipped defaults (SQLite, the SoftHSM2 token), after `sealgate demo` and
`sealgate ca init`. The demo's three village machines are enrolled through `POST /api/v1/terminals/{id}/enrol`
with software P-256 keys; each gets approved physical requests (staff submits, secretary and seal administrator
approve) and pulls the authorisations the service issues for them. Each batch of 100 events is what a terminal
uploads: 99 stamps spending one authorisation of 99 uses, which completes its request, and a 100th stamp beyond
its uses, kept and alarmed (uses-exceeded, notified to the machine's custodians, seal administrators and
inspectors). One terminal per machine, three at once, each uploading its machine's batches in counter order.
The floor, in the same rounds: `POST /api/v1/notifications/{id}/read` of a notification already read (a user's
token resolved, one row read, a commit) from three clients.

Load: `sealgate device-sim` enrolled as 水南村's machine through the API (a new enrolment code, its CSR) and given
the service's chain; `Client.call(Kind.LOAD)` of authorisations the service signed, over `serial.Serial` at
115200 baud. A pseudo-terminal does not hold bytes to the baud rate, so the line time of the bytes the exchange
put on the wire (10 bits a byte) is reported beside the measured round trip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import serial
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from bench import documents
from bench.approvals import _wait
from bench.ports import free_port
from bench.report import Section
from physical_seal import structures
from physical_seal.protocol.link import Client, Link
from physical_seal.protocol.messages import Kind
from physical_seal.structures import Authorisation, Event

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sealgate" / "cli" / "yazhou.json"
BATCH = 100
USES = BATCH - 1  # the last stamp of each batch goes beyond its authorisation
BAUD = 115200
BITS_PER_BYTE = 10  # start, 8 data, stop
LOADS = 5
GOAL = 1000


def physical_request(organisation: str, copies: int) -> dict[str, Any]:
    """The demo's request for a village's official seal on paper (a cleaner's contract), for ``copies`` uses."""
    return {
        "matter": "civil.labour-agreement",
        "organisation": organisation,
        "seal": "village_official",
        "seal_form": "physical",
        "copies": copies,
        "place": "村委会",
        "purpose": "聘用保洁员",
        "form": {
            "worker": "符玉兰",
            "worker_id": "460200196207051221",
            "post": "保洁员",
            "monthly_pay": 1800,
            "months": 12,
            "start_date": "2027-01-01",
        },
    }


def machine_csr(machine: str, key: ec.EllipticCurvePrivateKey) -> str:
    """The PKCS#10 request a machine sends with its enrolment code (base64 DER), as the protocol's §5 asks."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, machine)]))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(Encoding.DER)).decode()


def _sheet(offered: dict[str, Any]) -> bytes:
    """The SHA-256 of the sheet an authorisation names (each request's has its own record's QR code)."""
    return structures.read(Authorisation, base64.b64decode(offered["cose"]))[0].doc


@dataclass
class Terminal:
    """A demo machine as its terminal sees it: its software key, its credential, and the users of its village."""

    id: str
    organisation: str
    prefix: str  # of the village's demo users
    position: tuple[int, int]
    key: ec.EllipticCurvePrivateKey
    credential: str = ""
    counter: int = 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def batch(self, authorisation: str, doc: bytes) -> bytes:
        """The JSON body of one upload: stamps of uses 1 to 100 under an authorisation of 99."""
        now = int(time.time())
        events = []
        for use in range(1, BATCH + 1):
            self.counter += 1
            event = Event(
                machine=self.id,
                counter=self.counter,
                time=now,
                pos=self.position,
                kind="stamp",
                auth=authorisation,
                use=use,
                custodian=f"{self.prefix}.custodian1",
                doc=doc,
                photo=hashlib.sha256(b"photo %d" % self.counter).digest(),
                alarm=None,
                detail="",
            )
            events.append(base64.b64encode(structures.sign(event, self.key)).decode())
        return json.dumps({"events": events}).encode()


class _Api:
    def __init__(self, base: str, passwords: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self._passwords = passwords
        self._tokens: dict[str, dict[str, str]] = {}

    def login(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            answer = self.http.post(
                "/api/v1/auth/token", data={"username": username, "password": self._passwords[username]}
            )
            self._tokens[username] = {"Authorization": f"Bearer {_ok(answer)['access_token']}"}
        return self._tokens[username]

    def enrol(self, machine: str, code: str, key: ec.EllipticCurvePrivateKey) -> Any:
        body = {"code": code, "csr": machine_csr(machine, key)}
        return _ok(self.http.post(f"/api/v1/terminals/{machine}/enrol", json=body))

    def approve(self, terminal: Terminal, copies: int, document: bytes) -> None:
        body = physical_request(terminal.organisation, copies)
        submitted = self.http.post(
            "/api/v1/requests",
            headers=self.login(f"{terminal.prefix}.staff"),
            files={"document": ("agreement.pdf", document, "application/pdf")},
            data={"request": json.dumps(body, ensure_ascii=False)},
        )
        rid = _ok(submitted)["id"]
        for who, level in (("secretary", 1), ("sealadmin", 2)):
            decision = {"decision": "approve", "level": level}
            _ok(
                self.http.post(
                    f"/api/v1/requests/{rid}/decisions", headers=self.login(f"{terminal.prefix}.{who}"), json=decision
                )
            )

    def authorisations(self, terminal: Terminal, count: int) -> list[dict[str, Any]]:
        """The ``count`` authorisations the service issues to the machine once their requests are approved."""
        deadline = time.monotonic() + 120
        while True:
            found: list[dict[str, Any]] = _ok(
                self.http.get(f"/api/v1/terminals/{terminal.id}/authorizations", headers=terminal.auth)
            )["authorisations"]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"{terminal.id}: {len(found)} of {count} authorisations issued")
            time.sleep(0.5)


def _ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
    return answer.json()


def _sealgate(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "sealgate", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def _demo(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Passwords and enrolment codes, as `sealgate demo` prints them."""
    out = _sealgate(env, "demo")
    passwords = dict(re.findall(r"^  (\S+) / (\S+)    ", out, re.MULTILINE))
    codes = dict(re.findall(r"^  ([a-z]+-\d+)  (\S+)$", out, re.MULTILINE))
    return passwords, codes


def _terminals(api: _Api, codes: dict[str, str]) -> list[Terminal]:
    terminals = []
    for spec in json.loads(DEMO.read_text("utf-8"))["machines"]:
        latitude, longitude = spec["position"]
        terminal = Terminal(
            id=spec["id"],
            organisation=spec["organisation"],
            prefix=spec["custodians"][0].partition(".")[0],
            position=(round(latitude * 1e7), round(longitude * 1e7)),
            key=ec.generate_private_key(ec.SECP256R1()),
        )
        terminal.credential = api.enrol(terminal.id, codes[terminal.id], terminal.key)["credential"]
        terminals.append(terminal)
    return terminals


def _together(works: Sequence[Callable[[], object]]) -> float:
    """Seconds until every work, each in its own thread, started together, is done."""
    start = threading.Barrier(len(works) + 1)
    errors: list[BaseException] = []

    def one(work: Callable[[], object]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(w,)) for w in works]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


def _uploads(base: str, terminal: Terminal, bodies: list[bytes], alarms: list[int]) -> Callable[[], None]:
    def work() -> None:
        headers = {**terminal.auth, "Content-Type": "application/json"}
        with httpx.Client(base_url=base, timeout=60) as http:
            for body in bodies:
                results = _ok(http.post(f"/api/v1/terminals/{terminal.id}/events", content=body, headers=headers))
                if any(r["status"] != "accepted" for r in results["results"]):
                    raise RuntimeError(f"{terminal.id}: an event was not accepted: {results}")
                alarms.append(sum(len(r["alarms"]) for r in results["results"]))

    return work


def _floor(base: str, headers: dict[str, str], note: int, seconds: float, clients: int) -> float:
    """Requests per second of the empty authenticated POST from ``clients`` clients."""
    counts = [0] * clients
    stop = 0.0

    def loop(slot: int) -> Callable[[], None]:
        def work() -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                while time.perf_counter() < stop:
                    _ok(http.post(f"/api/v1/notifications/{note}/read", headers=headers))
                    counts[slot] += 1

        return work

    works = [loop(n) for n in range(clients)]
    stop = time.perf_counter() + seconds
    elapsed = _together(works)
    return sum(counts) / elapsed


@dataclass(frozen=True)
class Load:
    seconds: float
    written: int
    read: int

    @property
    def line(self) -> float:
        return (self.written + self.read) * BITS_PER_BYTE / BAUD


class _Counted:
    """A serial port that counts the bytes each way."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self.written = self.read_bytes = 0

    @property
    def timeout(self) -> float | None:
        timeout: float | None = self._port.timeout
        return timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._port.timeout = value

    @property
    def in_waiting(self) -> int:
        waiting: int = self._port.in_waiting
        return waiting

    def read(self, size: int = 1) -> bytes:
        data: bytes = self._port.read(size)
        self.read_bytes += len(data)
        return data

    def write(self, data: bytes, /) -> int | None:
        self.written += len(data)
        written: int | None = self._port.write(data)
        return written

    def flush(self) -> None:
        self._port.flush()


def _loads(env: dict[str, str], api: _Api, state: Path, authorisations: list[bytes]) -> list[Load]:
    """Each authorisation loaded once into a `sealgate device-sim` enrolled as shuinan-1 through the API."""
    command = [sys.executable, "-m", "sealgate", "device-sim", "--machine", "shuinan-1", "--state", str(state)]
    device = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert device.stdout is not None
        path = device.stdout.readline().strip()
        with serial.Serial(path, BAUD, timeout=0.1) as raw:
            port = _Counted(raw)
            client = Client(Link(port))
            client.call(Kind.HELLO, terminal="bench")
            csr = client.call(Kind.ENROL, machine="shuinan-1")["csr"]
            code = _ok(api.http.post("/api/v1/machines/shuinan-1/enrolment-code", headers=api.login("sn.sealadmin")))[
                "enrolment_code"
            ]
            body = {"code": code, "csr": base64.b64encode(csr).decode()}
            enrolled = _ok(api.http.post("/api/v1/terminals/shuinan-1/enrol", json=body))
            chain = [base64.b64decode(c) for c in enrolled["chain"]]
            client.call(Kind.INSTALL, certificate=base64.b64decode(enrolled["certificate"]), chain=chain)
            loads = []
            for cose in authorisations:
                written, read = port.written, port.read_bytes
                began = time.perf_counter()
                client.call(Kind.LOAD, auth=cose)
                seconds = time.perf_counter() - began
                loads.append(Load(seconds, port.written - written, port.read_bytes - read))
            return loads
    finally:
        device.send_signal(signal.SIGTERM)
        device.wait(10)


def run(quick: bool = False) -> Section:
    title = "Seal machines (`bench/machines.py`)"
    rounds, batches, floor_seconds = (1, 2, 1.0) if quick else (3, 5, 2.0)
    server: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
            "SEALGATE_VAR_DIR": str(Path(tmp) / "var"),
            "SEALGATE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        try:
            passwords, codes = _demo(env)
            _sealgate(env, "ca", "init")
            port = free_port()
            command = [sys.executable, "-m", "sealgate", "serve", "--port", str(port)]
            server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            _wait([base])
            api = _Api(base, passwords)
            terminals = _terminals(api, codes)
            document = documents.one_page()
            per_machine = (rounds + 1) * batches
            for terminal in terminals:
                for _ in range(per_machine):
                    api.approve(terminal, USES, document)
            shuinan = terminals[0]
            for _ in range(LOADS):
                api.approve(shuinan, 1, document)
            bodies: dict[str, list[bytes]] = {}
            spare: list[bytes] = []
            for terminal in terminals:
                issued = api.authorisations(terminal, per_machine + (LOADS if terminal is shuinan else 0))
                batchable = [a for a in issued if a["uses"] == USES]
                bodies[terminal.id] = [terminal.batch(a["id"], _sheet(a)) for a in batchable[:per_machine]]
                spare += [base64.b64decode(a["cose"]) for a in issued if a["uses"] == 1]
            staff = api.login(f"{shuinan.prefix}.staff")
            note = _ok(api.http.get("/api/v1/notifications", headers=staff))[0]["id"]
            _ok(api.http.post(f"/api/v1/notifications/{note}/read", headers=staff))
            floors, rates, alarms = [], [], []
            for r in range(rounds + 1):
                mine = {t.id: bodies[t.id][r * batches : (r + 1) * batches] for t in terminals}
                raised: list[int] = []
                works = [_uploads(base, t, mine[t.id], raised) for t in terminals]
                if r == 0:
                    _floor(base, staff, note, floor_seconds / 2, len(terminals))
                    _together(works)  # the warm-up
                    continue
                floors.append(_floor(base, staff, note, floor_seconds, len(terminals)))
                rates.append(len(terminals) * batches * BATCH / _together(works))
                alarms.append(sum(raised))
            loads = _loads(env, api, Path(tmp) / "device", spare)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    return Section(title, _body(rounds, batches, len(terminals), floor_seconds, floors, rates, alarms, loads))


def _spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def _body(
    rounds: int,
    batches: int,
    clients: int,
    floor_seconds: float,
    floors: list[float],
    rates: list[float],
    alarms: list[int],
    loads: list[Load],
) -> str:
    floor, rate = statistics.median(floors), statistics.median(rates)
    events = clients * batches * BATCH
    met = "met" if rate >= GOAL else "NOT met"
    measured = [load.seconds * 1e3 for load in loads]
    line = [load.line * 1e3 for load in loads]
    sizes = loads[0]
    return "\n".join(
        [
            "One `sealgate serve` on the shipped defaults (SQLite, the SoftHSM2 token), all on this machine; "
            f"{clients} terminals (one per demo machine, httpx, one thread each) upload at once, each its machine's "
            f"events in counter order in batches of {BATCH}; {rounds} rounds after a warm-up, each of "
            f"{floor_seconds:g} s of the floor and {events:,} events. Each batch: {USES} stamps spending an "
            f"authorisation of {USES} uses (its request completes) and one stamp beyond it (kept, alarmed "
            "uses-exceeded, notified). "
            f"Goal: at least {GOAL:,} events/s: {met}. Medians, in brackets the lowest and highest round.\n",
            "| measurement | per second | ratio |",
            "|---|---:|---:|",
            f"| POST /api/v1/notifications/{{id}}/read, already read (the authenticated floor, baseline) | "
            f"{_spread(floors, ',.0f')} requests | |",
            f"| POST /api/v1/terminals/{{machine}}/events, {BATCH} events a request | {_spread(rates, ',.0f')} events "
            f"| {rate / floor:.2f} events per floor request |",
            "",
            f"An upload of {BATCH} events costs {floor * BATCH / rate:.1f} times an empty authenticated request; "
            f"alarms raised per round: {', '.join(str(a) for a in alarms)} (one per batch).\n",
            f"Loading an authorisation into `sealgate device-sim` over `serial.Serial` at {BAUD:,} baud, "
            f"{len(loads)} loads of authorisations the service signed (one use each, the service's chain in each):\n",
            "| measurement | ms |",
            "|---|---:|",
            f"| `Client.call(Kind.LOAD)` round trip on the pseudo-terminal (not held to the baud rate) | "
            f"{_spread(measured, '.1f')} |",
            f"| line time at {BAUD:,} baud of the bytes exchanged ({sizes.written:,} sent, {sizes.read:,} received: "
            f"request, response and their ACKs, 10 bits a byte; the lower bound on a real line) | "
            f"{_spread(line, '.1f')} |",
            "",
            "On a real line the load takes at least the line time plus the machine's work, which the round trip on "
            "the pseudo-terminal measures with the line nearly free.\n",
        ]
    )
