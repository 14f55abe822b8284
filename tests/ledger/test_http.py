"""The log's HTTP read interface, checked by a client that trusts nothing but the log's verifier key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api import create_app
from core.runtime import Runtime
from ledger.audit import audit_database, audit_remote, parse_bundle, tile_hashes
from ledger.merkle import leaf_hash, root_from_inclusion, verify_consistency, verify_inclusion
from ledger.models import Checkpoint, Entry, SubjectHead, Tile, TreeState
from ledger.note import open_checkpoint, parse_vkey
from ledger.receipt import parse_receipt, verify_receipt
from ledger.service import LogService
from tests.ledger.support import ORIGIN, append_committed, events

SIZE = 600


@pytest.fixture
def client(runtime: Runtime, log: LogService) -> Iterator[TestClient]:
    append_committed(runtime, events(SIZE, subjects=7))
    log.integrator.run_until_idle()
    with TestClient(create_app(runtime)) as c:
        yield c


def checkpoint(client: TestClient) -> tuple[int, bytes]:
    response = client.get("/log/checkpoint")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    vkey = client.get("/api/v1/log/key").json()["vkey"]
    body, _ = open_checkpoint(response.text, ORIGIN, [parse_vkey(vkey)])
    return body.size, body.root


def test_key_and_checkpoint(client: TestClient, log: LogService) -> None:
    key = client.get("/api/v1/log/key").json()
    assert key == {"origin": ORIGIN, "vkey": log.vkey}
    assert key["vkey"].startswith(ORIGIN + "+")
    size, _ = checkpoint(client)
    assert size == SIZE
    assert client.get("/log/checkpoint").headers["cache-control"] == "no-cache"


def test_tiles_full_partial_and_beyond(client: TestClient) -> None:
    full = client.get("/log/tile/0/000")
    assert full.status_code == 200
    assert len(full.content) == 256 * 32
    assert full.headers["cache-control"].endswith("immutable")
    partial = client.get("/log/tile/0/002.p/88")
    assert len(partial.content) == 88 * 32
    assert client.get("/log/tile/0/002.p/50").content == partial.content[: 50 * 32]
    level1 = client.get("/log/tile/1/000.p/2")
    assert len(level1.content) == 64
    for missing in ("0/002", "0/002.p/89", "0/003.p/1", "1/000", "1/000.p/3", "2/000.p/1", "0/2", "0/x000/000"):
        response = client.get(f"/log/tile/{missing}")
        assert response.status_code == 404, missing
        assert response.headers["content-type"] == "application/problem+json"


def test_entry_bundles_hash_to_the_level_0_tiles(client: TestClient) -> None:
    for path in ("000", "001", "002.p/88"):
        bundle = parse_bundle(client.get(f"/log/tile/entries/{path}").content)
        tile = tile_hashes(client.get(f"/log/tile/0/{path}").content)
        assert [leaf_hash(entry) for entry in bundle] == tile
    compressed = client.get("/log/tile/entries/000", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert len(parse_bundle(compressed.content)) == 256  # the client decompresses


def test_json_proofs_verify_against_the_signed_checkpoint(client: TestClient) -> None:
    size, root = checkpoint(client)
    for index in (0, 255, 256, 599):
        entry = client.get(f"/api/v1/log/entries/{index}").json()
        raw = base64.b64decode(entry["raw"])
        assert entry["leaf_hash"] == leaf_hash(raw).hex()
        assert entry["entry"]["data"]["n"] == index
        proof = client.get("/api/v1/log/proofs/inclusion", params={"index": index, "size": size}).json()
        hashes = [base64.b64decode(h) for h in proof["proof"]]
        verify_inclusion(leaf_hash(raw), index, size, hashes, root)
    smaller = client.get("/api/v1/log/proofs/inclusion", params={"index": 3, "size": 100}).json()
    consistency = client.get("/api/v1/log/proofs/consistency", params={"from": 100, "to": size}).json()
    root100 = root_from_inclusion(
        leaf_hash(base64.b64decode(client.get("/api/v1/log/entries/3").json()["raw"])),
        3,
        100,
        [base64.b64decode(h) for h in smaller["proof"]],
    )
    assert base64.b64decode(consistency["root1"]) == root100
    verify_consistency(100, size, [base64.b64decode(h) for h in consistency["proof"]], root100, root)


def test_bad_proof_requests(client: TestClient) -> None:
    assert client.get("/api/v1/log/proofs/inclusion", params={"index": 5, "size": SIZE + 1}).status_code == 422
    assert client.get("/api/v1/log/proofs/inclusion", params={"index": 5, "size": 5}).status_code == 422
    assert client.get("/api/v1/log/proofs/consistency", params={"from": 9, "to": 8}).status_code == 422
    assert client.get("/api/v1/log/entries/600").status_code == 404
    assert client.get("/api/v1/log/proofs/inclusion", params={"index": "x", "size": 5}).status_code == 422


def test_receipt_of_an_entry_verifies_offline(client: TestClient, log: LogService) -> None:
    text = client.get("/api/v1/log/entries/42/receipt").text
    raw = base64.b64decode(client.get("/api/v1/log/entries/42").json()["raw"])
    verified = verify_receipt(parse_receipt(text), raw, origin=ORIGIN, log_verifiers=[parse_vkey(log.vkey)])
    assert verified.index == 42
    assert verified.checkpoint.size == SIZE


def test_remote_audit_rebuilds_the_root_from_tiles(client: TestClient, log: LogService) -> None:
    report = audit_remote(client, "http://testserver", [parse_vkey(log.vkey)])
    assert report.ok, report.problems
    assert report.size == SIZE
    assert report.root == checkpoint(client)[1]
    assert report.tiles >= 3


def test_database_audit_finds_tampering(runtime: Runtime, client: TestClient, log: LogService) -> None:
    verifiers = [parse_vkey(log.vkey)]
    with runtime.sessions() as session:
        assert audit_database(session, ORIGIN, verifiers).ok
        tampered = session.get(Entry, 10)
        assert tampered is not None
        tampered.body = tampered.body.replace(b'"n":10', b'"n":11')
        session.flush()
        report = audit_database(session, ORIGIN, verifiers)
        assert "entry 10: stored leaf hash does not match its body" in report.problems
        assert any("root the entries do not give" in p for p in report.problems)
        session.rollback()
        tile = session.scalars(select(Tile).where(Tile.level == 0, Tile.idx == 1)).one()
        tile.hashes = tile.hashes[:-32] + bytes(32)
        session.flush()
        assert "tile 0/1 differs from the tree the entries give" in audit_database(session, ORIGIN, verifiers).problems
        session.rollback()


def test_audit_remembers_the_last_checkpoint(
    runtime: Runtime, client: TestClient, log: LogService, tmp_path: Path
) -> None:
    """An operator who rebuilds the whole log, entries, tiles and checkpoints, signed with the real key, still
    cannot fool an auditor who saw an earlier checkpoint."""
    state = tmp_path / "seen.json"
    verifiers = [parse_vkey(log.vkey)]
    with runtime.sessions() as session:
        assert audit_database(session, ORIGIN, verifiers, state=state).ok
    with runtime.sessions() as session:
        for table in (Entry, Tile, Checkpoint, TreeState, SubjectHead):
            session.execute(delete(table))
        session.commit()
    append_committed(runtime, events(650, subjects=7, start=1000))
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        fresh = audit_database(session, ORIGIN, verifiers)
        assert fresh.ok, fresh.problems
        report = audit_database(session, ORIGIN, verifiers, state=state)
    assert report.problems == ["the checkpoint this auditor saw before at size 600 has a root the entries do not give"]
