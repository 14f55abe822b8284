"""A test hierarchy in the test token: root, issuing CA, a seal certificate and a TSA; and documents to seal."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore

from ca import profiles
from ca.profiles import Issuer, Urls
from ca.tsa import TimeStampAuthority
from core.clock import ManualClock
from core.keystore import KeyKind, Keystore
from signer.cms import SealTemplate
from signer.ltv import TsaTokens
from signer.pades import Art, Sealer
from signer.revocation import Sources
from tests.ca.support import new_key

URLS = Urls.under("http://127.0.0.1:8000")
POLICY = "1.2.3.4.1"


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    issuing: x509.Certificate
    seal_label: str
    seal: x509.Certificate
    tsa: TimeStampAuthority
    directory: Path
    crls: tuple[bytes, ...] = ()  # the issuing CA's CRL and the root's ARL, revoking nothing
    issuing_ca: Issuer | None = None  # the issuing CA with its key, to revoke with

    @property
    def root_pem(self) -> Path:
        return self.directory / "root.pem"

    def revocation(self, *extra: bytes) -> Sources:
        """The hierarchy's revocation lists (and ``extra`` ones), for a verifier that may not pass without them."""
        return Sources(crls=(*self.crls, *extra))

    def sealer(self, keystore: Keystore, art: Art | None = None, *, timestamps: bool = False) -> Sealer:
        template = SealTemplate(self.seal, (self.issuing, self.root))
        return Sealer(keystore, self.seal_label, template, art, TsaTokens(self.tsa) if timestamps else None)


def make_pki(
    keystore: Keystore, directory: Path, start: dt.datetime, kind: KeyKind = KeyKind.EC_P256, urls: Urls = URLS
) -> Pki:
    root_key = new_key(keystore)
    root = profiles.root(root_key, "测试", start, 3650)
    issuing_key = new_key(keystore)
    issuing = profiles.issuing(issuing_key, "测试", Issuer(root_key, root), urls, start, 1000, policy=POLICY)
    ca = Issuer(issuing_key, issuing)
    if kind is KeyKind.RSA_3072:
        seal_label, seal = rsa_seal(keystore, ca, start)
    else:
        seal_key = new_key(keystore, kind)
        seal_label = seal_key.label
        seal = profiles.seal(
            seal_key, "水南村村民委员会", "91350100M000100Y43", "公章", ca, urls, start, 365, policy=POLICY
        )
    tsa_key = new_key(keystore)
    tsa_certificate = profiles.tsa(tsa_key, "测试", ca, urls, start, 365, policy=POLICY)
    tsa = TimeStampAuthority(
        key=tsa_key, certificate=tsa_certificate, chain=(issuing, root), policy=POLICY, clock=ManualClock(start)
    )
    (directory / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))
    crls = (empty_crl(Issuer(issuing_key, issuing), start), empty_crl(Issuer(root_key, root), start))
    return Pki(root, issuing, seal_label, seal, tsa, directory, crls, ca)


def empty_crl(issuer: Issuer, start: dt.datetime, *revoked: x509.RevokedCertificate) -> bytes:
    """A CRL of ``issuer``, valid from ``start`` for a thousand days, listing ``revoked``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(start)
        .next_update(start + dt.timedelta(days=1000))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer.key, issuer.key.hash).public_bytes(Encoding.DER)


def rsa_seal(keystore: Keystore, ca: Issuer, start: dt.datetime) -> tuple[str, x509.Certificate]:
    """An RSA-3072 seal key (the CA makes EC seal keys; a token may hold others) and its seal certificate."""
    label = f"test:rsa-{uuid.uuid4().hex[:10]}"
    keystore.generate(label, KeyKind.RSA_3072)
    public = keystore.info(label).public_key
    assert isinstance(public, rsa.RSAPublicKey)
    return label, profiles.seal(
        public, "水南村村民委员会", "91350100M000100Y43", "公章", ca, URLS, start, 365, policy=POLICY
    )


def blank_pdf(path: Path, pages: int = 1, *, object_streams: bool = False) -> Path:
    pdf = pikepdf.new()
    for i in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
        content = f"BT /F1 24 Tf 72 720 Td (page {i + 1}) Tj ET".encode()
        page = pdf.pages[-1]
        font = pdf.make_indirect(
            pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
        )
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(content)
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(path, object_stream_mode=mode)
    return path


def nss_database(pki: Pki) -> Path:
    """An NSS database trusting the test root, for poppler's pdfsig."""
    nss = pki.directory / "nss"
    if not nss.exists():
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", str(pki.root_pem)], check=True
        )
    return nss


def pdfsig(pdf: Path, pki: Pki) -> str:
    return subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_database(pki)}", str(pdf)], capture_output=True, text=True, check=True
    ).stdout


def validate_offline(path: Path, root: x509.Certificate, moment: dt.datetime | None = None) -> list[Any]:
    """pyHanko's verdict on every signature and document timestamp, from what the file holds alone: the trust
    root given, revocation data only from the DSS, nothing fetched, and revocation checks that must succeed."""
    anchor = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
    with path.open("rb") as f:
        reader = PdfFileReader(f)
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [anchor], "allow_fetching": False, "revocation_mode": "hard-fail", "moment": moment}
        )
        results: list[Any] = []
        for signature in reader.embedded_signatures:
            if signature.sig_object_type == "/DocTimeStamp":
                results.append(validate_pdf_timestamp(signature, validation_context=context))
            else:
                results.append(validate_pdf_signature(signature, context))
        return results


def timestamp_verifies(signer_info: Any, directory: Path, root_pem: Path, chain_pem: bytes) -> str:
    """``openssl ts -verify`` of a signature's timestamp token against the digest of its signature value."""
    (attribute,) = [a for a in signer_info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    (directory / "token.der").write_bytes(attribute["values"][0].dump())
    (directory / "chain.pem").write_bytes(chain_pem)
    digest = hashlib.sha256(signer_info["signature"].native).hexdigest()
    checked = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(directory / "token.der"),
            "-digest",
            digest,
            "-CAfile",
            str(root_pem),
            "-untrusted",
            str(directory / "chain.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return checked.stdout + checked.stderr
