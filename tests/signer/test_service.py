"""Electronic seals end to end, as people meet them: a real `sealgate serve` with the demo data seals the winter
vegetable subsidy after three approvals, delivers it to the bureau, and the sealed PDF passes poppler's pdfsig
(trusting the service's root and asking its OCSP responder), pyHanko's long-term validation offline, OpenSSL's
timestamp check, and the service's own verification with the approval chain from the log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader

from bench.ports import free_port
from core.clock import SystemClock
from ledger.note import parse_vkey
from ledger.receipt import parse_receipt, verify_receipt
from sealgate.cli import demo
from tests.cli.support import run, serving
from tests.signer.pki import timestamp_verifies, validate_offline
from tests.workflow.bureau import Receiver, running
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY

pytestmark = pytest.mark.slow

PASSWORDS = {p["username"]: p["password"] for p in demo.dataset()["users"]}
SECRET, KEY_ID = "agriculture-bureau-secret-0123456789", "agri-2026"


@dataclass
class Service:
    base: str
    home: Path
    bureau: Receiver

    def login(self, username: str) -> dict[str, str]:
        form = {"username": username, "password": PASSWORDS[username]}
        token = httpx.post(self.base + "/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def post(self, path: str, who: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.base + path, json=body or {}, headers=self.login(who), timeout=60)

    def get(self, path: str, who: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.login(who), timeout=60)

    def until(self, path: str, who: str, done: Any, seconds: float = 60) -> httpx.Response:
        deadline = time.monotonic() + seconds
        while True:
            answer = self.get(path, who)
            if done(answer) or time.monotonic() > deadline:
                return answer
            time.sleep(0.3)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("signer-service")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {"SEALGATE_PUBLIC_URL": base, "SEALGATE_PORT": str(port)}
    (home / "secret").write_text(SECRET)
    with running(Receiver(SystemClock(), {KEY_ID: SECRET.encode()})) as bureau:
        for command in (
            ("db", "upgrade"),
            ("demo",),
            ("ca", "init"),
            (
                "outbox",
                "endpoint",
                "agriculture",
                "--url",
                bureau.url + "/in",
                "--key-id",
                KEY_ID,
                "--secret-file",
                str(home / "secret"),
            ),
        ):
            done = run(home, *command, **settings)
            assert done.returncode == 0, done.stderr
        with serving(home, home / "serve.log", **settings):
            service = Service(base, home, bureau)
            seal = service.post(
                "/api/v1/seals",
                "yz.certadmin1",
                {"organisation": "yazhou.shuinan", "kind": "village_official", "form": "both", "name": "水南村公章"},
            )
            assert seal.status_code == 201, seal.text
            asked = service.post(
                "/api/v1/certificates/operations", "yz.certadmin1", {"seal": seal.json()["id"], "kind": "issue"}
            )
            approved = service.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", "yz.certadmin2")
            assert approved.status_code == 200, approved.text
            yield service


@dataclass(frozen=True)
class Sealed:
    request: dict[str, Any]
    pdf: Path
    receipt: str


@pytest.fixture(scope="module")
def sealed(service: Service) -> Sealed:
    submitted = service.post(
        "/api/v1/requests",
        "sn.resident",
        WINTER_VEGETABLE_SUBSIDY,
    )
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]
    for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
        decided = service.post(f"/api/v1/requests/{rid}/decisions", who, {"decision": "approve", "level": level})
        assert decided.status_code == 200, decided.text
    done = service.until(
        f"/api/v1/requests/{rid}", "sn.resident", lambda r: r.json()["state"] in ("completed", "failed")
    )
    assert done.json()["state"] == "completed", done.json()
    pdf = service.home / "sealed.pdf"
    pdf.write_bytes(service.get(f"/api/v1/requests/{rid}/document", "sn.resident").content)
    receipt = service.until(f"/api/v1/requests/{rid}/receipt", "sn.resident", lambda r: r.status_code == 200)
    assert receipt.status_code == 200, receipt.text
    return Sealed(done.json(), pdf, receipt.text)


def root_certificate(service: Service) -> x509.Certificate:
    return x509.load_pem_x509_certificates(httpx.get(service.base + "/ca/chain", timeout=30).content)[-1]


def test_pdfsig_trusts_the_seal_and_sees_the_whole_document(service: Service, sealed: Sealed) -> None:
    nss = service.home / "nss"
    nss.mkdir()
    (service.home / "root.pem").write_bytes(root_certificate(service).public_bytes(Encoding.PEM))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", str(service.home / "root.pem")],
        check=True,
    )
    report = subprocess.run(
        ["pdfsig", "-nssdir", str(nss), str(sealed.pdf)], capture_output=True, text=True, check=True
    ).stdout
    first = report.split("Signature #2")[0]  # the seal; #2 is the document timestamp of B-LTA
    assert "Signature Validation: Signature is Valid." in first
    assert "Certificate Validation: Certificate is Trusted." in first
    assert "Signer Certificate Common Name: 水南村公章" in first


def test_long_term_validation_works_offline(service: Service, sealed: Sealed) -> None:
    seal, document_timestamp = validate_offline(sealed.pdf, root_certificate(service))
    assert seal.intact
    assert seal.valid
    assert seal.trusted
    assert seal.timestamp_validity is not None
    assert seal.timestamp_validity.trusted
    assert document_timestamp.intact
    assert document_timestamp.trusted


def test_openssl_accepts_the_signature_timestamp(service: Service, sealed: Sealed) -> None:
    with sealed.pdf.open("rb") as f:
        signer = PdfFileReader(f).embedded_signatures[0].signer_info
    chain = httpx.get(service.base + "/ca/chain", timeout=30).content
    root_pem = service.home / "ts-root.pem"
    root_pem.write_bytes(root_certificate(service).public_bytes(Encoding.PEM))
    assert "Verification: OK" in timestamp_verifies(signer, service.home, root_pem, chain)


def test_the_receipt_proves_the_seal_was_logged(service: Service, sealed: Sealed) -> None:
    vkey = parse_vkey(httpx.get(service.base + "/api/v1/log/key", timeout=30).json()["vkey"])
    receipt = parse_receipt(sealed.receipt)
    assert receipt.extra is not None
    verified = verify_receipt(receipt, receipt.extra, origin=None, log_verifiers=[vkey])
    assert verified.entry_checked
    entry = json.loads(receipt.extra)
    assert entry["type"] == "seal.applied"
    assert entry["subject"] == f"request:{sealed.request['id']}"
    assert entry["data"]["number"] == sealed.request["number"]
    with sealed.pdf.open("rb") as f:
        signed_data = PdfFileReader(f).embedded_signatures[0].signed_data
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    assert entry["data"]["signature_sha256"] == hashlib.sha256(content_info.dump()).hexdigest()


def test_the_bureau_received_the_sealed_document(service: Service, sealed: Sealed) -> None:
    deadline = time.monotonic() + 30
    while not service.bureau.seen and time.monotonic() < deadline:
        time.sleep(0.2)
    (seen,) = [s for s in service.bureau.seen if s.status == 200]
    assert seen.key_id == KEY_ID
    assert seen.error is None
    payload = json.loads(seen.body)
    assert payload["request"] == sealed.request["number"]
    assert payload["result"]["level"] == "B-LTA"
    assert payload["result"]["receipt"].endswith("/receipt")
    assert dt.datetime.fromisoformat(payload["completed_at"])


def test_the_service_verifies_the_seal_with_its_approval_chain(service: Service, sealed: Sealed) -> None:
    answer = httpx.post(
        service.base + "/api/v1/verify", content=sealed.pdf.read_bytes(), headers={"Content-Type": "application/pdf"}
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["indication"] == "TOTAL-PASSED", report
    seal, document_timestamp = report["signatures"]
    assert (seal["kind"], seal["pades_level"], seal["coverage"]) == ("signature", "B-LTA", "entire_revision")
    assert seal["modifications"] == []
    assert document_timestamp["kind"] == "document_timestamp"
    log = seal["log"]
    assert log["included"]
    assert log["entry"]["type"] == "seal.applied"
    steps = [(step["type"], step["level"]) for step in log["chain"]]
    assert steps[:7] == [
        ("request.submitted", None),
        ("request.decided", 1),
        ("request.decided", 2),
        ("request.decided", 3),
        ("request.executing", None),
        ("seal.applied", None),
        ("request.completed", None),
    ]
    assert steps[7:] in ([], [("request.delivered", None)])  # delivery to the bureau may have happened by now


def test_one_changed_byte_fails_verification(service: Service, sealed: Sealed) -> None:
    data = bytearray(sealed.pdf.read_bytes())
    at = data.index(b"/MediaBox")
    data[at + 1] = ord("m")  # a signed byte of the original document
    report = httpx.post(
        service.base + "/api/v1/verify", content=bytes(data), headers={"Content-Type": "application/pdf"}
    ).json()
    assert report["indication"] == "TOTAL-FAILED"
    assert report["signatures"][0]["intact"] is False


def test_the_sealed_file_is_compared_with_the_one_the_log_records(service: Service, sealed: Sealed) -> None:
    """The seal alone, its revocation data and document timestamp cut off: the signature still verifies, but this
    is not the file the log records, nor that file grown by later revisions."""
    data = sealed.pdf.read_bytes()
    with sealed.pdf.open("rb") as f:
        seal = PdfFileReader(f).embedded_signatures[0]
        cut = seal.byte_range[2] + seal.byte_range[3]
    whole, stripped = (
        httpx.post(service.base + "/api/v1/verify", content=c, headers={"Content-Type": "application/pdf"}).json()
        for c in (data, data[:cut])
    )
    assert whole["indication"] == "TOTAL-PASSED", whole
    assert whole["signatures"][0]["log"]["same_file"] is True
    assert stripped["signatures"][0]["indication"] == "TOTAL-PASSED", stripped
    assert stripped["signatures"][0]["log"]["same_file"] is False
    assert stripped["indication"] == "INDETERMINATE"
    assert any("not the sealed file the log records" in p for p in stripped["problems"])


def test_sealgate_verify_offline_and_by_the_service(service: Service, sealed: Sealed) -> None:
    home = service.home
    (home / "sealed.tlog-proof").write_text(sealed.receipt)
    (home / "trust.pem").write_bytes(root_certificate(service).public_bytes(Encoding.PEM))
    vkey = httpx.get(service.base + "/api/v1/log/key", timeout=30).json()["vkey"]
    offline = run(
        home,
        "verify",
        str(sealed.pdf),
        "--trust",
        str(home / "trust.pem"),
        "--receipt",
        str(home / "sealed.tlog-proof"),
        "--log-key",
        vkey,
        "--json",
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    report = json.loads(offline.stdout)
    assert report["signatures"][0]["receipt"]["verified"] is True
    online = run(home, "verify", str(sealed.pdf), "--url", service.base)
    assert online.returncode == 0, online.stdout + online.stderr
    assert "seal.applied" in online.stdout
    untrusted = run(home, "verify", str(sealed.pdf))
    assert untrusted.returncode == 2  # no trust anchor given: INDETERMINATE
    (home / "garbage.pdf").write_bytes(b"%PDF-1.7 not really")
    assert run(home, "verify", str(home / "garbage.pdf")).returncode == 3
    refused = httpx.post(
        service.base + "/api/v1/verify", content=b"%PDF-1.7 not really", headers={"Content-Type": "application/pdf"}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("unverifiable-pdf")


def test_the_verify_page_speaks_chinese_and_english(service: Service, sealed: Sealed) -> None:
    files = {"file": ("sealed.pdf", sealed.pdf.read_bytes(), "application/pdf")}
    chinese = httpx.post(service.base + "/verify", files=files, timeout=60)
    assert chinese.status_code == 200
    assert "验证通过" in chinese.text
    assert "加盖电子印章" in chinese.text
    english = httpx.post(service.base + "/verify?lang=en", files=files, timeout=60)
    assert "TOTAL-PASSED" in english.text
    record = httpx.get(service.base + sealed.request["record"], timeout=30)
    assert record.status_code == 200
    assert "已盖章" in record.text
    assert "符阿妹" not in record.text
    by_number = httpx.get(service.base + f"/verify?request={sealed.request['number']}", timeout=30)
    assert by_number.status_code == 404
    assert "水南村" not in by_number.text


def test_a_suspended_seal_fails_the_request_with_the_reason(service: Service, sealed: Sealed) -> None:
    seal_id = sealed_seal_id(service, sealed)
    suspend = service.post(f"/api/v1/seals/{seal_id}/suspend", "yz.certadmin1").json()
    assert service.post(f"/api/v1/certificates/operations/{suspend['id']}/approve", "yz.certadmin2").status_code == 200
    try:
        rid = service.post("/api/v1/requests", "sn.resident", WINTER_VEGETABLE_SUBSIDY).json()["id"]
        for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
            decided = service.post(f"/api/v1/requests/{rid}/decisions", who, {"decision": "approve", "level": level})
            assert decided.status_code == 200
        done = service.until(
            f"/api/v1/requests/{rid}", "sn.resident", lambda r: r.json()["state"] in ("completed", "failed")
        ).json()
        assert done["state"] == "failed"
        assert "suspended" in done["failure"]
    finally:
        resume = service.post(f"/api/v1/seals/{seal_id}/resume", "yz.certadmin1").json()
        approved = service.post(f"/api/v1/certificates/operations/{resume['id']}/approve", "yz.certadmin2")
        assert approved.status_code == 200


def sealed_seal_id(service: Service, sealed: Sealed) -> int:
    entry = json.loads(parse_receipt(sealed.receipt).extra or b"{}")
    return int(entry["data"]["seal"])
