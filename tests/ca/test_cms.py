"""The CMS builder the seals and the TSA share, read back with asn1crypto and checked with `cryptography`: a
detached id-data signature and a time-stamp token carrying its content come out as RFC 5652 has them, in DER."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca.cms import SignerTemplate
from tests.conftest import T0

HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}
SHA256_OID = bytes(algos.DigestAlgorithmId("sha256").dump())
ROOT_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + dt.timedelta(days=1))
        .sign(ROOT_KEY, hashes.SHA256())
    )


ROOT = certificate("Root", ROOT_KEY)


def signed(template: SignerTemplate, key: ec.EllipticCurvePrivateKey, data: bytes, **options: Any) -> Any:
    """The SignedData the template makes over ``data``, once its DER and its signature are checked."""
    attributes = template.signed_attributes(hashlib.new(template.hash_name, data).digest())
    signature = key.sign(attributes, ec.ECDSA(HASHES[template.hash_name]))
    der = template.content_info(attributes, signature, **options)
    info = cms.ContentInfo.load(der, strict=True)
    assert info.dump(force=True) == der  # DER: re-encoding changes nothing
    assert info["content_type"].native == "signed_data"
    signer = info["content"]["signer_infos"][0]
    signed_attributes = cms.CMSAttributes.load(b"\x31" + signer["signed_attrs"].dump()[1:])
    assert signed_attributes.dump() == attributes  # what the SignerInfo carries is what was signed
    key.public_key().verify(signer["signature"].native, attributes, ec.ECDSA(HASHES[template.hash_name]))
    values = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    assert values["message_digest"] == hashlib.new(template.hash_name, data).digest()
    return info["content"]


def test_a_seal_signature_is_detached_id_data_with_the_chain() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    seal = certificate("Seal", key)
    signed_data = signed(SignerTemplate(seal, (ROOT,)), key, b"the document's byte ranges", timestamp_token=None)

    assert signed_data["version"].native == "v1"
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert signed_data["encap_content_info"]["content"].native is None
    assert signed_data["digest_algorithms"].native == [{"algorithm": "sha384", "parameters": None}]
    assert {c.chosen.dump() for c in signed_data["certificates"]} == {
        c.public_bytes(Encoding.DER) for c in (seal, ROOT)
    }
    signer = signed_data["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].native == "sha384_ecdsa"
    assert signer["sid"].chosen["serial_number"].native == seal.serial_number
    ess = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_certificate_v2")["values"][0]
    assert ess["certs"][0]["hash_algorithm"]["algorithm"].native == "sha384"
    assert ess["certs"][0]["cert_hash"].native == hashlib.sha384(seal.public_bytes(Encoding.DER)).digest()


def test_a_timestamp_token_travels_as_an_unsigned_attribute() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = bytes(cms.ContentInfo({"content_type": "data", "content": b"a token"}).dump())
    signed_data = signed(SignerTemplate(certificate("Seal", key), (ROOT,)), key, b"x", timestamp_token=token)

    (attribute,) = signed_data["signer_infos"][0]["unsigned_attrs"]
    assert attribute["type"].native == "signature_time_stamp_token"
    assert attribute["values"][0].dump() == token


def test_a_time_stamp_token_carries_its_content_and_the_certificates_only_when_asked() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    template = SignerTemplate(certificate("TSA", key), (ROOT,), content_type="tst_info", ess_hash="sha256")
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(32)}
    info = {"version": "v1", "policy": "1.2.3", "message_imprint": imprint, "serial_number": 1, "gen_time": T0}
    content = bytes(tsp.TSTInfo(info).dump())

    with_certificates = signed(template, key, content, content=content)
    assert with_certificates["version"].native == "v3"  # eContentType other than id-data (RFC 5652 §5.1)
    assert with_certificates["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    assert with_certificates["encap_content_info"]["content"].contents == content
    assert len(with_certificates["certificates"]) == 2
    signer = with_certificates["signer_infos"][0]
    types = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert types["content_type"].native == "tst_info"
    ess = types["signing_certificate_v2"]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].native == "sha256"
    assert SHA256_OID not in ess.dump()  # the default, left out
    assert ess["cert_hash"].native == hashlib.sha256(template.certificate.public_bytes(Encoding.DER)).digest()

    without = signed(template, key, content, content=content, certificates=False)
    assert without["certificates"].native is None
