"""The log as an operator, an auditor and a witness see it: real processes, HTTP between them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ledger.note import open_checkpoint, parse_vkey, verify_note
from tests.cli.support import run, serving

WITNESS = "witness.test/w1"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_service_witness_and_auditor(tmp_path: Path) -> None:
    service, witness_dir = tmp_path / "service", tmp_path / "witness"
    service.mkdir()
    witness_dir.mkdir()
    witness_vkey = ok(run(witness_dir, "witness", "--name", WITNESS, "--print-vkey")).strip()
    ok(run(service, "db", "upgrade"))
    ok(run(service, "demo"))
    log_vkey = ok(run(service, "log", "key")).strip()
    assert log_vkey.startswith("127.0.0.1:8000/log+")

    with serving(witness_dir, tmp_path / "witness.log", "witness", "--name", WITNESS, "--log", log_vkey) as w_url:
        witnesses = json.dumps([{"url": w_url, "vkey": witness_vkey}])
        settings = {"SEALGATE_LEDGER__WITNESSES": witnesses, "SEALGATE_LEDGER__WITNESS_QUORUM": "1"}
        with serving(service, tmp_path / "service.log", **settings) as url:
            note = _published_checkpoint(url)
            checkpoint, _ = open_checkpoint(note, "127.0.0.1:8000/log", [parse_vkey(log_vkey)])
            verify_note(note, [parse_vkey(witness_vkey)])
            assert checkpoint.size >= 60  # the demo's organisations, users and posts

            state = tmp_path / "auditor.json"
            audited = ok(run(tmp_path, "log", "audit", "--url", url, "--vkey", log_vkey, "--state", str(state)))
            assert f"root {checkpoint.root.hex()}" in audited
            assert "audit passed" in audited
            assert json.loads(state.read_text())["size"] == checkpoint.size

            receipt = tmp_path / "entry.tlog-proof"
            receipt.write_text(httpx.get(f"{url}/api/v1/log/entries/3/receipt").text)
            entry = tmp_path / "entry.json"
            entry.write_text(json.dumps(httpx.get(f"{url}/api/v1/log/entries/3").json()["entry"], indent=2))
            witness_args = ("--witness", witness_vkey, "--quorum", "1")
            verify = ("log", "verify-receipt", str(receipt), "--vkey", log_vkey, "--entry", str(entry))
            checked = ok(run(tmp_path, *verify, *witness_args))
            assert "1 witness cosignature(s)" in checked
            forged = json.loads(entry.read_text())
            forged["actor"] = "user:someone-else"
            entry.write_text(json.dumps(forged))
            refused = run(tmp_path, *verify)
            assert refused.returncode == 1
            assert "inclusion proof" in refused.stderr

    audited = ok(run(service, "log", "audit"))
    assert "audit passed" in audited


def _published_checkpoint(url: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.get(url + "/log/checkpoint")
        if response.status_code == 200 and response.text.split("\n")[1] != "0":
            return response.text
        time.sleep(0.2)
    raise AssertionError("no checkpoint was published")


def test_integrate_once_and_a_failing_audit(tmp_path: Path) -> None:
    ok(run(tmp_path, "demo"))
    assert "log size " in ok(run(tmp_path, "log", "integrate", "--once"))
    assert "audit passed" in ok(run(tmp_path, "log", "audit"))
    with sqlite3.connect(tmp_path / "var/sealgate.db") as db:
        body = db.execute("SELECT body FROM ledger_entries WHERE idx = 0").fetchone()[0]
        db.execute("UPDATE ledger_entries SET body = ? WHERE idx = 0", (body.replace(b"yazhou", b"yazhoU"),))
    failed = run(tmp_path, "log", "audit")
    assert failed.returncode == 1
    assert "PROBLEM: entry 0: stored leaf hash does not match its body" in failed.stderr


def test_a_remote_audit_of_nothing_is_a_problem(tmp_path: Path) -> None:
    vkey = ok(run(tmp_path, "log", "key")).strip()
    failed = run(tmp_path, "log", "audit", "--url", "http://127.0.0.1:1", "--vkey", vkey)
    assert failed.returncode == 1
    assert failed.stderr.startswith("PROBLEM: ")
    assert "Traceback" not in failed.stderr
