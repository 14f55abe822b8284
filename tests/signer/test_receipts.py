"""A bureau's receipt beside a sealed PDF: the report says at its top whether the receipt proves the seal was
logged, and a receipt that does not (garbage, another log's, a forged entry, another document's) fails it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from ca import crl
from core.clock import ManualClock
from core.runtime import Runtime
from ledger.note import SoftwareKey, format_vkey, parse_vkey
from ledger.receipt import format_receipt, parse_receipt
from ledger.service import LogService
from sealgate.cli import app
from signer import records
from signer.models import Sealing
from signer.revocation import Sources
from signer.verification import bureau_report, exit_code
from tests.conftest import ORIGIN
from tests.signer.test_sealing import Bench, make_bench, seal_once


@dataclass
class Logged:
    bench: Bench
    pdf: bytes
    receipt: str
    other_receipt: str  # the receipt of another sealing of the same document
    vkey: str
    revocation: Sources  # the CA's current CRLs, as the service hands them to its verifier


def _receipt(runtime: Runtime, log: LogService, sealing: Sealing) -> str:
    with runtime.sessions() as session:
        return records.receipt(session, log.reader, sealing)


@pytest.fixture
def logged(runtime: Runtime, log: LogService, clock: ManualClock, tmp_path: Path) -> Logged:
    clock.advance(dt.datetime.now(dt.UTC) - clock.now())  # the verifier judges revocation data by the wall clock
    bench = make_bench(runtime, tmp_path, "B-LT")
    first, second = seal_once(bench), seal_once(bench)
    log.integrator.run_until_idle()
    authority = bench.office.authority
    with runtime.sessions() as session:
        issuers = authority.revocation_issuers(runtime.settings.ca)
        revocation = Sources(crls=[crl.current(session, issuer, runtime.clock.now()) for issuer in issuers])
    pdf = runtime.blobs.get(first.sealed_sha256)
    without = bureau_report(pdf, trust=[authority.root], revocation=revocation)
    assert without["indication"] == "TOTAL-PASSED", without
    assert without["receipt"] is None
    receipts = _receipt(runtime, log, first), _receipt(runtime, log, second)
    return Logged(bench, pdf, *receipts, log.vkey, revocation)


def report(logged: Logged, receipt: str | bytes, vkey: str | None = None) -> dict[str, Any]:
    keys = [parse_vkey(vkey or logged.vkey)]
    extra = receipt.encode() if isinstance(receipt, str) else receipt
    return bureau_report(
        logged.pdf,
        trust=[logged.bench.office.authority.root],
        receipt=extra,
        log_keys=keys,
        revocation=logged.revocation,
    )


def test_a_valid_receipt_passes_and_says_so_at_the_top(logged: Logged) -> None:
    found = report(logged, logged.receipt)
    assert found["indication"] == "TOTAL-PASSED", found
    assert found["receipt"] == {
        "verified": True,
        "problem": None,
        "field": "Seal1",
        "index": parse_receipt(logged.receipt).index,
        "checkpoint_size": found["receipt"]["checkpoint_size"],
    }
    assert found["receipt"]["checkpoint_size"] > found["receipt"]["index"]
    assert found["signatures"][0]["receipt"]["verified"] is True


def test_a_garbage_receipt_fails_the_report(logged: Logged) -> None:
    found = report(logged, b"this is not a receipt\x00\xff")
    assert found["indication"] == "TOTAL-FAILED"
    assert found["sub_indication"] is None
    receipt = found["receipt"]
    assert isinstance(receipt, dict)
    assert receipt["verified"] is False
    assert receipt["problem"].startswith("the receipt is malformed")
    assert receipt["field"] is None


def test_a_receipt_of_another_sealing_fails_the_report(logged: Logged) -> None:
    found = report(logged, logged.other_receipt)
    assert found["indication"] == "TOTAL-FAILED"
    assert found["receipt"]["problem"] == "the receipt is for none of this document's signatures"
    assert "receipt" not in found["signatures"][0]


def test_a_receipt_signed_by_another_key_fails_the_report(logged: Logged) -> None:
    impostor = format_vkey(ORIGIN, 0x01, SoftwareKey.generate().public)
    found = report(logged, logged.receipt, vkey=impostor)
    assert found["indication"] == "TOTAL-FAILED"
    assert found["receipt"]["problem"].startswith("the receipt does not verify: log signature")


def test_a_receipt_with_a_forged_entry_fails_the_report(logged: Logged) -> None:
    genuine = parse_receipt(logged.receipt)
    assert genuine.extra is not None
    entry = json.loads(genuine.extra)
    entry["actor"] = "user:somebody-else"  # still names the document's signature
    forged = format_receipt(type(genuine)(genuine.index, genuine.proof, genuine.checkpoint, json.dumps(entry).encode()))
    found = report(logged, forged)
    assert found["indication"] == "TOTAL-FAILED"
    assert found["receipt"]["field"] == "Seal1"
    assert found["receipt"]["problem"].startswith("the receipt does not verify: inclusion proof")


def test_a_receipt_without_the_log_key_is_indeterminate(logged: Logged) -> None:
    found = bureau_report(
        logged.pdf,
        trust=[logged.bench.office.authority.root],
        receipt=logged.receipt.encode(),
        log_keys=(),
        revocation=logged.revocation,
    )
    assert found["indication"] == "INDETERMINATE"
    assert found["receipt"]["problem"] == "no log key to check the receipt's checkpoint with"


def test_sealgate_verify_fails_on_a_bad_receipt_and_says_why(logged: Logged, tmp_path: Path) -> None:
    pdf, trust = tmp_path / "sealed.pdf", tmp_path / "root.pem"
    pdf.write_bytes(logged.pdf)
    trust.write_bytes(logged.bench.office.authority.root.public_bytes(Encoding.PEM))
    base = ["verify", str(pdf), "--trust", str(trust), "--log-key", logged.vkey, "--receipt"]
    good, bad = tmp_path / "good.tlog-proof", tmp_path / "bad.tlog-proof"
    good.write_text(logged.receipt)
    bad.write_bytes(base64.b64encode(b"garbage"))
    cli = CliRunner()
    passed = cli.invoke(app, [*base, str(good)])
    assert passed.exit_code != exit_code("TOTAL-FAILED"), passed.output  # offline, revocation may be unknown
    assert "receipt verified" in passed.output
    failed = cli.invoke(app, [*base, str(bad)])
    assert failed.exit_code == 1, failed.output
    assert failed.output.startswith("TOTAL-FAILED\n  receipt does not verify: the receipt is malformed")
