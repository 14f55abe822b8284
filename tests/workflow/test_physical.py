"""A physical seal's request over HTTP with the demo data and a real CA: approved, authorised to 水南村's machine,
stamped under the authorisation (events signed by the machine's own key, made here as the machine makes it),
completed when its uses are spent; every wrong event refused or alarmed; the stamps, their photos and their
log entries on the record page."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from api import create_app
from bench.machines import machine_csr, physical_request
from ca import hierarchy
from core.clock import ManualClock
from core.runtime import Runtime
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import open_checkpoint, parse_vkey
from ledger.service import LogService
from physical_seal import structures
from physical_seal.structures import Authorisation, Event
from sealgate.cli import demo
from signer.appearance import MM, qr_code
from signer.pades import QR_MM
from tests.workflow import pdfs

PASSWORDS = {p["username"]: p["password"] for p in demo.dataset()["users"]}
MACHINE = "shuinan-1"
AT_SHUINAN = (183_660_000, 1_091_620_000)


@dataclass
class Machine:
    """A seal machine as the service sees it: its own key, its counter, its credential."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    counter: int = 0
    credential: str = ""
    root: x509.Certificate | None = None

    def event(self, clock: ManualClock, **fields: Any) -> bytes:
        self.counter += 1
        values: dict[str, Any] = {
            "machine": MACHINE,
            "counter": self.counter,
            "time": int(clock.now().timestamp()),
            "pos": AT_SHUINAN,
            "kind": "stamp",
            "auth": None,
            "use": 0,
            "custodian": "sn.custodian1",
            "doc": None,
            "photo": None,
            "alarm": None,
            "detail": "",
        }
        values.update(fields)
        return structures.sign(Event(**values), self.key)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


@pytest.fixture
def client(runtime: Runtime, log: LogService) -> Iterator[TestClient]:
    with runtime.sessions() as session:
        data = demo.load(session, runtime.clock.now())
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        test_client.codes = data["enrolment_codes"]
        yield test_client


