"""CMS SignedData for PAdES (ETSI.CAdES.detached), assembled from DER parts prepared once per seal.

Everything in a seal's signature but the document digest, the signature value and the timestamp token is the
same for every document it seals: the certificates, the signer identifier, the signing-certificate-v2
attribute, the algorithm identifiers. ``SealTemplate`` encodes those once with asn1crypto and joins them with
the per-document parts; building the structure with asn1crypto each time costs more than the token's
signature. The output is checked in tests by asn1crypto, pyHanko's validator, poppler's pdfsig and OpenSSL.
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

SET = 0x31
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_TIMESTAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"
_SIGNATURE_ALGORITHMS = {
    ("ec", "sha256"): "sha256_ecdsa",
    ("ec", "sha384"): "sha384_ecdsa",
    ("rsa", "sha256"): "sha256_rsa",
    ("rsa", "sha384"): "sha384_rsa",
}


def der_length(data: bytes | bytearray | memoryview) -> int:
    """The length of the DER value at the start of ``data``, header included: a /Contents string holds the CMS
    followed by zero padding, and the log names the CMS alone."""
    if len(data) < 2:
        raise ValueError("too short for a DER value")
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        raise ValueError("not a definite DER length")
    return 2 + count + int.from_bytes(bytes(data[2 : 2 + count]), "big")


def signature_sha256(contents: bytes) -> str:
    """The SHA-256 that names a signature in the log: of the CMS ContentInfo DER, without /Contents padding."""
    return hashlib.sha256(contents[: der_length(contents)]).hexdigest()


@dataclass(frozen=True)
class SealTemplate:
    """What a seal's signatures share. ``chain`` is the seal certificate's issuers, nearest first."""

    certificate: x509.Certificate
    chain: Sequence[x509.Certificate]

    @cached_property
    def key_family(self) -> str:
        public = self.certificate.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            return "ec"
        if isinstance(public, rsa.RSAPublicKey):
            return "rsa"
        raise ValueError(f"seal keys are EC or RSA, not {type(public).__name__}")

    @cached_property
    def _key_size(self) -> int:
        public = self.certificate.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        return public.key_size

    @cached_property
    def hash_name(self) -> HashName:
        return "sha384" if self.key_family == "ec" and self._key_size > 256 else "sha256"

    @cached_property
    def max_signature_size(self) -> int:
        """The longest signature value the key can give: DER ECDSA-Sig-Value at its longest, or the modulus."""
        if self.key_family == "rsa":
            return (self._key_size + 7) // 8
        integer = (self._key_size + 7) // 8 + 1  # a leading zero when the top bit is set
        return len(sequence(tlv(0x02, bytes(integer)), tlv(0x02, bytes(integer))))

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
        """SignedData.certificates, [0] IMPLICIT SET OF: the seal certificate and its chain, DER-sorted."""
        ders = sorted(c.public_bytes(Encoding.DER) for c in (self.certificate, *self.chain))
        return tlv(0xA0, b"".join(ders))

    @cached_property
    def _sid(self) -> bytes:
        tbs = self._asn1_certificate["tbs_certificate"]
        name = {"issuer_and_serial_number": {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}}
        return bytes(cms.SignerIdentifier(name).dump())

    @cached_property
    def _attribute_parts(self) -> tuple[bytes, bytes]:
        """The signed attributes before and after the message digest's value, in DER SET OF order.

        PAdES baseline (EN 319 142-1 §6.3) asks for content-type, message-digest and signing-certificate-v2,
        and forbids signing-time (the time is the signature dictionary's /M). The three have fixed lengths for
        a given hash, so their sorted order is the same for every document.
        """
        tbs = self._asn1_certificate["tbs_certificate"]
        ess = {
            "cert_hash": hashlib.new(self.hash_name, self.certificate.public_bytes(Encoding.DER)).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": tbs["issuer"]})],
                "serial_number": tbs["serial_number"],
            },
        }
        if self.hash_name != "sha256":
            ess["hash_algorithm"] = {"algorithm": self.hash_name}
        marker = b"\x5a" * self.digest().digest_size
        attributes = [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump(),
            cms.CMSAttribute({"type": "message_digest", "values": [marker]}).dump(),
            cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [ess]})]}
            ).dump(),
        ]
        body = b"".join(sorted(attributes))
        at = body.index(marker)
        return tlv(SET, body)[: -len(body) + at], body[at + len(marker) :]

    def signed_attributes(self, digest: bytes) -> bytes:
        """The DER SET OF signed attributes over a document digest: what the key signs (RFC 5652 §5.4)."""
        head, tail = self._attribute_parts
        return head + digest + tail

    def content_info(self, signed_attributes: bytes, signature: bytes, timestamp_token: bytes | None = None) -> bytes:
        """The ContentInfo to place in /Contents; ``timestamp_token`` makes it B-T (a signature-time-stamp)."""
        signer_info = [
            b"\x02\x01\x01",
            self._sid,
            self._digest_algorithm,
            b"\xa0" + signed_attributes[1:],  # [0] IMPLICIT in SignerInfo, SET OF when signed
            self._signature_algorithm,
            tlv(OCTET_STRING, signature),
        ]
        if timestamp_token is not None:
            attribute = sequence(_oid(ID_TIMESTAMP_TOKEN), tlv(SET, timestamp_token))
            signer_info.append(tlv(0xA1, attribute))
        signed_data = sequence(
            b"\x02\x01\x01",
            tlv(SET, self._digest_algorithm),
            sequence(_oid(ID_DATA)),
            self._certificates,
            tlv(SET, sequence(*signer_info)),
        )
        return sequence(_oid(ID_SIGNED_DATA), explicit(0, signed_data))

    def max_size(self, timestamp_token_size: int = 0) -> int:
        """The largest ContentInfo this template can make, from the sizes of its parts: /Contents is reserved
        this large, with no dry run."""
        head, tail = self._attribute_parts
        attributes = len(head) + self.digest().digest_size + len(tail)
        signature = bytes(self.max_signature_size)
        timestamp = bytes(timestamp_token_size) if timestamp_token_size else None
        return len(self.content_info(bytes(attributes), signature, timestamp))


def _oid(dotted: str) -> bytes:
    return bytes(cms.ContentType(dotted).dump())
