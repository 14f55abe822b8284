"""Certificate profiles: what each certificate of the hierarchy says, and nothing about where keys or rows live.

A seal certificate follows ETSI EN 319 412-3 (legal person) with the QCStatement QcType eseal of EN 319 412-5:
O is the organisation, organizationIdentifier (2.5.4.97) is ``NTRCN-`` and its unified social credit code, CN is
the seal's name. `cryptography` has no type for QCStatements, so its DER is built with asn1crypto's generic types.

Every certificate below the root names the deployment's certificate policy and points at its issuer's certificate
and revocation list (the root's ARL for the issuing CA), so that a verifier trusting the root alone can check
every link of a path.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ca.signing import TokenKey
from identity.uscc import validate as validate_uscc

QC_STATEMENTS = ObjectIdentifier("1.3.6.1.5.5.7.1.3")
QC_TYPE = "0.4.0.1862.1.6"
QC_TYPE_ESEAL = "0.4.0.1862.1.6.2"
# The extended key usage of the key that signs seal machine authorisations: a machine accepts an authorisation
# signed by a certificate of our issuing CA only if it carries this purpose, so that no other certificate the CA
# issued (a machine's own, say) can authorise stamps. A UUID-derived OID (2.25, ITU-T X.667).
AUTHORISATION_SIGNING = ObjectIdentifier("2.25.299135780521970085834493428029262410823")
BACKDATE = dt.timedelta(minutes=5)  # notBefore a little early, for relying parties whose clocks run behind


class Role(StrEnum):
    ROOT = "root"
    ISSUING = "issuing"
    OCSP = "ocsp"
    TSA = "tsa"
    AUTHORISATION = "authorisation"
    SEAL = "seal"
    DEVICE = "device"


@dataclass(frozen=True)
class Urls:
    """Where relying parties fetch revocation data and issuers' certificates: the issuing CA's CRL, OCSP and
    certificate for what it issues, and the root's CA revocation list (ARL) and certificate for the issuing CA."""

    crl: str
    ocsp: str
    ca_issuers: str
    arl: str
    root: str

    @classmethod
    def under(cls, base: str) -> Urls:
        base = base.rstrip("/")
        return cls(f"{base}/ca/crl", f"{base}/ca/ocsp", f"{base}/ca/issuer", f"{base}/ca/arl", f"{base}/ca/root")


# What a certificate is made for: a key in the token, a certificate's key (a seal machine's), or a public key the
# token holds in a kind the CA does not make itself (an RSA seal key, say).
Holder = TokenKey | x509.Certificate | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Issuer:
    key: TokenKey
    certificate: x509.Certificate


class _QcStatement(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[str, type, dict[str, bool]] | tuple[str, type]]] = [
        ("statement_id", core.ObjectIdentifier),
        ("statement_info", core.Any, {"optional": True}),
    ]


class _QcStatements(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _QcStatement


class _QcTypes(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.ObjectIdentifier


def qc_statements_eseal() -> bytes:
    """QCStatements with one statement: QcType, the type being eSeal."""
    types = _QcTypes([QC_TYPE_ESEAL])
    statements = _QcStatements([{"statement_id": QC_TYPE, "statement_info": core.Any.load(types.dump())}])
    return bytes(statements.dump())


def serial_number() -> int:
    """A positive 159-bit random serial: unpredictable, as CA/B Forum asks, and within RFC 5280's 20 octets."""
    return secrets.randbits(159) | 1 << 158


def organisation_identifier(uscc: str) -> str:
    return f"NTRCN-{validate_uscc(uscc)}"


def ca_name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def seal_name(organisation: str, uscc: str, seal: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organisation_identifier(uscc)),
            x509.NameAttribute(NameOID.COMMON_NAME, seal),
        ]
    )


def _usage(*, sign: bool = False, non_repudiation: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _base(
    subject: x509.Name, public: Holder, issuer: x509.Name, now: dt.datetime, days: int
) -> x509.CertificateBuilder:
    key = public if isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) else public.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )


def root(key: TokenKey, organisation: str, now: dt.datetime, days: int) -> x509.Certificate:
    name = ca_name(organisation, f"{organisation} Root CA")
    builder = (
        _base(name, key, name, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_usage(ca=True), critical=True)
    )
    return builder.sign(key, key.hash)


