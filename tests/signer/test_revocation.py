"""Revoked seals, judged as EN 319 102-1 does: a seal made after its certificate was revoked (a stolen key) fails,
one that cannot be shown to predate a revocation is indeterminate, and so is one whose key was reported
compromised after it was made; a later revocation for another reason leaves a timestamped seal standing."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509

from ca.profiles import Issuer, Urls
from core.clock import ManualClock
from core.keystore import Keystore
from signer.pades import Options
from signer.revocation import Sources
from signer.validation import FAILED, INDETERMINATE, PASSED, validate
from tests.ca.support import new_key
from tests.signer.pki import Pki, blank_pdf, empty_crl, make_pki
from tests.signer.test_pades import NOW

HOUR = dt.timedelta(hours=1)


def sealed(pki: Pki, keystore: Keystore, tmp_path: Path, *, at: dt.datetime, timestamp: bool) -> bytes:
    """A seal made with the key in the token at ``at``, as anyone holding the key could make one."""
    assert isinstance(pki.tsa.clock, ManualClock)
    pki.tsa.clock.advance(at - pki.tsa.clock.now())
    with (tmp_path / "out.pdf").open("wb") as out:
        pki.sealer(keystore, timestamps=timestamp).seal(
            blank_pdf(tmp_path / "in.pdf"), out, Options(timestamp=timestamp), at
        )
    return (tmp_path / "out.pdf").read_bytes()


def revoked_list(pki: Pki, keystore: Keystore, at: dt.datetime, reason: x509.ReasonFlags) -> bytes:
    """The issuing CA's CRL naming the seal's certificate revoked at ``at``."""
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(pki.seal.serial_number)
        .revocation_date(at)
        .add_extension(x509.CRLReason(reason), critical=False)
        .build()
    )
    assert pki.issuing_ca is not None
    return empty_crl(pki.issuing_ca, at, entry)


@pytest.fixture
def pki(keystore: Keystore, tmp_path: Path) -> Pki:
    """A hierarchy of its own, started the day before the seals, whose TSA clock the tests move."""
    return make_pki(keystore, tmp_path, NOW - dt.timedelta(days=1))


def judged(pki: Pki, data: bytes, crl: bytes, moment: dt.datetime) -> tuple[str, str | None, list[str]]:
    arl = pki.crls[1]
    report = validate(data, trust=[pki.root], moment=moment, revocation=Sources(crls=(crl, arl)))
    (signature,) = report.signatures
    return report.indication, report.sub_indication, signature.problems


def test_a_seal_made_after_revocation_fails(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    """Revoked, then the key is used anyway (a stolen key): the timestamp proves the seal came after."""
    crl = revoked_list(pki, keystore, NOW - HOUR, x509.ReasonFlags.key_compromise)
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=True)
    indication, sub, problems = judged(pki, data, crl, NOW + HOUR)
    assert (indication, sub) == (FAILED, "REVOKED")
    assert "before the seal was made" in problems[0]


def test_a_claimed_time_after_revocation_fails_too(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    crl = revoked_list(pki, keystore, NOW - HOUR, x509.ReasonFlags.superseded)
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=False)
    assert judged(pki, data, crl, NOW + HOUR)[:2] == (FAILED, "REVOKED")


def test_without_proof_of_existence_a_later_revocation_is_indeterminate(
    pki: Pki, keystore: Keystore, tmp_path: Path
) -> None:
    """The claimed time comes before the revocation, but a thief could claim any time."""
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=False)
    crl = revoked_list(pki, keystore, NOW + HOUR, x509.ReasonFlags.superseded)
    indication, sub, problems = judged(pki, data, crl, NOW + 2 * HOUR)
    assert (indication, sub) == (INDETERMINATE, "REVOKED_NO_POE")
    assert "no signature timestamp" in problems[0]


def test_key_compromise_after_a_timestamped_seal_is_indeterminate(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=True)
    crl = revoked_list(pki, keystore, NOW + HOUR, x509.ReasonFlags.key_compromise)
    indication, sub, problems = judged(pki, data, crl, NOW + 2 * HOUR)
    assert (indication, sub) == (INDETERMINATE, "REVOKED_NO_POE")
    assert "other hands" in problems[0]


def test_a_later_revocation_for_another_reason_leaves_a_timestamped_seal_standing(
    pki: Pki, keystore: Keystore, tmp_path: Path
) -> None:
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=True)
    crl = revoked_list(pki, keystore, NOW + HOUR, x509.ReasonFlags.cessation_of_operation)
    indication, _, problems = judged(pki, data, crl, NOW + 2 * HOUR)
    assert indication == PASSED, problems


class _Lists(http.server.BaseHTTPRequestHandler):
    """The CA's distribution points: its CRL and the root's ARL, and no OCSP responder."""

    lists: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.lists.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/pkix-crl")
        self.end_headers()
        self.wfile.write(body or b"")

    def do_POST(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_online_verification_fetches_the_lists_the_certificates_point_at(keystore: Keystore, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lists)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    pki = make_pki(keystore, tmp_path, start, urls=Urls.under(base))
    _Lists.lists = {"/ca/crl": pki.crls[0], "/ca/arl": pki.crls[1]}
    data = sealed(pki, keystore, tmp_path, at=start + HOUR, timestamp=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        offline = validate(data, trust=[pki.root])
        online = validate(data, trust=[pki.root], revocation=Sources(online=True))
    finally:
        server.shutdown()
    assert (offline.indication, offline.sub_indication) == (INDETERMINATE, "TRY_LATER")
    assert online.indication == PASSED, online.to_json()


def test_a_forged_list_proves_nothing(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    """A CRL in the issuing CA's name, signed with another key, that revokes nothing: a thief's "all clear"."""
    assert pki.issuing_ca is not None
    forger = Issuer(new_key(keystore), pki.issuing_ca.certificate)
    data = sealed(pki, keystore, tmp_path, at=NOW, timestamp=True)
    crl = revoked_list(pki, keystore, NOW - HOUR, x509.ReasonFlags.key_compromise)
    indication, sub, _ = judged(pki, data, empty_crl(forger, NOW), NOW + HOUR)
    assert (indication, sub) == (INDETERMINATE, "TRY_LATER")
    lists = Sources(crls=(empty_crl(forger, NOW), crl, pki.crls[1]))  # the forged one beside the real ones
    both = validate(data, trust=[pki.root], moment=NOW + HOUR, revocation=lists)
    assert (both.indication, both.sub_indication) == (FAILED, "REVOKED")
