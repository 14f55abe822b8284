"""The CA as bureaus meet it: a real `sealgate serve`, checked with the openssl command-line tool.

One service for the module: demo data, `sealgate ca init`, then a seal certificate issued and revoked through
the four-eyes API, with openssl verify, ocsp and ts as the independent clients.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text

from tests.ca.support import openssl
from tests.cli.support import run, serving

pytestmark = pytest.mark.slow


@dataclass
class Service:
    base: str
    home: Path
    admins: tuple[dict[str, str], dict[str, str]]

    def post(self, path: str, who: int, body: Mapping[str, object] | None = None) -> httpx.Response:
        return httpx.post(self.base + path, json=body or {}, headers=self.admins[who], timeout=30)

    def get(self, path: str, who: int = 0) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.admins[who], timeout=30)

    def log_types(self, subject: str) -> list[str]:
        engine = create_engine(f"sqlite:///{self.home / 'var' / 'sealgate.db'}")
        try:
            with engine.connect() as conn:
                bodies = conn.execute(
                    text("SELECT body FROM ledger_entries UNION ALL SELECT body FROM ledger_pending")
                ).scalars()
                entries = [json.loads(b) for b in bodies]
        finally:
            engine.dispose()
        return [e["type"] for e in sorted(entries, key=lambda e: e["time"]) if e["subject"] == subject]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("ca-service")
    for command in (("db", "upgrade"), ("demo",)):
        assert run(home, *command).returncode == 0
    made = run(home, "ca", "init")
    assert made.returncode == 0, made.stderr
    assert [line.split()[0] for line in made.stdout.splitlines()] == ["root", "issuing", "ocsp", "tsa", "authorisation"]
    again = run(home, "ca", "init")
    assert again.returncode != 0
    assert "--force" in again.stderr
    kept = run(home, "ca", "init", "--if-missing")
    assert kept.returncode == 0, kept.stderr
    assert "initialised already" in kept.stdout
    with serving(home, home / "serve.log") as base:
        admins = []
        for n in (1, 2):
            form = {"username": f"yz.certadmin{n}", "password": f"demo-yz-certadmin{n}"}
            token = httpx.post(base + "/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
            admins.append({"Authorization": f"Bearer {token}"})
        yield Service(base, home, (admins[0], admins[1]))


@pytest.fixture(scope="module")
def chain(service: Service) -> tuple[Path, Path]:
    """root.pem and issuing.pem, from GET /ca/chain."""
    pem = httpx.get(service.base + "/ca/chain", timeout=30).content
    issuing, root = x509.load_pem_x509_certificates(pem)
    paths = service.home / "root.pem", service.home / "issuing.pem"
    paths[0].write_bytes(root.public_bytes(Encoding.PEM))
    paths[1].write_bytes(issuing.public_bytes(Encoding.PEM))
    return paths


def ocsp_status(service: Service, chain: tuple[Path, Path], cert: Path) -> str:
    result = openssl("ocsp", "-issuer", chain[1], "-cert", cert, "-url", service.base + "/ca/ocsp", "-CAfile", chain[0])
    assert "Response verify OK" in result.stderr + result.stdout
    assert "nonce" not in (result.stderr + result.stdout).lower()  # openssl warns when the nonce is not echoed
    return result.stdout


def test_seal_certificate_through_four_eyes_verify_ocsp_crl(service: Service, chain: tuple[Path, Path]) -> None:
    body = {"organisation": "yazhou.shuinan", "kind": "village_official", "form": "electronic", "name": "水南村"}
    seal = service.post("/api/v1/seals", 0, body)
    assert seal.status_code == 201, seal.text
    seal_id = seal.json()["id"]

    asked = service.post("/api/v1/certificates/operations", 0, {"seal": seal_id, "kind": "issue"})
    assert asked.status_code == 202, asked.text
    op = asked.json()
    assert op["state"] == "pending"
    assert service.get(f"/api/v1/seals/{seal_id}").json()["certificate"] is None
    own = service.post(f"/api/v1/certificates/operations/{op['id']}/approve", 0)
    assert own.status_code == 403
    assert service.get(f"/api/v1/seals/{seal_id}").json()["certificate"] is None
    approved = service.post(f"/api/v1/certificates/operations/{op['id']}/approve", 1)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "executed"

    certificate = service.get(f"/api/v1/seals/{seal_id}").json()["certificate"]
    cert = service.home / "seal.pem"
    cert.write_text(certificate["pem"])
    root, issuing = chain
    assert openssl("verify", "-CAfile", root, "-untrusted", issuing, cert).stdout.strip() == f"{cert}: OK"
    assert f"{cert}: good" in ocsp_status(service, chain, cert)

    asked = service.post(
        "/api/v1/certificates/operations", 1, {"seal": seal_id, "kind": "revoke", "reason": "keyCompromise"}
    )
    assert asked.status_code == 202, asked.text
    assert service.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", 1).status_code == 403
    assert service.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", 0).status_code == 200

    crl = x509.load_der_x509_crl(httpx.get(service.base + "/ca/crl", timeout=30).content)
    crl_pem = service.home / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(Encoding.PEM))
    checked = openssl(
        "verify", "-crl_check", "-CAfile", root, "-untrusted", issuing, "-CRLfile", crl_pem, cert, check=False
    )
    assert checked.returncode != 0
    assert "certificate revoked" in checked.stdout + checked.stderr
    status = ocsp_status(service, chain, cert)
    assert f"{cert}: revoked" in status
    assert "Reason: keyCompromise" in status

    assert service.log_types(f"seal:{seal_id}") == [
        "ca.seal.added",
        "ca.operation.requested",
        "ca.operation.approved",
        "ca.operation.requested",
        "ca.operation.approved",
    ]


def test_the_issuing_ca_points_at_the_roots_arl(service: Service, chain: tuple[Path, Path]) -> None:
    """What a verifier holding only the root does: follow the issuing CA's pointers to the root's certificate and
    its CA revocation list, and check the issuing CA against that list."""
    root, issuing = chain
    extensions = x509.load_pem_x509_certificate(issuing.read_bytes()).extensions
    (point,) = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (access,) = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert point.full_name is not None
    arl_url, root_url = point.full_name[0].value, access.access_location.value
    assert (urllib.parse.urlsplit(arl_url).path, urllib.parse.urlsplit(root_url).path) == ("/ca/arl", "/ca/root")

    served_root = httpx.get(service.base + "/ca/root", timeout=30)
    assert served_root.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(served_root.content) == x509.load_pem_x509_certificate(root.read_bytes())
    answer = httpx.get(service.base + "/ca/arl", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    assert answer.headers["cache-control"] == "no-cache"
    arl = x509.load_der_x509_crl(answer.content)
    assert arl.issuer == x509.load_pem_x509_certificate(root.read_bytes()).subject
    arl_pem = service.home / "arl.pem"
    arl_pem.write_bytes(arl.public_bytes(Encoding.PEM))
    assert "verify OK" in openssl("crl", "-in", arl_pem, "-CAfile", root, "-noout").stderr
    checked = openssl("verify", "-crl_check", "-CAfile", root, "-CRLfile", arl_pem, issuing)
    assert checked.stdout.strip() == f"{issuing}: OK"
    unchecked = openssl("verify", "-crl_check", "-CAfile", root, issuing, check=False)
    assert "unable to get certificate CRL" in unchecked.stdout + unchecked.stderr


def test_ocsp_unknown_serial_and_get_form(service: Service, chain: tuple[Path, Path]) -> None:
    status = openssl(
        "ocsp", "-issuer", chain[1], "-serial", "0x1234", "-url", service.base + "/ca/ocsp", "-CAfile", chain[0]
    ).stdout
    assert "0x1234: unknown" in status
    query = service.home / "unknown.ocsp"
    openssl("ocsp", "-issuer", chain[1], "-serial", "0x1234", "-no_nonce", "-reqout", query)
    encoded = urllib.parse.quote(base64.b64encode(query.read_bytes()).decode(), safe="")
    answer = httpx.get(f"{service.base}/ca/ocsp/{encoded}", timeout=30)  # RFC 6960 A.1.1
    assert answer.headers["content-type"] == "application/ocsp-response"
    reply = service.home / "unknown.ocsp-reply"
    reply.write_bytes(answer.content)
    shown = openssl("ocsp", "-respin", reply, "-issuer", chain[1], "-serial", "0x1234", "-CAfile", chain[0])
    assert "0x1234: unknown" in shown.stdout


def test_timestamp_verifies_with_openssl(service: Service, chain: tuple[Path, Path]) -> None:
    data = service.home / "document.pdf"
    data.write_bytes(b"%PDF-1.7 a document to time-stamp")
    query = service.home / "query.tsq"
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    answer = httpx.post(
        service.base + "/ca/tsa",
        content=query.read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    reply = service.home / "reply.tsr"
    reply.write_bytes(answer.content)
    verified = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", chain[0], "-untrusted", chain[1])
    assert "Verification: OK" in verified.stdout


def test_wrong_media_type_is_refused(service: Service) -> None:
    answer = httpx.post(service.base + "/ca/ocsp", content=b"x", headers={"Content-Type": "text/plain"}, timeout=30)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_suspend_and_resume_a_seal(service: Service) -> None:
    """Suspending and resuming are operations: one certificate administrator asks, the other approves."""
    body = {"organisation": "yazhou.beiling", "kind": "village_official", "form": "physical", "name": "北岭村"}
    seal_id = service.post("/api/v1/seals", 1, body).json()["id"]
    asked = service.post(f"/api/v1/seals/{seal_id}/suspend", 0)
    assert asked.status_code == 202, asked.text
    assert service.get(f"/api/v1/seals/{seal_id}").json()["status"] == "active"
    assert service.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", 0).status_code == 403
    approved = service.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", 1)
    assert approved.status_code == 200, approved.text
    assert service.get(f"/api/v1/seals/{seal_id}").json()["status"] == "suspended"
    assert service.post(f"/api/v1/seals/{seal_id}/suspend", 1).status_code == 409
    resume = service.post(f"/api/v1/seals/{seal_id}/resume", 1).json()
    assert service.post(f"/api/v1/certificates/operations/{resume['id']}/approve", 0).status_code == 200
    assert service.get(f"/api/v1/seals/{seal_id}").json()["status"] == "active"
    refused = service.post("/api/v1/certificates/operations", 0, {"seal": seal_id, "kind": "issue"})
    assert refused.status_code == 422
    assert "physical" in refused.json()["detail"]
    assert service.log_types(f"seal:{seal_id}") == [
        "ca.seal.added",
        "ca.operation.requested",
        "ca.operation.approved",
        "ca.seal.suspended",
        "ca.operation.requested",
        "ca.operation.approved",
        "ca.seal.resumed",
    ]
