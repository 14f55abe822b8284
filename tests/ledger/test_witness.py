"""C2SP tlog-witness: the witness's answers, its atomic state, and a log that publishes only at quorum."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.witness import MAX_BODY, create_witness_app
from core.errors import NotFound
from core.runtime import Runtime
from ledger.merkle import EMPTY_ROOT, MemoryTree, consistency_proof, leaf_hash
from ledger.models import WitnessState
from ledger.note import (
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    SoftwareKey,
    format_checkpoint,
    parse_vkey,
    sign_note,
    verify_note,
)
from ledger.publish import Publisher, WitnessPeer, newest
from ledger.service import LogService
from ledger.witness import format_submission
from tests.conftest import T0
from tests.ledger.support import ORIGIN, append_committed, events

LOG_KEY = SoftwareKey.from_seed(bytes(range(32)))
LOG = Ed25519Signer(ORIGIN, LOG_KEY.sign, LOG_KEY.public)
LOG_VERIFIER = Ed25519Verifier(ORIGIN, LOG_KEY.public)
TREE = MemoryTree(leaf_hash(b"entry %d" % i) for i in range(40))


def signed(size: int, root: bytes | None = None, signer: Ed25519Signer = LOG) -> str:
    body = format_checkpoint(Checkpoint(ORIGIN, size, TREE.root(size) if root is None else root))
    return sign_note(body, [signer])


def cosigner(name: str = "witness.test/w1") -> CosignatureSigner:
    key = SoftwareKey.generate()
    return CosignatureSigner(name, key.sign, key.public, lambda: int(T0.timestamp()))


@pytest.fixture
def witness(runtime: Runtime, engine: Engine) -> Iterator[tuple[TestClient, CosignatureSigner]]:
    signer = cosigner()
    app = create_witness_app(runtime, signer, {ORIGIN: [LOG_VERIFIER]})
    with TestClient(app) as client:
        yield client, signer


def submit(
    client: TestClient, old: int, size: int, proof: list[bytes] | None = None, note: str | None = None
) -> httpx.Response:
    if proof is None:
        proof = consistency_proof(old, size, TREE) if 0 < old < size else []
    response: httpx.Response = client.post(
        "/add-checkpoint", content=format_submission(old, proof, note or signed(size))
    )
    return response


def test_cosigns_and_follows_the_log(witness: tuple[TestClient, CosignatureSigner]) -> None:
    client, signer = witness
    first = submit(client, 0, 10)
    assert first.status_code == 200
    assert first.text.startswith("— witness.test/w1 ")
    key = CosignatureVerifier(signer.name, signer.public)
    verify_note(signed(10) + first.text, [key])
    raw = base64.b64decode(first.text.split()[-1])
    assert CosignatureVerifier.timestamp_of(raw[4:]) == int(T0.timestamp())
    assert submit(client, 10, 25).status_code == 200
    assert submit(client, 25, 25).status_code == 200
    monitored = client.get(f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
    verify_note(monitored.text, [key])
    assert monitored.text.startswith(format_checkpoint(Checkpoint(ORIGIN, 25, TREE.root(25))))


def test_status_codes(witness: tuple[TestClient, CosignatureSigner]) -> None:
    client, _ = witness
    assert submit(client, 0, 10).status_code == 200
    stale = submit(client, 5, 12)
    assert stale.status_code == 409
    assert stale.text == "10\n"
    assert stale.headers["content-type"].startswith("text/x.tlog.size")
    assert submit(client, 10, 20, proof=[bytes(32)] * 3).status_code == 422
    assert submit(client, 10, 10, note=signed(10, root=TREE.root(11))).status_code == 422
    assert submit(client, 20, 10).status_code == 400
    assert client.post("/add-checkpoint", content=b"old 0\n" + signed(3).encode()).status_code == 400
    assert submit(client, 10, 20, proof=[bytes(32)] * 64).status_code == 400
    stranger = SoftwareKey.generate()
    other_log = Ed25519Signer("elsewhere.test/log", stranger.sign, stranger.public)
    unknown_origin = sign_note(format_checkpoint(Checkpoint("elsewhere.test/log", 3, TREE.root(3))), [other_log])
    assert submit(client, 0, 3, note=unknown_origin).status_code == 404
    impostor = Ed25519Signer(ORIGIN, stranger.sign, stranger.public)
    assert submit(client, 10, 20, note=signed(20, signer=impostor)).status_code == 403
    forged = signed(20).replace(base64.b64encode(TREE.root(20)).decode(), base64.b64encode(TREE.root(21)).decode())
    assert submit(client, 10, 20, note=forged).status_code == 403
    # Nothing above moved the witness: it still holds size 10.
    assert submit(client, 10, 20).status_code == 200


def test_a_request_over_the_limit_is_refused_unread(witness: tuple[TestClient, CosignatureSigner]) -> None:
    client, _ = witness
    answer = client.post("/add-checkpoint", content=b"old 0\n" + b"x" * MAX_BODY)
    assert answer.status_code == 413
    assert answer.json()["type"].endswith("payload-too-large")
    assert submit(client, 0, 10).status_code == 200  # and the witness goes on


def test_size_zero_needs_the_empty_root(witness: tuple[TestClient, CosignatureSigner]) -> None:
    client, _ = witness
    assert submit(client, 0, 0, note=signed(0, root=bytes(32))).status_code == 422
    assert submit(client, 0, 0, note=signed(0, root=EMPTY_ROOT)).status_code == 200


def test_racing_requests_cannot_roll_the_witness_back(witness: tuple[TestClient, CosignatureSigner]) -> None:
    client, _ = witness
    results: list[int] = []
    barrier = threading.Barrier(2)

    def race(size: int) -> None:
        barrier.wait()
        results.append(submit(client, 0, size).status_code)

    threads = [threading.Thread(target=race, args=(n,)) for n in (12, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


def publisher(
    log: LogService, peers: list[tuple[str, CosignatureSigner]], quorum: int, http: httpx.Client
) -> Publisher:
    return Publisher(
        log.origin,
        log.publisher.signer,
        [WitnessPeer(url, CosignatureVerifier(s.name, s.public)) for url, s in peers],
        quorum,
        http,
    )


def test_a_log_publishes_only_checkpoints_a_quorum_cosigned(runtime: Runtime, log: LogService) -> None:
    log_verifier = parse_vkey(log.vkey)
    signer = cosigner()
    witness_app = create_witness_app(runtime, signer, {ORIGIN: [log_verifier]})
    with TestClient(witness_app) as up:
        # Quorum 2 with one witness that answers and one that does not exist.
        log.integrator.publisher = publisher(
            log, [("http://testserver", signer), ("http://127.0.0.1:1", cosigner())], 2, up
        )
        append_committed(runtime, events(30))
        log.integrator.run_until_idle()
        with runtime.sessions() as session, pytest.raises(NotFound, match="not published"):
            log.reader.published(session)
        # Quorum 1: the same checkpoint, already cosigned by the first witness, is now enough.
        log.integrator.publisher = publisher(log, [("http://testserver", signer)], 1, up)
        append_committed(runtime, events(5, start=30))
        log.integrator.run_until_idle()
        with runtime.sessions() as session:
            checkpoint = log.reader.published(session)
        assert checkpoint.size == 35
        verify_note(checkpoint.note, [CosignatureVerifier(signer.name, signer.public)])
        verify_note(checkpoint.note, [log_verifier])


def test_a_log_behind_what_a_witness_cosigned_signs_no_further_checkpoint(
    runtime: Runtime, log: LogService, caplog: pytest.LogCaptureFixture
) -> None:
    """After a restore to an earlier point: the witness cosigned 40 entries, the database holds 30. A checkpoint
    of the log grown from 30 would fork what the witness saw, so none is signed, whatever the quorum."""
    signer = cosigner()
    witness_app = create_witness_app(runtime, signer, {ORIGIN: [parse_vkey(log.vkey)]})
    with TestClient(witness_app) as up:
        log.integrator.publisher = publisher(log, [("http://testserver", signer)], 1, up)
        append_committed(runtime, events(30))
        log.integrator.run_until_idle()
        with runtime.sessions() as session:
            assert log.reader.published(session).size == 30
            state = session.get(WitnessState, ORIGIN)
            assert state is not None
            state.size, state.root = 40, TREE.root(40)  # what the witness holds, beyond the restored log
            session.commit()
        for quorum in (1, 0):
            log.integrator.publisher = publisher(log, [("http://testserver", signer)], quorum, up)
            append_committed(runtime, events(5, start=30 + 5 * quorum))
            with caplog.at_level(logging.ERROR, logger="ledger.publish"):
                log.integrator.run_until_idle()
            halted = log.integrator.publisher.halted
            assert halted is not None
            assert "cosigned 40 entries" in halted
            with runtime.sessions() as session:
                assert newest(session) is not None
                assert newest(session).size == 30  # type: ignore[union-attr]
                assert log.reader.published(session).size == 30
        assert sum("cosigned 40 entries" in r.getMessage() for r in caplog.records) == 2  # once per publisher


def test_a_witness_behind_or_level_with_the_log_lets_it_sign(runtime: Runtime, log: LogService) -> None:
    signer = cosigner()
    witness_app = create_witness_app(runtime, signer, {ORIGIN: [parse_vkey(log.vkey)]})
    with TestClient(witness_app) as up:
        log.integrator.publisher = publisher(log, [("http://testserver", signer)], 1, up)
        append_committed(runtime, events(10))
        log.integrator.run_until_idle()
        log.integrator.publisher = publisher(log, [("http://testserver", signer)], 1, up)  # a restart, level
        append_committed(runtime, events(5, start=10))
        log.integrator.run_until_idle()
        assert log.integrator.publisher.halted is None
        with runtime.sessions() as session:
            assert log.reader.published(session).size == 15
