"""Certificate profiles, read back with `cryptography`'s parser and asn1crypto for the QCStatements."""

from __future__ import annotations

import pytest
from asn1crypto import core, parser
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import KeyStaysInToken
from identity.uscc import InvalidUSCC
from sealgate.keystore import KeyKind, Keystore
from tests.ca.support import new_key
from tests.conftest import T0

URLS = Urls.under("https://seal.example.gov.cn")
USCC = "54460205C50121019D"


def object_identifiers(der: bytes) -> list[str]:
    """Every OID in a DER value, depth first: the QCStatements' shape without a schema of our own."""
    found = []
    while der:
        class_, method, tag, header, contents, trailer = parser.parse(der, strict=False)
        if method == 1:
            found += object_identifiers(contents)
        elif class_ == 0 and tag == 6:
            found.append(core.ObjectIdentifier.load(header + contents).dotted)
        der = der[len(header) + len(contents) + len(trailer) :]
    return found


@pytest.fixture(scope="module")
def issuing(keystore: Keystore) -> Issuer:
    root_key = new_key(keystore)
    root = Issuer(root_key, profiles.root(root_key, "测试", T0, 3650))
    issuing_key = new_key(keystore)
    return Issuer(issuing_key, profiles.issuing(issuing_key, "测试", root, T0, 365))


def test_seal_certificate_says_eseal_and_organisation_identifier(keystore: Keystore, issuing: Issuer) -> None:
    cert = profiles.seal(new_key(keystore), "水南村村民委员会", USCC, "水南村村民委员会公章", issuing, URLS, T0, 730)
    parsed = x509.load_der_x509_certificate(cert.public_bytes(Encoding.DER))
    subject = parsed.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == f"NTRCN-{USCC}"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "水南村村民委员会"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "水南村村民委员会公章"
    usage = parsed.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.content_commitment
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign

    qc = parsed.extensions.get_extension_for_oid(profiles.QC_STATEMENTS).value
    assert isinstance(qc, x509.UnrecognizedExtension)
    assert object_identifiers(qc.value) == [profiles.QC_TYPE, "0.4.0.1862.1.6.2"]  # QcType: eSeal

    aia = parsed.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert {d.access_location.value for d in aia} == {URLS.ocsp, URLS.ca_issuers}
    points = parsed.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == [URLS.crl]
    parsed.verify_directly_issued_by(issuing.certificate)


def test_a_bad_unified_social_credit_code_is_refused(keystore: Keystore, issuing: Issuer) -> None:
    with pytest.raises(InvalidUSCC, match="expected"):
        profiles.seal(new_key(keystore), "北岭村", "91350203M0001QAY9B", "北岭村公章", issuing, URLS, T0, 730)


def test_service_profiles(keystore: Keystore, issuing: Issuer) -> None:
    ocsp = profiles.ocsp_responder(new_key(keystore), "测试", issuing, T0, 365)
    assert ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING]
    )
    assert isinstance(ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck).value, x509.OCSPNoCheck)
    tsa = profiles.tsa(new_key(keystore), "测试", issuing, URLS, T0, 365)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    constraints = issuing.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0


def test_p384_keys_sign_with_sha384(keystore: Keystore) -> None:
    k = new_key(keystore, KeyKind.EC_P384)
    root = profiles.root(k, "测试", T0, 10)
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha384"
    root.verify_directly_issued_by(root)


def test_token_keys_refuse_export(keystore: Keystore) -> None:
    k = new_key(keystore)
    with pytest.raises(KeyStaysInToken):
        k.private_numbers()