def _issued(
    builder: x509.CertificateBuilder, issuer: Issuer, policy: str, *, crl: str, ca_issuers: str, ocsp: str | None
) -> x509.Certificate:
    """Signed by ``issuer``, with what every certificate the CA issues carries, so that a verifier holding only
    the root finds the rest: the deployment's certificate policy, where the issuer's certificate is, where its
    revocation list is, and where its OCSP responder is (none for what the root issues)."""
    pointers = ((AuthorityInformationAccessOID.OCSP, ocsp), (AuthorityInformationAccessOID.CA_ISSUERS, ca_issuers))
    access = [x509.AccessDescription(method, _uri(url)) for method, url in pointers if url is not None]
    policies = x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(policy), None)])
    builder = (
        builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        .add_extension(policies, critical=False)
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
        .add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([_uri(crl)], None, None, None)]), critical=False
        )
    )
    return builder.sign(issuer.key, issuer.key.hash)


def _uri(url: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(url)


def _by_issuing_ca(
    builder: x509.CertificateBuilder, issuer: Issuer, urls: Urls, policy: str, *, ocsp: bool = True
) -> x509.Certificate:
    """What the issuing CA issues points at its CRL, its certificate and, but for the responder, its OCSP."""
    return _issued(builder, issuer, policy, crl=urls.crl, ca_issuers=urls.ca_issuers, ocsp=urls.ocsp if ocsp else None)


def issuing(
    key: TokenKey, organisation: str, root_ca: Issuer, urls: Urls, now: dt.datetime, days: int, *, policy: str
) -> x509.Certificate:
    """The CA under the root; its revocation is told by the root's ARL, there being no OCSP for CAs here."""
    builder = (
        _base(ca_name(organisation, f"{organisation} Seal Issuing CA"), key, root_ca.certificate.subject, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
    )
    return _issued(builder, root_ca, policy, crl=urls.arl, ca_issuers=urls.root, ocsp=None)


def _end_entity(
    subject: x509.Name, key: Holder, issuer: Issuer, now: dt.datetime, days: int
) -> x509.CertificateBuilder:
    return _base(subject, key, issuer.certificate.subject, now, days).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )


def ocsp_responder(
    key: TokenKey, organisation: str, issuer: Issuer, urls: Urls, now: dt.datetime, days: int, *, policy: str
) -> x509.Certificate:
    """A delegated responder (RFC 6960 §4.2.2.2): EKU OCSPSigning, and id-pkix-ocsp-nocheck so that clients do
    not ask the responder about itself; a verifier who wants to may still look it up in the CRL."""
    builder = (
        _end_entity(ca_name(organisation, f"{organisation} OCSP Responder"), key, issuer, now, days)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    return _by_issuing_ca(builder, issuer, urls, policy, ocsp=False)


def tsa(
    key: TokenKey, organisation: str, issuer: Issuer, urls: Urls, now: dt.datetime, days: int, *, policy: str
) -> x509.Certificate:
    """RFC 3161 §2.3: the one extended key usage timeStamping, critical."""
    builder = (
        _end_entity(ca_name(organisation, f"{organisation} Time-Stamp Authority"), key, issuer, now, days)
        .add_extension(_usage(sign=True, non_repudiation=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    )
    return _by_issuing_ca(builder, issuer, urls, policy)


def authorisation_signer(
    key: TokenKey, organisation: str, issuer: Issuer, urls: Urls, now: dt.datetime, days: int, *, policy: str
) -> x509.Certificate:
    """The key that signs authorisations for seal machines, marked for that purpose alone."""
    builder = (
        _end_entity(ca_name(organisation, f"{organisation} Seal Machine Authorisations"), key, issuer, now, days)
        .add_extension(_usage(sign=True, non_repudiation=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([AUTHORISATION_SIGNING]), critical=True)
    )
    return _by_issuing_ca(builder, issuer, urls, policy)


def seal(
    key: Holder,
    organisation: str,
    uscc: str,
    seal_name_: str,
    issuer: Issuer,
    urls: Urls,
    now: dt.datetime,
    days: int,
    *,
    policy: str,
) -> x509.Certificate:
    builder = (
        _end_entity(seal_name(organisation, uscc, seal_name_), key, issuer, now, days)
        .add_extension(_usage(sign=True, non_repudiation=True), critical=True)
        .add_extension(x509.UnrecognizedExtension(QC_STATEMENTS, qc_statements_eseal()), critical=False)
    )
    return _by_issuing_ca(builder, issuer, urls, policy)


def device(
    public: Holder,
    organisation: str,
    machine: str,
    issuer: Issuer,
    urls: Urls,
    now: dt.datetime,
    days: int,
    *,
    policy: str,
) -> x509.Certificate:
    """A seal machine's certificate: its receipts are signed with the key inside the machine."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, machine),
            x509.NameAttribute(NameOID.COMMON_NAME, f"seal machine {machine}"),
        ]
    )
    builder = (
        _base(subject, public, issuer.certificate.subject, now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True), critical=True)
    )
    return _by_issuing_ca(builder, issuer, urls, policy)
