"""The service's verification knows what its CA revoked: a seal made with a stolen key after its certificate
was revoked fails, and a seal made before a revocation for key compromise is indeterminate, through
``POST /api/v1/verify`` with nothing but the uploaded file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ca import seals
from ca.models import Seal
from core.clock import ManualClock
from core.runtime import Runtime
from signer.pades import Options
from tests.signer.pki import blank_pdf
from tests.signer.test_sealing import make_bench, seal_once

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def clock() -> ManualClock:
    """Three hours ago, so that what happens next has happened by the time the service verifies it."""
    return ManualClock(dt.datetime.now(dt.UTC) - 3 * HOUR)


def verified(client: TestClient, data: bytes) -> dict[str, Any]:
    answer = client.post("/api/v1/verify", content=data, headers={"Content-Type": "application/pdf"})
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def test_a_stolen_key_used_after_revocation_fails_and_earlier_seals_are_indeterminate(
    runtime: Runtime, client: TestClient, clock: ManualClock, tmp_path: Path
) -> None:
    bench = make_bench(runtime, tmp_path, "B-LTA")
    before = runtime.blobs.get(seal_once(bench).sealed_sha256)
    assert verified(client, before)["indication"] == "TOTAL-PASSED"

    clock.advance(HOUR)
    with runtime.sessions() as session:
        seal = session.get(Seal, bench.seal.id)
        assert seal is not None
        certificate = seals.current_certificate(session, seal.id)
        assert certificate is not None
        sealer = bench.office.sealer(seal, certificate)
        authority = bench.office.authority
        seals.revoke(session, authority, runtime.settings, certificate, "keyCompromise", clock.now(), "test")
        session.commit()

    clock.advance(HOUR)  # the thief seals with the key in the token, past every check the service makes
    with (tmp_path / "stolen.pdf").open("wb") as out:
        sealer.seal(blank_pdf(tmp_path / "in.pdf"), out, Options(timestamp=True), clock.now())

    stolen = verified(client, (tmp_path / "stolen.pdf").read_bytes())
    assert (stolen["indication"], stolen["sub_indication"]) == ("TOTAL-FAILED", "REVOKED")
    assert "before the seal was made" in stolen["signatures"][0]["problems"][0]

    earlier = verified(client, before)
    assert (earlier["indication"], earlier["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE")
    assert "key_compromise" in earlier["signatures"][0]["problems"][0]
