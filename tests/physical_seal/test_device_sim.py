"""``sealgate device-sim`` as a terminal meets it: a process behind a serial device, spoken to with the protocol's
Client over a line that drops and corrupts frames, and that can lose power in the middle of a stamp."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import serial
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from physical_seal.protocol.link import Client, Link, LinkDown, Refused
from physical_seal.protocol.messages import Kind
from physical_seal.structures import Event, open_event, read
from tests.physical_seal.test_device import DOC, MACHINE, Pki

POWER_LOSS_EXIT = 137


@contextmanager
def device_sim(state: Path, *options: str) -> Iterator[tuple[subprocess.Popen[str], Client]]:
    """The emulator running over ``state``, and a Client on its pseudo-terminal."""
    command = [sys.executable, "-m", "sealgate", "device-sim", "--machine", MACHINE, "--state", str(state)]
    command += ["--custodian", "sn.custodian1:123456", *options]
    log = (state.parent / "device-sim.log").open("a")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), f"no device path on the first line: {path!r}"
        with serial.Serial(path, 115200, timeout=0.1) as port:
            yield process, Client(Link(port))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(10)
        log.close()


def enrol_and_load(client: Client, pki: Pki) -> str:
    assert client.call(Kind.HELLO, terminal="test")["enrolled"] is False
    device = pki.device(client.call(Kind.ENROL, machine=MACHINE)["csr"])
    der = [c.public_bytes(Encoding.DER) for c in (device, pki.issuing, pki.root)]
    client.call(Kind.INSTALL, certificate=der[0], chain=der[1:])
    loaded = client.call(Kind.LOAD, auth=pki.authorisation())
    assert loaded["uses_left"] == 3
    client.call(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
    auth_id: str = loaded["id"]
    return auth_id


def device_key(client: Client, pki: Pki) -> ec.EllipticCurvePublicKey:
    """The machine's key, as the CSR shows it (the certificate was issued for it)."""
    public = pki.device(client.call(Kind.ENROL, machine=MACHINE)["csr"]).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


@pytest.fixture
def pki() -> Pki:
    return Pki(now=int(time.time()))


def test_a_session_over_a_faulty_line(tmp_path: Path, pki: Pki) -> None:
    with device_sim(tmp_path / "state", "--drop", "0.1", "--corrupt", "0.1", "--seed", "7") as (_, client):
        auth_id = enrol_and_load(client, pki)
        public = device_key(client, pki)
        stamps = [open_event(client.call(Kind.STAMP, auth=auth_id, doc=DOC)["event"], public) for _ in range(3)]
        assert [(e.counter, e.use) for e in stamps] == [(1, 1), (2, 2), (3, 3)]
        with pytest.raises(Refused) as refused:
            client.call(Kind.STAMP, auth=auth_id, doc=DOC)
        assert refused.value.code == "uses-exceeded"
        journal = [open_event(e, public) for e in client.call(Kind.EVENTS, after=0, max=32)["events"]]
        assert [(e.counter, e.kind, e.alarm) for e in journal] == [
            (1, "stamp", None),
            (2, "stamp", None),
            (3, "stamp", None),
            (4, "alarm", "uses-exceeded"),
        ]
        photo = _photo(client, 3)
        assert photo.startswith(b"\x89PNG")
        assert hashlib.sha256(photo).digest() == stamps[2].photo


def test_power_loss_in_the_middle_of_a_stamp(tmp_path: Path, pki: Pki) -> None:
    state = tmp_path / "state"
    with device_sim(state, "--power-loss-at", "2") as (process, client):
        auth_id = enrol_and_load(client, pki)
        client.call(Kind.STAMP, auth=auth_id, doc=DOC)
        with pytest.raises((LinkDown, serial.SerialException)):
            client.call(Kind.STAMP, auth=auth_id, doc=DOC)
        assert process.wait(10) == POWER_LOSS_EXIT
    with device_sim(state) as (process, client):
        assert client.call(Kind.HELLO, terminal="test")["counter"] == 2
        public = device_key(client, pki)
        journal = [open_event(e, public) for e in client.call(Kind.EVENTS, after=0, max=32)["events"]]
        assert [(e.counter, e.kind, e.alarm) for e in journal] == [(1, "stamp", None), (2, "alarm", "power-loss")]
        client.call(Kind.LOGIN, custodian="sn.custodian1", pin="123456")
        third: Event = read(Event, client.call(Kind.STAMP, auth=auth_id, doc=DOC)["event"])[0]
        assert (third.counter, third.use) == (3, 3)  # the lost stamp's use is spent
        process.send_signal(signal.SIGUSR1)  # the case is opened
        deadline = time.monotonic() + 5
        while not client.call(Kind.STATUS)["tamper"]:
            assert time.monotonic() < deadline, "SIGUSR1 did not mark the machine tampered"
            time.sleep(0.1)
        with pytest.raises(Refused) as refused:
            client.call(Kind.STAMP, auth=auth_id, doc=DOC)
        assert refused.value.code == "tampered"


def test_a_malformed_request_is_refused_not_left_unanswered(tmp_path: Path) -> None:
    with device_sim(tmp_path / "machine") as (_, client):
        started = time.monotonic()
        with pytest.raises(Refused) as refused:
            client.call(Kind.STAMP, auth="0" * 32, doc=b"short")
        assert refused.value.code == "malformed"
        assert time.monotonic() - started < 2  # answered, not timed out
        assert client.call(Kind.HELLO, terminal="test")["enrolled"] is False  # and the machine goes on


def _photo(client: Client, counter: int) -> bytes:
    first: dict[str, Any] = client.call(Kind.PHOTO, counter=counter, offset=0, size=2048)
    data: bytes = first["data"]
    while len(data) < first["total"]:
        data += client.call(Kind.PHOTO, counter=counter, offset=len(data), size=2048)["data"]
    return data
