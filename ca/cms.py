"""CMS SignedData (RFC 5652), assembled from DER parts prepared once per signing certificate: the one builder
behind the seal's PAdES signatures and the TSA's time-stamp tokens.

Everything in a signature but the content digest, the signature value, the encapsulated content and the
timestamp token is the same for every signature one certificate makes: the certificates, the signer identifier,
the signing-certificate-v2 attribute, the algorithm identifiers. ``SignerTemplate`` encodes those once with
asn1crypto and joins them with the per-signature parts; building the structure with asn1crypto each time costs
more than the token's signature. The output is checked in tests by asn1crypto, pyHanko's validator, poppler's
pdfsig and OpenSSL (``openssl cms`` and ``openssl ts -verify``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ca.der import OCTET_STRING, explicit, sequence, tlv
from core.keystore.keys import HashName

_SET = 0x31
_ID_TIMESTAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"
_SIGNATURE_ALGORITHMS = {
    ("ec", "sha256"): "sha256_ecdsa",
    ("ec", "sha384"): "sha384_ecdsa",
    ("rsa", "sha256"): "sha256_rsa",
    ("rsa", "sha384"): "sha384_rsa",
}


@dataclass(frozen=True)
class SignerTemplate:
    """What one certificate's signatures share.

    ``chain`` is the certificate's issuers, nearest first. ``content_type`` is the eContentType (asn1crypto's
    name or a dotted OID): ``data`` for a detached PAdES signature, ``tst_info`` for a time-stamp token.
    ``ess_hash`` hashes the certificate in signing-certificate-v2; by default the signature's hash (RFC 5816
    lets a TSA keep SHA-256, the default, whatever its key).
    """

    certificate: x509.Certificate
    chain: Sequence[x509.Certificate]
    content_type: str = "data"
    ess_hash: HashName | None = None

    @cached_property
    def _public_key(self) -> tuple[str, int]:
        """The key's family and size in bits."""
        public = self.certificate.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            return "ec", public.key_size
        if isinstance(public, rsa.RSAPublicKey):
            return "rsa", public.key_size
        raise ValueError(f"signing keys are EC or RSA, not {type(public).__name__}")

    @property
    def key_family(self) -> str:
        return self._public_key[0]

    @property
    def key_size(self) -> int:
        return self._public_key[1]

    @cached_property
    def hash_name(self) -> HashName:
        return "sha384" if self.key_family == "ec" and self.key_size > 256 else "sha256"

    def digest(self) -> hashlib._Hash:
        return hashlib.new(self.hash_name)

    @cached_property
    def _digest_algorithm(self) -> bytes:
        return bytes(algos.DigestAlgorithm({"algorithm": self.hash_name}).dump())

    @cached_property
    def _signature_algorithm(self) -> bytes:
        name = _SIGNATURE_ALGORITHMS[(self.key_family, self.hash_name)]
        return bytes(algos.SignedDigestAlgorithm({"algorithm": name}).dump())

    @cached_property
    def _asn1_certificate(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.certificate.public_bytes(Encoding.DER))

    @cached_property
    def _certificates(self) -> bytes:
        """SignedData.certificates, [0] IMPLICIT SET OF: the certificate and its chain, DER-sorted."""
        ders = sorted(c.public_bytes(Encoding.DER) for c in (self.certificate, *self.chain))
        return tlv(0xA0, b"".join(ders))

    @cached_property
    def _sid(self) -> bytes:
        """SignerInfo.sid: issuerAndSerialNumber."""
        tbs = self._asn1_certificate["tbs_certificate"]
        name = {"issuer_and_serial_number": {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}}
        return bytes(cms.SignerIdentifier(name).dump())

    @cached_property
    def _content_type(self) -> bytes:
        return _oid(self.content_type)

    @cached_property
    def _version(self) -> bytes:
        """SignedData.version: 3 when the content is not id-data (RFC 5652 §5.1), else 1."""
        return b"\x02\x01\x01" if self._content_type == _oid("data") else b"\x02\x01\x03"

    @cached_property
    def _attribute_parts(self) -> tuple[bytes, bytes]:
        """The signed attributes before and after the message digest's value, in DER SET OF order.

        content-type, message-digest and signing-certificate-v2: what PAdES baseline (EN 319 142-1 §6.3) asks
        for, without signing-time (the time is the signature dictionary's /M), and what RFC 3161 and RFC 5816
        ask of a time-stamp token. The three have fixed lengths for a given hash, so their sorted order is the
        same for every signature.
        """
        tbs = self._asn1_certificate["tbs_certificate"]
        ess_hash = self.ess_hash or self.hash_name
        ess = {
            "cert_hash": hashlib.new(ess_hash, self.certificate.public_bytes(Encoding.DER)).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": tbs["issuer"]})],
                "serial_number": tbs["serial_number"],
            },
        }
        if ess_hash != "sha256":
            ess["hash_algorithm"] = {"algorithm": ess_hash}
        marker = b"\x5a" * self.digest().digest_size
        attributes = [
            cms.CMSAttribute({"type": "content_type", "values": [self.content_type]}).dump(),
            cms.CMSAttribute({"type": "message_digest", "values": [marker]}).dump(),
            cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [ess]})]}
            ).dump(),
        ]
        body = b"".join(sorted(attributes))
        at = body.index(marker)
        return tlv(_SET, body)[: -len(body) + at], body[at + len(marker) :]

    def signed_attributes(self, digest: bytes) -> bytes:
        """The DER SET OF signed attributes over a content digest: what the key signs (RFC 5652 §5.4)."""
        head, tail = self._attribute_parts
        return head + digest + tail

    def content_info(
        self,
        signed_attributes: bytes,
        signature: bytes,
        timestamp_token: bytes | None = None,
        *,
        content: bytes | None = None,
        certificates: bool = True,
    ) -> bytes:
        """The ContentInfo around SignedData. ``timestamp_token`` adds a signature-time-stamp (B-T); ``content``,
        the DER of the encapsulated content, is left out for a detached signature; ``certificates`` says whether
        the certificate and its chain go along."""
        signer_info = [
            b"\x02\x01\x01",
            self._sid,
            self._digest_algorithm,
            b"\xa0" + signed_attributes[1:],  # [0] IMPLICIT in SignerInfo, SET OF when signed
            self._signature_algorithm,
            tlv(OCTET_STRING, signature),
        ]
        if timestamp_token is not None:
            attribute = sequence(_oid(_ID_TIMESTAMP_TOKEN), tlv(_SET, timestamp_token))
            signer_info.append(tlv(0xA1, attribute))
        encapsulated = [self._content_type]
        if content is not None:
            encapsulated.append(explicit(0, tlv(OCTET_STRING, content)))
        signed_data = sequence(
            self._version,
            tlv(_SET, self._digest_algorithm),
            sequence(*encapsulated),
            self._certificates if certificates else b"",
            tlv(_SET, sequence(*signer_info)),
        )
        return sequence(_oid("signed_data"), explicit(0, signed_data))


def _oid(content_type: str) -> bytes:
    return bytes(cms.ContentType(content_type).dump())
