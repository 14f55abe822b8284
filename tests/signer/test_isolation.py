"""The warm fork server children fork from: one child per verification, killed past its time, and the server
started again when it has gone."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from core.keystore import Keystore
from signer import isolation
from signer.isolation import verify
from signer.validation import PASSED, NotSigned, UnreadablePdf, validate
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_manipulations import sealed_file
from tests.signer.test_pades import NOW, pki  # noqa: F401  (the module's PKI fixture)
from tests.signer.test_validation_corpus import CORPUS


def test_a_child_reports_as_validation_does(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    data = sealed_file(pki, keystore, tmp_path)
    isolated = verify(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    direct = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert isolated.to_json() == direct.to_json()
    assert isolated.signatures
    # The report is plain data: what the child sends back is the verdict, never a parser's objects with it.
    assert all(type(s.field) is str for s in direct.signatures)
    assert len(pickle.dumps(direct)) < 20_000


def test_a_fork_server_that_has_gone_is_started_again(tmp_path: Path) -> None:
    unsigned = blank_pdf(tmp_path / "in.pdf").read_bytes()
    with pytest.raises(NotSigned):
        verify(unsigned)
    gone = isolation._WARM._process
    assert gone is not None
    gone.kill()
    gone.wait()
    with pytest.raises(NotSigned):
        verify(unsigned)
    started = isolation._WARM._process
    assert started is not None
    assert started.pid != gone.pid
    assert started.poll() is None


def _live_children(pid: int) -> list[int]:
    """The processes under ``pid`` that still run (a killed child waits, a zombie, until it is reaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def test_a_verification_past_its_time_is_an_error_and_its_child_is_killed(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    slow = (CORPUS / "dss" / "pades-signed-filled-form.pdf").read_bytes()  # over a second to verify
    with pytest.raises(UnreadablePdf, match=r"within 0\.001 seconds"):
        verify(slow, trust_embedded=True, timeout=0.001)
    server = isolation._WARM._process
    assert server is not None
    deadline = time.monotonic() + 0.5  # before the child would end by itself, or at its own timer (1.001 s)
    while _live_children(server.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _live_children(server.pid) == []
    data = sealed_file(pki, keystore, tmp_path)
    again = verify(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert again.indication == PASSED  # and the next verification is whole
