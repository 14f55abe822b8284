"""The seeds' example, over HTTP with the demo data: a resident of 水南村 asks for the winter-vegetable subsidy,
three approvers approve, the request is executed, and every step is in the log, provably."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api import create_app
from core.runtime import Runtime
from ledger.entry import commitment_of
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.models import PersonalDatum
from ledger.note import open_checkpoint, parse_vkey
from ledger.service import LogService
from sealgate.cli import demo
from tests.workflow.conftest import RecordingExecutor
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow.catalog import SealForm
from workflow.execution import Executors

PASSWORDS = {p["username"]: p["password"] for p in demo.dataset()["users"]}


@pytest.fixture
def demo_client(runtime: Runtime, log: LogService) -> Iterator[tuple[TestClient, RecordingExecutor]]:
    with runtime.sessions() as session:
        demo.load(session, runtime.clock.now())
    executor = RecordingExecutor()
    executors = Executors()
    executors.register(SealForm.ELECTRONIC, executor)
    with TestClient(create_app(runtime, executors=executors)) as client:
        yield client, executor


def login(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORDS[username]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_winter_vegetable_subsidy(
    demo_client: tuple[TestClient, RecordingExecutor], log: LogService, runtime: Runtime
) -> None:
    client, executor = demo_client
    resident = login(client, "sn.resident")
    matter = client.get("/api/v1/matters/agri.winter-vegetable-subsidy", headers=resident).json()
    assert matter["prefill"]["id_number"] == "4602**********1222"
    assert matter["prefill"]["applicant"] == "符**"
    assert "辣椒" in matter["form"]["properties"]["crop"]["enum"]
    submitted = client.post(
        "/api/v1/requests",
        headers=resident,
        json=WINTER_VEGETABLE_SUBSIDY,
    )
    assert submitted.status_code == 201, submitted.text
    request = submitted.json()
    assert request["form"]["amount"] == round(3.5 * 300 * 2, 2)
    assert request["document"]["source"] == "template"
    assert request["group"]["code"] == "yazhou.shuinan.g1"
    rid = request["id"]
    for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
        decided = client.post(
            f"/api/v1/requests/{rid}/decisions",
            headers=login(client, who),
            json={"decision": "approve", "level": level},
        )
        assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"
    client.app.state.workers.once()  # type: ignore[attr-defined]
    done = client.get(f"/api/v1/requests/{rid}", headers=resident).json()
    assert done["state"] == "completed"
    assert executor.done == [done["number"]]
    document = client.get(f"/api/v1/requests/{rid}/document", headers=resident).content
    assert document.startswith(b"%PDF-")

    log.integrator.run_until_idle()
    vkey = parse_vkey(client.get("/api/v1/log/key").json()["vkey"])
    checkpoint, _ = open_checkpoint(client.get("/log/checkpoint").text, log.origin, [vkey])
    entries = []
    for index in range(checkpoint.size):
        entry = client.get(f"/api/v1/log/entries/{index}").json()
        if entry["entry"]["subject"] == f"request:{rid}":
            entries.append(entry)
    steps = [(e["entry"]["type"], e["entry"]["data"].get("decided_level")) for e in entries]
    assert steps == [
        ("request.submitted", None),
        ("request.decided", 1),
        ("request.decided", 2),
        ("request.decided", 3),
        ("request.executing", None),
        ("request.completed", None),
    ]
    previous = None
    for entry in entries:
        raw = base64.b64decode(entry["raw"])
        assert entry["entry"]["prev"] == previous
        previous = leaf_hash(raw).hex()
        proof = client.get(
            "/api/v1/log/proofs/inclusion", params={"index": entry["index"], "size": checkpoint.size}
        ).json()
        verify_inclusion(
            leaf_hash(raw),
            entry["index"],
            checkpoint.size,
            [base64.b64decode(p) for p in proof["proof"]],
            checkpoint.root,
        )
    submitted_entry = entries[0]["entry"]
    # The applicant and the matter are commitments, which the service opens for an inspector.
    with runtime.readers() as session:
        for committed, value in (
            (submitted_entry["data"]["applicant"], "user:sn.resident"),
            (submitted_entry["actor"], "user:sn.resident"),
            (submitted_entry["data"]["matter"], "agri.winter-vegetable-subsidy"),
        ):
            datum = session.get(PersonalDatum, committed)
            assert datum is not None
            assert datum.value == value
            assert commitment_of(datum.salt, value) == committed
    assert "sn.resident" not in json.dumps([e["entry"] for e in entries])
    assert "460204197803121222" not in json.dumps([e["entry"] for e in entries], ensure_ascii=False)
    assert submitted_entry["data"]["form"].startswith("sha256:")
