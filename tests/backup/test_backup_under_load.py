"""A backup taken while requests are being submitted and sealed restores, into a fresh directory and a fresh
PostgreSQL database, every request that was acknowledged before it began, every document sealed by then and
every entry of the log's checkpoint; the restored service keeps the log going, consistent with what auditors saw."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from bench.flow import APPROVERS, SUBSIDY, _environments, _token
from bench.ledger import _drop, _fresh_postgres
from core.keystore.devtoken import find_softhsm_module
from ledger.merkle import verify_consistency
from ledger.note import open_checkpoint, parse_vkey
from tests.conftest import PG_ENV
from tests.workflow.test_two_hosts import Cluster, _states, _submit_and_approve, _wait_completed, serving

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.xdist_group("timed")]

SEALED_BEFORE = 4  # requests sealed before the backup begins


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealgate", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _load(server_url: str, tokens: dict[str, dict[str, str]], acknowledged: list[int], stop: threading.Event) -> None:
    """Submit and approve requests to the end until ``stop``: each id is noted once its submission is answered."""
    with httpx.Client(base_url=server_url, timeout=60) as client:
        while not stop.is_set():
            answer = client.post("/api/v1/requests", json=SUBSIDY, headers=tokens["sn.resident"])
            assert answer.status_code == 201, answer.text
            request_id = int(answer.json()["id"])
            acknowledged.append(request_id)
            for level, who in enumerate(APPROVERS, start=1):
                body = {"decision": "approve", "level": level}
                done = client.post(f"/api/v1/requests/{request_id}/decisions", json=body, headers=tokens[who])
                assert done.status_code == 200, done.text


def test_a_backup_under_load_restores_everything_acknowledged(tmp_path: Path) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"the drill restores into a fresh PostgreSQL database: set {PG_ENV}")
    if find_softhsm_module() is None:
        pytest.skip("SoftHSM2 is not installed")
    first, second = _fresh_postgres() or pytest.fail("no PostgreSQL"), _fresh_postgres() or pytest.fail("no db")
    try:
        _drill(tmp_path, first[1], second[1])
    finally:
        _drop(first[0], first[1])
        _drop(second[0], second[1])


def _drill(root: Path, url: str, restored_url: str) -> None:
    original, token_host = _environments(root, url)
    original = {**original, "SEALGATE_LOG_LEVEL": "INFO", "PYTHONFAULTHANDLER": "1"}
    for command in (("ca", "init"), ("demo",)):
        done = _cli(original, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    engine = create_engine(url)
    backup = root / "backup"
    try:
        with serving(Cluster(root, url, engine, [original]), 0) as a:
            tokens = {name: _token(a.client, name) for name in ("sn.resident", *APPROVERS)}
            sealed = _submit_and_approve(a, tokens, SEALED_BEFORE, len(APPROVERS))
            _wait_completed(engine, sealed, 120, [a])
            documents = {i: _document(a.client, tokens, i) for i in sealed}
            vkey = str(a.client.get("/api/v1/log/key").json()["vkey"])
            state = root / "audit-state.json"
            audited = _cli(
                original, "log", "audit", "--url", str(a.client.base_url), "--vkey", vkey, "--state", str(state)
            )
            assert audited.returncode == 0, audited.stderr
            seen = root / "seen-checkpoint"
            seen.write_text(a.client.get("/log/checkpoint").text)
            acknowledged: list[int] = []
            stop = threading.Event()
            load = threading.Thread(target=_load, args=(str(a.client.base_url), tokens, acknowledged, stop))
            load.start()
            try:
                while len(acknowledged) < 3:  # the load is under way
                    assert load.is_alive()
                    stop.wait(0.05)
                before = list(acknowledged)
                taken = _cli(original, "backup", str(backup))
                during = len(acknowledged) - len(before)
            finally:
                stop.set()
                load.join(timeout=120)
            assert taken.returncode == 0, taken.stdout + taken.stderr
            assert during > 0, "no request was submitted while the backup was taken"
    finally:
        engine.dispose()

    # The restored host: its own var/, a fresh database; the token stands in for the HSM, which is not restored.
    restored = {
        **token_host,
        "SEALGATE_VAR_DIR": str(root / "restored"),
        "SEALGATE_DATABASE__URL": restored_url,
        "SEALGATE_BLOBS__PATH": str(root / "restored-blobs"),
        "SEALGATE_LOG_LEVEL": "INFO",
        "PYTHONFAULTHANDLER": "1",
    }
    done = _cli(restored, "restore", str(backup), "--seen-checkpoint", str(seen))
    assert done.returncode == 0, done.stdout + done.stderr
    engine = create_engine(restored_url)
    try:
        with serving(Cluster(root, restored_url, engine, [restored]), 0) as b:
            tokens = {name: _token(b.client, name) for name in ("sn.resident", *APPROVERS)}
            states = _states(engine, before)
            assert set(states) == set(before), (
                f"acknowledged before the backup but not restored: {set(before) - set(states)}"
            )
            assert {i: _document(b.client, tokens, i) for i in sealed} == documents
            # The service goes on: a new request is sealed and logged on the restored host.
            fresh = _submit_and_approve(b, tokens, 1, len(APPROVERS))
            _wait_completed(engine, fresh + [i for i in before if states[i] != "completed"], 120, [b])
            audited = _cli(
                restored, "log", "audit", "--url", str(b.client.base_url), "--vkey", vkey, "--state", str(state)
            )
            assert audited.returncode == 0, audited.stdout + audited.stderr
            _consistent(b.client, vkey, seen.read_text())
    finally:
        engine.dispose()


def _document(client: httpx.Client, tokens: dict[str, dict[str, str]], request_id: int) -> str:
    """The SHA-256 of the request's sealed document as its applicant downloads it."""
    answer = client.get(f"/api/v1/requests/{request_id}/document", headers=tokens["sn.resident"])
    assert answer.status_code == 200, answer.text
    return hashlib.sha256(answer.content).hexdigest()