def login(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORDS[username]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def enrolled(client: TestClient) -> Machine:
    machine = Machine()
    body = {"code": client.codes[MACHINE], "csr": machine_csr(MACHINE, machine.key)}
    answer = client.post(f"/api/v1/terminals/{MACHINE}/enrol", json=body)
    assert answer.status_code == 200, answer.text
    again = client.post(f"/api/v1/terminals/{MACHINE}/enrol", json=body)
    assert again.status_code == 401, "an enrolment code works once"
    machine.credential = answer.json()["credential"]
    machine.root = x509.load_der_x509_certificate(base64.b64decode(answer.json()["chain"][1]))
    return machine


def approved(client: TestClient, copies: int, document: bytes) -> int:
    body = physical_request("yazhou.shuinan", copies)
    submitted = client.post(
        "/api/v1/requests",
        headers=login(client, "sn.staff"),
        files={"document": ("agreement.pdf", document, "application/pdf")},
        data={"request": json.dumps(body, ensure_ascii=False)},
    )
    assert submitted.status_code == 201, submitted.text
    rid: int = submitted.json()["id"]
    for who, level in (("sn.secretary", 1), ("sn.sealadmin", 2)):
        decided = client.post(
            f"/api/v1/requests/{rid}/decisions",
            headers=login(client, who),
            json={"decision": "approve", "level": level},
        )
        assert decided.status_code == 200, decided.text
    client.app.state.workers.once()  # type: ignore[attr-defined]
    return rid


def state(client: TestClient, rid: int) -> str:
    found: str = client.get(f"/api/v1/requests/{rid}", headers=login(client, "sn.staff")).json()["state"]
    return found


def upload(client: TestClient, machine: Machine, *events: bytes) -> list[dict[str, Any]]:
    body = {"events": [base64.b64encode(e).decode() for e in events]}
    answer = client.post(f"/api/v1/terminals/{MACHINE}/events", json=body, headers=machine.auth)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def pulled(client: TestClient, machine: Machine) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/terminals/{MACHINE}/authorizations", headers=machine.auth)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["authorisations"]
    return found


def test_three_uses_stamped_complete_the_request_and_a_fourth_is_alarmed(
    client: TestClient, runtime: Runtime, log: LogService
) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    machine = enrolled(client)
    drawing = pdfs.one_page("劳务协议")
    drawing.pages[0].Contents = drawing.make_stream(b"0 0 1 rg 100 100 200 50 re f\n")
    document = pdfs.save(drawing)
    rid = approved(client, 3, document)
    assert state(client, rid) == "authorised"

    waiting = client.get("/api/v1/notifications", headers=login(client, "sn.custodian2")).json()
    assert [n["kind"] for n in waiting] == ["stamp-waiting"]
    [offered] = pulled(client, machine)
    assert machine.root is not None
    signed = structures.open_signed_by_service(
        Authorisation, base64.b64decode(offered["cose"]), machine.root, clock.now()
    )
    assert signed.machine == MACHINE
    assert signed.uses == 3
    sheet = client.get(f"/api/v1/requests/{rid}/sheet", headers=login(client, "sn.custodian1"))
    assert sheet.status_code == 200, sheet.text
    assert signed.doc == hashlib.sha256(sheet.content).digest()  # what is printed and stamped
    record = client.get(f"/api/v1/requests/{rid}", headers=login(client, "sn.staff")).json()["record"]
    public_url = runtime.settings.public_url
    with pikepdf.open(io.BytesIO(sheet.content)) as pdf:
        drawn = b"".join(obj.read_bytes() for obj in pdf.objects if isinstance(obj, pikepdf.Stream))
        assert len(pdf.pages) == 1
    assert qr_code(public_url + record, QR_MM * MM) in drawn  # the paper opens its record
    with pikepdf.open(io.BytesIO(document)) as original, pikepdf.open(io.BytesIO(sheet.content)) as printed:
        assert printed.pages[0].mediabox == original.pages[0].mediabox
        assert original.pages[0].Contents.read_bytes() == b"0 0 1 rg 100 100 200 50 re f\n"
        assert original.pages[0].Contents.read_bytes() in drawn  # the approved content, untouched
    assert set(signed.custodians) == {"sn.custodian1", "sn.custodian2"}

    photos = [f"photo {n}".encode() for n in range(1, 5)]
    stamps = [
        machine.event(clock, auth=signed.id, use=n, doc=signed.doc, photo=hashlib.sha256(photos[n - 1]).digest())
        for n in range(1, 5)
    ]
    first = upload(client, machine, stamps[0])
    assert first == [{"counter": 1, "status": "accepted", "reason": None, "alarms": []}]
    assert state(client, rid) == "executing"
    assert [r["status"] for r in upload(client, machine, stamps[0], stamps[1], stamps[2])] == [
        "duplicate",
        "accepted",
        "accepted",
    ]
    assert state(client, rid) == "completed"
    fourth = upload(client, machine, stamps[3])
    assert fourth[0]["status"] == "accepted"
    assert fourth[0]["alarms"] == ["uses-exceeded"]

    custodian = login(client, "sn.custodian1")
    alarms = client.get("/api/v1/alarms", headers=custodian).json()
    assert [a["code"] for a in alarms] == ["uses-exceeded"]
    inbox = client.get("/api/v1/notifications", headers=login(client, "yz.inspector")).json()
    assert any(n["kind"] == "alarm" and "用印次数超限" in n["title"] for n in inbox)
    acknowledged = client.post(
        f"/api/v1/alarms/{alarms[0]['id']}/acknowledge", json={"comment": "核实：多盖一份作废"}, headers=custodian
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert client.get("/api/v1/alarms", headers=custodian).json() == []

    wrong = client.post(
        f"/api/v1/terminals/{MACHINE}/photos", params={"counter": 1}, content=b"another", headers=machine.auth
    )
    assert wrong.status_code == 422
    for n in (1, 2, 3):
        stored = client.post(
            f"/api/v1/terminals/{MACHINE}/photos", params={"counter": n}, content=photos[n - 1], headers=machine.auth
        )
        assert stored.status_code == 200, stored.text

    log.integrator.run_until_idle()
    vkey = parse_vkey(client.get("/api/v1/log/key").json()["vkey"])
    checkpoint, _ = open_checkpoint(client.get("/log/checkpoint").text, log.origin, [vkey])
    page = client.get(record + "?lang=en").text
    stamped = page[page.index("<h3>Stamps</h3>") :]
    for n in (1, 2, 3):
        assert f"use {n} ·" in stamped
    indexes = [int(part.split('"')[0]) for part in stamped.split('href="/api/v1/log/entries/')[1:]]
    assert len(indexes) == 4  # the three stamps and the one over the limit, which happened all the same
    for index in indexes:
        entry = client.get(f"/api/v1/log/entries/{index}").json()
        assert entry["entry"]["type"] == "machine.stamp"
        raw = base64.b64decode(entry["raw"])
        proof = client.get("/api/v1/log/proofs/inclusion", params={"index": index, "size": checkpoint.size}).json()
        verify_inclusion(
            leaf_hash(raw), index, checkpoint.size, [base64.b64decode(p) for p in proof["proof"]], checkpoint.root
        )
    photo_link = stamped.split('<img src="')[1].split('"')[0]
    assert client.get(photo_link).content == photos[0]
    assert client.get(record.replace("/records/", "/records/x") + photo_link[len(record) :]).status_code == 404


def test_the_service_refuses_and_alarms_forged_replayed_and_missing_events(
    client: TestClient, runtime: Runtime
) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    machine = enrolled(client)
    forger = Machine(counter=0)
    forged = forger.event(clock, kind="alarm", alarm="tamper")
    refused = upload(client, machine, forged)[0]
    assert (refused["status"], refused["alarms"]) == ("refused", ["forged-event"])
    one = machine.event(clock, kind="alarm", alarm="tamper", detail="the case was opened")
    assert upload(client, machine, one)[0]["alarms"] == ["tamper"]
    machine.counter = 0
    replayed = machine.event(clock, kind="alarm", alarm="clock-drift")  # counter 1 again, other bytes
    assert upload(client, machine, replayed)[0]["status"] == "refused"
    assert upload(client, machine, replayed)[0]["alarms"] == ["counter-replay"]
    machine.counter = 5
    gap = machine.event(clock, kind="alarm", alarm="clock-drift")
    assert sorted(upload(client, machine, gap)[0]["alarms"]) == ["clock-drift", "counter-gap"]
    codes = {a["code"] for a in client.get("/api/v1/alarms", headers=login(client, "sn.sealadmin")).json()}
    assert {"forged-event", "tamper", "counter-replay", "counter-gap", "clock-drift"} <= codes

    no_credential = client.post(f"/api/v1/terminals/{MACHINE}/events", json={"events": ["AA=="]})
    assert no_credential.status_code == 401
    too_many = {"events": ["AA=="] * 257}
    assert client.post(f"/api/v1/terminals/{MACHINE}/events", json=too_many, headers=machine.auth).status_code == 422

    retired = client.post(
        f"/api/v1/machines/{MACHINE}/retire", json={"reason": "机器丢失"}, headers=login(client, "sn.sealadmin")
    )
    assert retired.status_code == 200, retired.text
    late = machine.event(clock, kind="alarm", alarm="tamper")
    assert upload(client, machine, late)[0]["alarms"] == ["revoked-machine"]


def test_revoking_the_epoch_fails_the_authorised_requests_and_a_window_passing_expires_them(
    client: TestClient, runtime: Runtime
) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    machine = enrolled(client)
    first = approved(client, 2, pdfs.clean("其一"))
    second = approved(client, 1, pdfs.clean("其二"))
    assert len(pulled(client, machine)) == 2
    custodian = login(client, "sn.custodian1")
    refused = client.post(f"/api/v1/machines/{MACHINE}/revoke-epoch", json={"reason": "钥匙遗失"}, headers=custodian)
    assert refused.status_code == 403
    revoked = client.post(
        f"/api/v1/machines/{MACHINE}/revoke-epoch", json={"reason": "钥匙遗失"}, headers=login(client, "sn.sealadmin")
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["epoch"] == 1
    assert len(revoked.json()["cancelled"]) == 2
    assert state(client, first) == state(client, second) == "failed"
    after = client.get(f"/api/v1/terminals/{MACHINE}/authorizations", headers=machine.auth).json()
    assert after["authorisations"] == []
    assert after["epoch"] == 1
    assert after["epoch_notice"]

    third = approved(client, 1, pdfs.clean("其三"))
    assert state(client, third) == "authorised"
    clock.advance(dt.timedelta(hours=runtime.settings.machines.authorisation_hours, seconds=1))
    client.app.state.workers.machines()  # type: ignore[attr-defined]
    assert state(client, third) == "expired"
    assert pulled(client, machine) == []
