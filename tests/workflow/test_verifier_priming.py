"""The verifier is primed only with a document the service rendered from a template and sealed, the newest one,
at most once an hour."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import pytest
from cryptography import x509

from core.clock import ManualClock
from signer import isolation
from signer.revocation import NO_SOURCES, Sources
from tests.workflow.conftest import Village
from tests.workflow.test_logcheck import village_request
from workflow import verifier_priming
from workflow.models import SealRequest
from workflow.verifier_priming import MAX_BYTES, Priming


def sealed_request(village: Village, clock: ManualClock, source: str, sealed: bytes) -> None:
    """A request whose document came from ``source`` ("template" or "upload"), sealed as ``sealed``."""
    number = village_request(village, clock)
    runtime = village.runtime
    with runtime.sessions() as s:
        request = s.get_one(SealRequest, number)
        request.document_source, request.sealed_sha256 = source, runtime.blobs.put(sealed).sha256
        s.commit()


@pytest.fixture
def primed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The samples handed to the fork server."""
    seen: list[bytes] = []

    def prime(sample: bytes, *, trust: Sequence[x509.Certificate] = (), revocation: Sources = NO_SOURCES) -> None:
        seen.append(sample)

    monkeypatch.setattr(isolation, "prime", prime)
    return seen


def test_only_the_newest_document_rendered_here_primes_the_verifier(
    village: Village, clock: ManualClock, primed: list[bytes]
) -> None:
    priming = Priming()
    runtime = village.runtime
    assert not priming.refresh(runtime, [], Sources())  # nothing sealed yet
    sealed_request(village, clock, "upload", b"%PDF-1.7 uploaded, then sealed")
    assert not priming.refresh(runtime, [], Sources())  # an upload never primes: the server would parse it unguarded
    sealed_request(village, clock, "template", b"%PDF-1.7 rendered, then sealed")
    sealed_request(village, clock, "template", b"%PDF-1.7 rendered later, then sealed")
    sealed_request(village, clock, "upload", b"%PDF-1.7 uploaded last")
    assert priming.refresh(runtime, [], Sources())
    assert primed == [b"%PDF-1.7 rendered later, then sealed"]
    clock.advance(verifier_priming.EVERY - dt.timedelta(seconds=1))
    assert not priming.refresh(runtime, [], Sources())
    clock.advance(dt.timedelta(seconds=1))
    assert priming.refresh(runtime, [], Sources())  # an hour on: the newest sample carries the newest revocation data
    assert len(primed) == 2


def test_a_sample_too_large_is_not_used(village: Village, clock: ManualClock, primed: list[bytes]) -> None:
    sealed_request(village, clock, "template", b"%PDF-1.7 " + bytes(MAX_BYTES))
    assert not Priming().refresh(village.runtime, [], Sources())
    assert primed == []


def test_a_sample_that_cannot_be_read_leaves_the_verification_unprimed_and_is_tried_an_hour_later(
    village: Village, clock: ManualClock, primed: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    sealed_request(village, clock, "template", b"%PDF-1.7 rendered, then sealed")
    runtime = village.runtime
    path = runtime.blobs.path(hashlib.sha256(b"%PDF-1.7 rendered, then sealed").hexdigest())
    path.unlink()  # a blob store that has lost it
    priming = Priming()
    assert not priming.refresh(runtime, [], NO_SOURCES)
    assert "its sample could not be read" in caplog.text
    assert not priming.refresh(runtime, [], NO_SOURCES)  # not again at every verification
    runtime.blobs.put(b"%PDF-1.7 rendered, then sealed")
    clock.advance(verifier_priming.EVERY)
    assert priming.refresh(runtime, [], NO_SOURCES)
    assert primed == [b"%PDF-1.7 rendered, then sealed"]