def _audit(env: dict[str, str], client: httpx.Client, vkey: str, state: Path) -> None:
    """``sealgate log audit --url``: replays the whole log and checks it extends the checkpoint in ``state``."""
    done = _cli(env, "log", "audit", "--url", str(client.base_url), "--vkey", vkey, "--state", str(state))
    assert done.returncode == 0, done.stdout + done.stderr


def _consistent(client: httpx.Client, vkey: str, seen: str) -> None:
    """The restored log's newest checkpoint extends the one auditors saw before the backup, by a proof."""
    verifier = parse_vkey(vkey)
    old, _ = open_checkpoint(seen, verifier.name, [verifier])
    new, _ = open_checkpoint(client.get("/log/checkpoint").text, verifier.name, [verifier])
    assert new.size > old.size
    answer = client.get("/api/v1/log/proofs/consistency", params={"from": old.size, "to": new.size})
    assert answer.status_code == 200, answer.text
    proof = [base64.b64decode(h) for h in answer.json()["proof"]]
    verify_consistency(old.size, new.size, proof, old.root, new.root)


def test_documents_kept_in_the_database_restore_only_where_the_settings_keep_them_there(tmp_path: Path) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"blobs live in the database only on PostgreSQL: set {PG_ENV}")
    if find_softhsm_module() is None:
        pytest.skip("SoftHSM2 is not installed")
    first, second = _fresh_postgres() or pytest.fail("no PostgreSQL"), _fresh_postgres() or pytest.fail("no db")
    try:
        original, token_host = _environments(tmp_path, first[1])
        original = {**original, "SEALGATE_BLOBS__BACKEND": "database"}
        for command in (("ca", "init"), ("demo",), ("log", "integrate", "--once")):
            done = _cli(original, *command)
            assert done.returncode == 0, done.stdout + done.stderr
        taken = _cli(original, "backup", str(tmp_path / "backup"))
        assert taken.returncode == 0, taken.stdout + taken.stderr
        restored = {**token_host, "SEALGATE_VAR_DIR": str(tmp_path / "restored"), "SEALGATE_DATABASE__URL": second[1]}
        refused = _cli(restored, "restore", str(tmp_path / "backup"))
        assert refused.returncode == 1
        assert "SEALGATE_BLOBS__BACKEND=database" in refused.stderr
        restored["SEALGATE_BLOBS__BACKEND"] = "database"
        done = _cli(restored, "restore", str(tmp_path / "backup"))
        assert done.returncode == 0, done.stdout + done.stderr
        audited = _cli(restored, "log", "audit")
        assert audited.returncode == 0, audited.stdout + audited.stderr
    finally:
        _drop(first[0], first[1])
        _drop(second[0], second[1])
