"""Certificate profiles, read back with `cryptography`'s parser and asn1crypto for the QCStatements."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import core, parser
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import KeyStaysInToken
from core.errors import ConfigError
from core.keystore import KeyKind, Keystore
from core.settings import load_settings
from identity.uscc import InvalidUSCC
from tests.ca.support import new_key, openssl
from tests.conftest import T0

URLS = Urls.under("https://seal.example.gov.cn")
USCC = "54460205C50121019D"
POLICY = "1.3.6.1.4.1.99999.5280.1"


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
def root(keystore: Keystore) -> Issuer:
    root_key = new_key(keystore)
    return Issuer(root_key, profiles.root(root_key, "测试", T0, 3650))


@pytest.fixture(scope="module")
def issuing(keystore: Keystore, root: Issuer) -> Issuer:
    issuing_key = new_key(keystore)
    return Issuer(issuing_key, profiles.issuing(issuing_key, "测试", root, URLS, T0, 365, policy=POLICY))


def test_seal_certificate_says_eseal_and_organisation_identifier(keystore: Keystore, issuing: Issuer) -> None:
    cert = profiles.seal(
        new_key(keystore), "水南村村民委员会", USCC, "水南村村民委员会公章", issuing, URLS, T0, 730, policy=POLICY
    )
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
        profiles.seal(
            new_key(keystore), "北岭村", "91350203M0001QAY9B", "北岭村公章", issuing, URLS, T0, 730, policy=POLICY
        )


def test_service_profiles(keystore: Keystore, issuing: Issuer) -> None:
    ocsp = profiles.ocsp_responder(new_key(keystore), "测试", issuing, URLS, T0, 365, policy=POLICY)
    assert ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING]
    )
    assert isinstance(ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck).value, x509.OCSPNoCheck)
    tsa = profiles.tsa(new_key(keystore), "测试", issuing, URLS, T0, 365, policy=POLICY)
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


def pointers(certificate: x509.Certificate) -> tuple[list[str], list[str], dict[x509.ObjectIdentifier, list[str]]]:
    """The certificate policies, the CRL distribution points, and the AIA locations by access method."""
    extensions = certificate.extensions
    policies = extensions.get_extension_for_class(x509.CertificatePolicies)
    points = extensions.get_extension_for_class(x509.CRLDistributionPoints)
    access = extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert [policies.critical, points.critical, access.critical] == [False, False, False]
    locations: dict[x509.ObjectIdentifier, list[str]] = {}
    for description in access.value:
        locations.setdefault(description.access_method, []).append(description.access_location.value)
    return (
        [p.policy_identifier.dotted_string for p in policies.value],
        [name.value for point in points.value for name in point.full_name or ()],
        locations,
    )


def test_every_certificate_below_the_root_names_the_policy_and_where_to_check_it(
    keystore: Keystore, root: Issuer, issuing: Issuer, tmp_path: Path
) -> None:
    ocsp_at, issuer_at = AuthorityInformationAccessOID.OCSP, AuthorityInformationAccessOID.CA_ISSUERS
    from_issuing_ca = {ocsp_at: [URLS.ocsp], issuer_at: [URLS.ca_issuers]}
    made = {
        "issuing": (issuing.certificate, URLS.arl, {issuer_at: [URLS.root]}),
        "ocsp": (
            profiles.ocsp_responder(new_key(keystore), "测试", issuing, URLS, T0, 365, policy=POLICY),
            URLS.crl,
            {issuer_at: [URLS.ca_issuers]},
        ),
        "tsa": (
            profiles.tsa(new_key(keystore), "测试", issuing, URLS, T0, 365, policy=POLICY),
            URLS.crl,
            from_issuing_ca,
        ),
        "authorisation": (
            profiles.authorisation_signer(new_key(keystore), "测试", issuing, URLS, T0, 365, policy=POLICY),
            URLS.crl,
            from_issuing_ca,
        ),
        "seal": (
            profiles.seal(new_key(keystore), "水南村", USCC, "水南村公章", issuing, URLS, T0, 730, policy=POLICY),
            URLS.crl,
            from_issuing_ca,
        ),
        "device": (
            profiles.device(new_key(keystore), "测试", "M-0001", issuing, URLS, T0, 365, policy=POLICY),
            URLS.crl,
            from_issuing_ca,
        ),
    }
    for role, (certificate, crl, access) in made.items():
        assert pointers(certificate) == ([POLICY], [crl], access), role
        pem = tmp_path / f"{role}.pem"
        pem.write_bytes(certificate.public_bytes(Encoding.PEM))
        shown = openssl("x509", "-in", pem, "-noout", "-ext", "certificatePolicies,crlDistributionPoints").stdout
        assert f"Policy: {POLICY}" in shown, role
        assert f"URI:{crl}" in shown, role
    ocsp = made["ocsp"][0]
    assert isinstance(ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck).value, x509.OCSPNoCheck)
    for missing in (x509.CertificatePolicies, x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            root.certificate.extensions.get_extension_for_class(missing)


def test_the_policy_setting_must_be_an_object_identifier() -> None:
    assert load_settings(ca={"policy_oid": POLICY}).ca.policy_oid == POLICY
    for bad, why in (("private", "should match pattern"), ("1.40.7", "second arc is at most 39")):
        with pytest.raises(ConfigError, match=why) as refused:
            load_settings(ca={"policy_oid": bad})
        assert refused.value.setting == "SEALGATE_CA__POLICY_OID"
