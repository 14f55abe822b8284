"""The time-stamp authority with `openssl ts` as the client: queries it makes, replies it verifies, rejections.

A root CA and a TSA certificate are made in the test's token with `cryptography`'s builder; the responses are
read back with asn1crypto where openssl does not show a field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, tsp
from asn1crypto import x509 as x509_asn1
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import TokenKey
from ca.tsa import IMPRINT_HASHES, TimeStampAuthority, imprint, respond
from core.clock import ManualClock
from core.keystore import KeyKind, Keystore
from tests.ca.support import new_key, openssl
from tests.conftest import T0

POLICY = "1.3.6.1.4.1.99999.3161.1"
DATA = "水南村村民委员会 seal request 42\n".encode()


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    key: TokenKey
    certificate: x509.Certificate
    root: x509.Certificate
    root_pem: Path
    tsa_pem: Path


def make_hierarchy(keystore: Keystore, directory: Path, kind: KeyKind) -> Hierarchy:
    """A root and a TSA certificate under it, from the CA's own profiles, valid at T0 and now (openssl checks
    the chain now)."""
    start = min(T0, dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
    root_key, tsa_key = new_key(keystore), new_key(keystore, kind)
    root = profiles.root(root_key, "测试", start, 3650)
    urls = Urls.under("http://127.0.0.1:8000")
    certificate = profiles.tsa(tsa_key, "测试", Issuer(root_key, root), urls, start, 365, policy=POLICY)
    directory.mkdir(parents=True, exist_ok=True)
    root_pem, tsa_pem = directory / "root.pem", directory / "tsa.pem"
    root_pem.write_bytes(root.public_bytes(Encoding.PEM))
    tsa_pem.write_bytes(certificate.public_bytes(Encoding.PEM))
    return Hierarchy(tsa_key, certificate, root, root_pem, tsa_pem)


@pytest.fixture(scope="module")
def pki(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    return make_hierarchy(keystore, tmp_path_factory.mktemp("tsa-pki"), KeyKind.EC_P256)


def authority(pki: Hierarchy, clock: ManualClock) -> TimeStampAuthority:
    return TimeStampAuthority(key=pki.key, certificate=pki.certificate, chain=(pki.root,), policy=POLICY, clock=clock)


@pytest.fixture
def tsa(pki: Hierarchy, clock: ManualClock) -> TimeStampAuthority:
    return authority(pki, clock)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "document.txt"
    path.write_bytes(DATA)
    return path


def query(tmp_path: Path, data: Path, *options: str) -> bytes:
    out = tmp_path / f"query-{uuid.uuid4().hex[:6]}.tsq"
    openssl("ts", "-query", "-data", data, *options, "-out", out)
    return out.read_bytes()


def reply(tmp_path: Path, der: bytes) -> Path:
    path = tmp_path / f"reply-{uuid.uuid4().hex[:6]}.tsr"
    path.write_bytes(der)
    return path


def verify(pki: Hierarchy, data: Path, response: Path) -> subprocess.CompletedProcess[str]:
    return openssl(
        "ts", "-verify", "-data", data, "-in", response, "-CAfile", pki.root_pem, "-untrusted", pki.tsa_pem, check=False
    )


def granted(der: bytes) -> tuple[Any, Any]:
    """The SignedData and the TSTInfo of a granted response."""
    response = tsp.TimeStampResp.load(der)
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    return signed_data, signed_data["encap_content_info"]["content"].parsed


def rejected(der: bytes) -> tuple[set[str], list[str]]:
    """The failure bits and the status strings of a rejection, which carries no token."""
    response = core.Sequence.load(der)
    assert len(response) == 1  # the status alone: asn1crypto's TimeStampResp wrongly requires a token
    status = tsp.PKIStatusInfo.load(response[0].dump())
    assert status["status"].native == "rejection"
    return set(status["fail_info"].native), list(status["status_string"].native)


def nonce_line(text: str) -> str:
    found = re.search(r"^Nonce: (.+)$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_openssl_verifies_the_time_stamp(
    tsa: TimeStampAuthority, pki: Hierarchy, data: Path, tmp_path: Path, hash_name: str
) -> None:
    request = query(tmp_path, data, f"-{hash_name}", "-cert")
    response = reply(tmp_path, respond(tsa, request))

    verified = verify(pki, data, response)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification: OK" in verified.stdout

    text = openssl("ts", "-reply", "-in", response, "-text").stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {POLICY}" in text
    assert f"Hash Algorithm: {hash_name}" in text
    asked = openssl("ts", "-query", "-in", reply(tmp_path, request), "-text").stdout
    assert nonce_line(text) == nonce_line(asked)
    assert "Accuracy: 0x01 seconds, unspecified millis, unspecified micros" in text

    der = response.read_bytes()
    assert tsp.TimeStampResp.load(der, strict=True).dump(force=True) == der  # DER: re-encoding changes nothing
    signed_data, info = granted(der)
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    assert info["message_imprint"]["hashed_message"].native == hashlib.new(hash_name, DATA).digest()
    subjects = {c.chosen.subject.native["common_name"] for c in signed_data["certificates"]}
    assert subjects == {"测试 Time-Stamp Authority", "测试 Root CA"}
    assert info["tsa"].chosen.native["common_name"] == "测试 Time-Stamp Authority"
    signer = signed_data["signer_infos"][0]
    assert signer["sid"].name == "issuer_and_serial_number"
    assert signer["sid"].chosen["serial_number"].native == pki.certificate.serial_number
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert set(attributes) == {"content_type", "message_digest", "signing_certificate_v2"}
    ess = attributes["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(pki.certificate.public_bytes(Encoding.DER)).digest()
    assert ess["issuer_serial"]["serial_number"].native == pki.certificate.serial_number


def test_a_p384_authority_signs_with_ecdsa_sha384(
    keystore: Keystore, clock: ManualClock, data: Path, tmp_path: Path
) -> None:
    pki = make_hierarchy(keystore, tmp_path / "p384", KeyKind.EC_P384)
    response = reply(tmp_path, respond(authority(pki, clock), query(tmp_path, data, "-sha256", "-cert")))
    verified = verify(pki, data, response)
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    signed_data, _ = granted(response.read_bytes())
    signer = signed_data["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].native == "sha384_ecdsa"
    assert signer["digest_algorithm"]["algorithm"].native == "sha384"
    assert signed_data["digest_algorithms"].native == [{"algorithm": "sha384", "parameters": None}]


def test_a_time_stamp_for_other_data_does_not_verify(
    tsa: TimeStampAuthority, pki: Hierarchy, data: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.txt"
    other.write_bytes(DATA + b"!")
    response = reply(tmp_path, respond(tsa, query(tmp_path, other, "-sha256", "-cert")))
    assert "Verification: OK" in verify(pki, other, response).stdout

    verified = verify(pki, data, response)
    assert verified.returncode != 0
    assert "Verification: OK" not in verified.stdout
    assert "message imprint mismatch" in verified.stdout + verified.stderr


def test_a_sha1_imprint_is_rejected_as_bad_alg(tsa: TimeStampAuthority, data: Path, tmp_path: Path) -> None:
    response = respond(tsa, query(tmp_path, data, "-sha1", "-cert"))
    failures, reasons = rejected(response)
    assert failures == {"bad_alg"}
    assert "sha1" in reasons[0]
    text = openssl("ts", "-reply", "-in", reply(tmp_path, response), "-text").stdout
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm identifier" in text


def test_an_imprint_of_the_wrong_length_is_rejected_as_bad_alg(tsa: TimeStampAuthority) -> None:
    request = tsp.TimeStampReq(
        {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"x" * 20}}
    )
    failures, reasons = rejected(respond(tsa, request.dump()))
    assert failures == {"bad_alg"}
    assert "20" in reasons[0]


def test_another_policy_is_rejected_and_ours_is_accepted(
    tsa: TimeStampAuthority, pki: Hierarchy, data: Path, tmp_path: Path
) -> None:
    failures, reasons = rejected(respond(tsa, query(tmp_path, data, "-sha256", "-tspolicy", "1.2.3.4")))
    assert failures == {"unaccepted_policy"}
    assert "1.2.3.4" in reasons[0]

    response = reply(tmp_path, respond(tsa, query(tmp_path, data, "-sha256", "-cert", "-tspolicy", POLICY)))
    assert "Verification: OK" in verify(pki, data, response).stdout


def test_request_extensions_are_rejected(tsa: TimeStampAuthority) -> None:
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(32)},
            "extensions": [{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}],
        }
    )
    failures, reasons = rejected(respond(tsa, request.dump()))
    assert failures == {"unaccepted_extensions"}
    assert "1.2.3.4.5" in reasons[0]


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a time-stamp query", b"\x30\x03\x02\x01\x01", b"\x30\x80\x00\x00", bytes(range(256))],
    ids=["empty", "text", "short-sequence", "indefinite", "bytes"],
)
def test_undecodable_requests_are_rejected_as_bad_data_format(tsa: TimeStampAuthority, garbage: bytes) -> None:
    failures, reasons = rejected(respond(tsa, garbage))
    assert failures == {"bad_data_format"}
    assert reasons[0]


def test_trailing_bytes_are_bad_data_format(tsa: TimeStampAuthority, data: Path, tmp_path: Path) -> None:
    failures, _ = rejected(respond(tsa, query(tmp_path, data, "-sha256") + b"\x00"))
    assert failures == {"bad_data_format"}


def test_without_cert_req_the_token_carries_no_certificates(
    tsa: TimeStampAuthority, pki: Hierarchy, data: Path, tmp_path: Path
) -> None:
    request = query(tmp_path, data, "-sha256", "-no_nonce")
    assert tsp.TimeStampReq.load(request)["cert_req"].native is False
    response = reply(tmp_path, respond(tsa, request))
    signed_data, info = granted(response.read_bytes())
    assert signed_data["certificates"].native is None
    assert info["nonce"].native is None
    assert "Nonce: unspecified" in openssl("ts", "-reply", "-in", response, "-text").stdout
    # the certificate given to openssl is enough to find the signer
    assert "Verification: OK" in verify(pki, data, response).stdout


def test_gen_time_is_the_clock_time_and_serials_differ(
    tsa: TimeStampAuthority, clock: ManualClock, data: Path, tmp_path: Path
) -> None:
    request = query(tmp_path, data, "-sha256")
    _, first = granted(respond(tsa, request))
    assert first["gen_time"].native == T0
    assert first["gen_time"].contents == b"20261102090000Z"

    clock.advance(dt.timedelta(seconds=1, milliseconds=250))
    _, second = granted(respond(tsa, request))
    assert second["gen_time"].native == T0 + dt.timedelta(seconds=1, milliseconds=250)
    assert second["gen_time"].contents == b"20261102090001.25Z"
    assert first["serial_number"].native != second["serial_number"].native
    assert 0 < first["serial_number"].native < 2**127


def test_accuracy_follows_accuracy_ms(pki: Hierarchy, clock: ManualClock, data: Path, tmp_path: Path) -> None:
    request = query(tmp_path, data, "-sha256")
    tsa = TimeStampAuthority(key=pki.key, certificate=pki.certificate, chain=(), policy=POLICY, clock=clock)
    for accuracy_ms, expected in [(1500, {"seconds": 1, "millis": 500, "micros": None}), (0, None)]:
        stamped = dataclasses.replace(tsa, accuracy_ms=accuracy_ms)
        _, info = granted(respond(stamped, request))
        assert info["accuracy"].native == expected


def test_a_certificate_for_another_key_is_refused(keystore: Keystore, pki: Hierarchy, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="not for key"):
        TimeStampAuthority(key=new_key(keystore), certificate=pki.certificate, chain=(), policy=POLICY, clock=clock)


@pytest.mark.parametrize("nonce", [-(2**70), -1, 0, 127, 128, 2**64])
def test_the_nonce_comes_back_as_asked_whatever_its_sign(tsa: TimeStampAuthority, nonce: int) -> None:
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()}
    request = tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "nonce": nonce, "cert_req": True})
    _, info = granted(respond(tsa, request.dump()))
    assert info["nonce"].native == nonce
    assert info["message_imprint"].dump() == request["message_imprint"].dump()
    assert info["tsa"].name == "directory_name"
    subject = x509_asn1.Certificate.load(tsa.certificate.public_bytes(Encoding.DER)).subject
    assert info["tsa"].chosen.native == subject.native


@pytest.mark.parametrize("hash_name", sorted(IMPRINT_HASHES))
def test_the_services_own_imprints_are_what_asn1crypto_encodes(hash_name: str) -> None:
    digest = hashlib.new(hash_name, b"sealed").digest()
    expected = tsp.MessageImprint({"hash_algorithm": {"algorithm": hash_name}, "hashed_message": digest})
    assert imprint(hash_name, digest) == expected.dump()
