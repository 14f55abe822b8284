"""The warm fork server children fork from: one child per verification, forked ahead as a spare once the server
is warm, killed past its time, and the server started again when it has gone."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from core.keystore import Keystore
from signer import extensions, isolation
from signer.isolation import verify
from signer.revocation import NO_SOURCES
from signer.validation import PASSED, NotSigned, Report, UnreadablePdf, validate
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
    gone = _killed_and_started_again(unsigned)
    started = isolation._WARM._process
    assert started is not None
    assert started.pid != gone
    assert started.poll() is None


def _killed_and_started_again(unsigned: bytes) -> int:
    """The process id of the fork server, which is killed; a verification of ``unsigned`` then starts another."""
    gone = isolation._WARM._process
    assert gone is not None
    gone.kill()
    gone.wait()
    with pytest.raises(NotSigned):
        verify(unsigned)
    return gone.pid


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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed = _spy(monkeypatch, "kill")
    slow = (CORPUS / "dss" / "pades-signed-filled-form.pdf").read_bytes()  # over a second to verify
    with pytest.raises(UnreadablePdf, match=r"within 0\.001 seconds"):
        verify(slow, trust_embedded=True, timeout=0.001)
    process = isolation._WARM._process
    assert process is not None
    assert len(killed) == 1
    deadline = time.monotonic() + 0.5  # before the child would end by itself, or at its own timer (1.001 s)
    while killed[0] in _live_children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert killed[0] not in _live_children(process.pid)
    assert len(_live_children(process.pid)) <= 1  # at most the spare, waiting for work
    data = sealed_file(pki, keystore, tmp_path)
    again = verify(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert again.indication == PASSED  # and the next verification is whole


def test_once_warm_each_verification_runs_in_a_spare_forked_before_it_and_used_once(tmp_path: Path) -> None:
    unsigned, server, used = _started(tmp_path)
    assert Path(f"/proc/{server}/comm").read_text().strip() == isolation.SERVER.decode()
    for _ in range(3):
        spare = _spare(server, used)
        assert Path(f"/proc/{spare}/comm").read_text().strip() == isolation.SPARE.decode()  # as ps shows it
        served = _served(unsigned)
        assert served == spare
        used.add(served)
        deadline = time.monotonic() + 2
        while served in _live_children(server) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served not in _live_children(server)


def test_a_spare_holds_the_pages_a_verification_writes_before_it_is_asked(tmp_path: Path) -> None:
    _, server, used = _started(tmp_path)
    spare = _spare(server, used)
    deadline = time.monotonic() + 5
    while (held := _private_kb(spare)) < 4096 and time.monotonic() < deadline:  # it copies them as it starts
        time.sleep(0.05)
    assert held >= 4096  # one that has not prefaulted holds about 1.4 MB: its stack, its sockets, its libraries' data


def _private_kb(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    return sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:", "Private_Dirty:")))


def test_a_spare_that_has_gone_is_replaced_by_a_child_forked_at_once(tmp_path: Path) -> None:
    unsigned, server, used = _started(tmp_path)
    spare = _spare(server, used)
    os.kill(spare, signal.SIGKILL)
    served = _served(unsigned)
    assert served != spare
    assert _spare(server, used | {served}) != spare  # and a new spare is forked after it


def _started(tmp_path: Path) -> tuple[bytes, int, set[int]]:
    """An unsigned file, the process id of the fork server one verification of it started, and the child that
    verified it."""
    unsigned = blank_pdf(tmp_path / "in.pdf").read_bytes()
    used = {_served(unsigned)}
    server = isolation._WARM._process
    assert server is not None
    return unsigned, server.pid, used


def _spy(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """The process ids the service names to the fork server's ``kill``, or gets from its ``child``."""
    seen: list[int] = []
    real = getattr(isolation._WARM, method)

    def spied(*args: Any) -> Any:
        result = real(*args)
        seen.append(args[0] if method == "kill" else result[0])
        return result

    monkeypatch.setattr(isolation._WARM, method, spied)
    return seen


