"""A bureau that trusts only our root checks a sealed file with pyHanko's own command, offline.

The file is sealed by the office the service builds, with the service's defaults (B-LTA, a visible seal with its
QR code), at the present time, since the command validates now. Every pointer in the certificates leads to a port
held bound but never listening, so a fetch fails at once: a pass means the file alone told the verifier that no
certificate of any path, the issuing CA's included, was revoked.

The command is ``pyhanko sign adesverify``: in pyhanko-cli 0.6 ``pyhanko sign validate`` validates at the present
with revocation data fetched from the certificates' pointers and never reads the document security store (its
long-term mode was deprecated for ``adesverify`` and removed), so offline it can pass no file. ``adesverify`` is
its AdES long-term validation: revocation data is required for every certificate but the trust anchor, as
``validate --force-revinfo`` requires it, and is taken from the file.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from api.deps import CertificateAuthority
from ca.models import Seal
from core.clock import ManualClock
from core.runtime import Runtime
from signer.sealing import Request
from signer.validation import validate
from tests.signer.test_manipulations import CHANGES, appended
from tests.signer.test_sealing import make_bench

PYHANKO = Path(sys.executable).with_name("pyhanko")
YEAR = dt.timedelta(days=365)  # past every OCSP response and CRL in the file, within the certificates' lives


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime.now(dt.UTC))


@pytest.fixture
def nobody_listens() -> Iterator[str]:
    """A base URL on a port this test holds bound and never listens on: connections to it are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def pyhanko(directory: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The pyhanko command, in a directory without a pyhanko.yml and with no proxy to reach anything through."""
    assert PYHANKO.exists(), "the pyhanko command comes with the dev extra (pyhanko-cli)"
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    command = [str(PYHANKO), *map(str, args)]
    return subprocess.run(command, cwd=directory, env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("certify", [False, True], ids=["sealed", "certified"])
def test_a_default_seal_verifies_offline_with_the_root_alone(
    runtime: Runtime, tmp_path: Path, nobody_listens: str, certify: bool, clock: ManualClock
) -> None:
    runtime.settings.public_url = runtime.settings.ca.base_url = nobody_listens
    bench = make_bench(runtime, tmp_path, runtime.settings.signer.level)
    office = CertificateAuthority().office(runtime)
    assert office.level == "B-LTA"
    order = Request(
        document_sha256=bench.document,
        subject="request:1",
        actor="system",
        qr_url=f"{nobody_listens}/r/1",
        anchor=runtime.settings.signer.anchor,
        certify=certify,
        reason="冬季瓜菜种植补贴",
        location="水南村",
    )
    with runtime.sessions() as session:
        seal = session.get(Seal, bench.seal.id)
        assert seal is not None
        done = office.seal(session, seal, order, runtime.clock.now())
        session.commit()
    (tmp_path / "sealed.pdf").write_bytes(runtime.blobs.get(done.sealed_sha256))
    (tmp_path / "root.pem").write_bytes(office.authority.root.public_bytes(Encoding.PEM))

    checked = pyhanko(tmp_path, "sign", "adesverify", "--trust", "root.pem", "--trust-replace", "sealed.pdf")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    (line,) = checked.stdout.splitlines()
    assert ":INTACT:TRUSTED," in line
    assert "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in line
    assert "EXTENDED_WITH_LTA_UPDATES" in line

    ours = subprocess.run(
        [sys.executable, "-m", "sealgate", "verify", "--trust", "root.pem", "sealed.pdf"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert ours.stdout.startswith("TOTAL-PASSED")
    later = validate((tmp_path / "sealed.pdf").read_bytes(), trust=[office.authority.root], moment=clock.now() + YEAR)
    assert later.indication == "TOTAL-PASSED", later.to_json()
    changed = appended(tmp_path / "sealed.pdf", CHANGES["link"], eof=True)  # validated at its proven time too
    tampered = validate(changed, trust=[office.authority.root], moment=clock.now() + YEAR)
    assert tampered.indication == "TOTAL-FAILED", tampered.to_json()
    assert tampered.signatures[0].modifications
