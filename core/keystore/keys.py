"""Key kinds the service uses, their PKCS#11 templates, and the mapping of token objects to `cryptography` keys.

Signatures come back in the encodings X.509, CMS and `cryptography` expect: DER ECDSA-Sig-Value for EC keys,
PKCS#1 v1.5 for RSA, the raw 64 bytes for Ed25519.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal, cast

import pkcs11
from asn1crypto.core import OctetString
from asn1crypto.keys import ECDomainParameters
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11.util.ec import encode_named_curve_parameters

HashName = Literal["sha256", "sha384", "sha512"]
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_ED25519_OID = "1.3.101.112"


class KeyKind(StrEnum):
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_3072 = "rsa-3072"
    ED25519 = "ed25519"


_CURVES = {KeyKind.EC_P256: "secp256r1", KeyKind.EC_P384: "secp384r1"}
_CRYPTOGRAPHY_CURVES: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
_HASHES: dict[HashName, Callable[[bytes], Any]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_RSA_MECHANISMS: dict[HashName, Mechanism] = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}


def public_template(label: str, key_id: bytes) -> dict[Attribute, Any]:
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.DERIVE: False,
    }


def private_template(label: str, key_id: bytes) -> dict[Attribute, Any]:
    """Signing keys only: sensitive, never extractable, usable for nothing but signatures."""
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
    }


def generate_pair(
    session: pkcs11.Session, kind: KeyKind, label: str, key_id: bytes
) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
    pub_tpl = public_template(label, key_id)
    priv_tpl = private_template(label, key_id)
    if kind is KeyKind.RSA_3072:
        return session.generate_keypair(
            KeyType.RSA, 3072, store=True, public_template=pub_tpl, private_template=priv_tpl
        )
    if kind is KeyKind.ED25519:
        key_type, mechanism, params = KeyType.EC_EDWARDS, Mechanism.EC_EDWARDS_KEY_PAIR_GEN, _ED25519_OID
    else:
        key_type, mechanism, params = KeyType.EC, Mechanism.EC_KEY_PAIR_GEN, _CURVES[kind]
    domain = session.create_domain_parameters(
        key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(params)}, local=True
    )
    return domain.generate_keypair(store=True, mechanism=mechanism, public_template=pub_tpl, private_template=priv_tpl)


def kind_of(public: pkcs11.PublicKey) -> KeyKind:
    """Recognise a key pair made by this module or by another tool, from its public half."""
    key_type = public.key_type
    if key_type == KeyType.RSA:
        bits = len(public[Attribute.MODULUS]) * 8
        if bits == 3072:
            return KeyKind.RSA_3072
        raise ValueError(f"RSA-{bits} keys are not used by sealgate")
    curve = ECDomainParameters.load(public[Attribute.EC_PARAMS])
    name = curve.chosen.native
    if key_type == KeyType.EC_EDWARDS and name in (_ED25519_OID, "ed25519", "edwards25519"):
        return KeyKind.ED25519
    if key_type == KeyType.EC:
        for kind, curve_name in _CURVES.items():
            if name == curve_name:
                return kind
    raise ValueError(f"unsupported key: {key_type!s} {name}")


def to_cryptography(public: pkcs11.PublicKey, kind: KeyKind) -> PublicKey:
    if kind is KeyKind.RSA_3072:
        n = int.from_bytes(public[Attribute.MODULUS], "big")
        e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = bytes(OctetString.load(public[Attribute.EC_POINT]).native)
    if kind is KeyKind.ED25519:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    return ec.EllipticCurvePublicKey.from_encoded_point(_CRYPTOGRAPHY_CURVES[_CURVES[kind]], point)


Signer = Callable[[pkcs11.PrivateKey, bytes, "HashName | None"], bytes]


def _sign_eddsa(private: pkcs11.PrivateKey, data: bytes, hash_name: HashName | None) -> bytes:
    if hash_name is not None:
        raise ValueError("Ed25519 signs the message itself; no hash algorithm applies")
    return cast(pkcs11.types.SignMixin, private).sign(data, mechanism=Mechanism.EDDSA)


def _sign_rsa(private: pkcs11.PrivateKey, data: bytes, hash_name: HashName | None) -> bytes:
    try:
        mechanism = _RSA_MECHANISMS[hash_name or "sha256"]
    except KeyError:
        raise ValueError(f"unsupported hash algorithm {hash_name!r}") from None
    return cast(pkcs11.types.SignMixin, private).sign(data, mechanism=mechanism)


def _ecdsa(default: HashName) -> Signer:
    def sign(private: pkcs11.PrivateKey, data: bytes, hash_name: HashName | None) -> bytes:
        try:
            digest = _HASHES[hash_name or default](data).digest()
        except KeyError:
            raise ValueError(f"unsupported hash algorithm {hash_name!r}") from None
        # SoftHSM2 and many HSMs have no CKM_ECDSA_SHA256: hash here, sign the digest with CKM_ECDSA.
        raw = cast(pkcs11.types.SignMixin, private).sign(digest, mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    return sign


SIGNERS: dict[KeyKind, Signer] = {
    KeyKind.EC_P256: _ecdsa("sha256"),
    KeyKind.EC_P384: _ecdsa("sha384"),
    KeyKind.RSA_3072: _sign_rsa,
    KeyKind.ED25519: _sign_eddsa,
}
"""Per kind of key: sign a message (not a digest), optionally with another hash than the kind's default."""