def _served(unsigned: bytes) -> int:
    """The process id of the child that verified ``unsigned`` (and found it so)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        seen = _spy(monkeypatch, "child")
        with pytest.raises(NotSigned):
            verify(unsigned)
    assert len(seen) == 1
    return seen[0]


def _spare(server: int, used: set[int]) -> int:
    """The one child of a warm fork server that waits for work, among children not used yet (the warm-up takes
    a few seconds). It must stay the only one for half a second: the probe the fork server forks once, as it
    warms up, to find the pages a verification writes, is a child too, for a few tens of milliseconds."""
    deadline = time.monotonic() + isolation.STARTUP
    seen, since = 0, time.monotonic()
    while time.monotonic() < deadline:
        waiting = set(_live_children(server)) - used
        found = waiting.pop() if len(waiting) == 1 else 0
        if found != seen:
            seen, since = found, time.monotonic()
        elif seen and time.monotonic() - since >= 0.5:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no spare child under the fork server: {_live_children(server)}")


def test_a_primed_fork_server_forks_a_new_spare_judges_as_before_and_is_primed_again_when_restarted(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolation._WARM, "_primer", None)  # and back to none after the test
    sent: list[isolation.Primer] = []
    real = isolation._send_primer

    def send(control: Any, primer: isolation.Primer) -> None:
        sent.append(primer)
        real(control, primer)

    monkeypatch.setattr(isolation, "_send_primer", send)
    data = sealed_file(pki, keystore, tmp_path)
    unsigned, server, used = _started(tmp_path)
    before = _spare(server, used)
    isolation.prime(data, trust=[pki.root], revocation=pki.revocation())
    assert len(sent) == 1
    assert sent[0][2].online is False  # the fork server never fetches anything for its sample
    after = _spare(server, used | {before})  # forked once the server has verified the sample
    assert before not in _live_children(server)  # the spare forked before is not used: it exits
    for trust, revocation in (([pki.root], pki.revocation()), ([], NO_SOURCES)):
        isolated = verify(data, trust=trust, moment=NOW, revocation=revocation)
        assert isolated.to_json() == validate(data, trust=trust, moment=NOW, revocation=revocation).to_json()
    assert _served(unsigned) not in (before, after)  # the spare above verified the sealed file
    _killed_and_started_again(unsigned)
    assert sent == [sent[0], sent[0]]


def test_the_warm_up_verifies_the_primer_and_leaves_the_probe_its_verification(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = sealed_file(pki, keystore, tmp_path)
    anchors = [pki.root.public_bytes(Encoding.DER)]
    extensions._parsed.clear()
    control, _ = socket.socketpair()  # the children close the fork server's control socket: here, a stand-in
    warm = isolation._primed(control, (data, anchors, pki.revocation()))
    assert warm is not None
    direct = validate(data, trust=[pki.root], revocation=pki.revocation())
    report = warm()
    assert isinstance(report, Report)
    assert report.to_json() == direct.to_json()
    known = {c.public_bytes(Encoding.DER) for c in (pki.seal, pki.issuing)}
    assert known <= extensions._parsed.keys()  # what every child then starts knowing
    # A primer that cannot be verified gives nothing to repeat, and says why: the server's own sample serves.
    assert isolation._primed(control, (b"%PDF-1.7 not a document", anchors, NO_SOURCES)) is None
    own = isolation._warm_up()
    assert own is not None
    sample = own()
    assert isinstance(sample, Report)
    assert [s.field for s in sample.signatures] == ["First", "Second"]
    assert "could not verify the document it was primed with" in caplog.text
    # The server runs a primer only once a child has, within a verification's limits.
    assert isolation._survived(control, lambda: None)
    assert not isolation._survived(control, lambda: bytearray(2 * isolation.MEMORY))
