"""Keys in the keystore as `cryptography` private keys, so that its X.509, CRL and OCSP builders sign in the token.

`cryptography` signs by calling the key's ``sign`` method, so a key object that forwards that call to the token
is all its builders need; every other private-key operation (key agreement, export) is refused, as the token
would refuse it. Certificate authority keys are ECDSA (P-256 or P-384), what PAdES validators and OpenSSL
accept everywhere.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding, KeySerializationEncryption, PrivateFormat

from core.keystore import Keystore
from core.keystore.keys import HashName

HASHES: dict[str, HashName] = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


class KeyStaysInToken(TypeError):
    """An operation that would need the private key outside the token."""


class TokenKey(ec.EllipticCurvePrivateKey):
    """An EC key pair in the keystore, usable wherever `cryptography` wants a private key to sign with."""

    def __init__(self, keystore: Keystore, label: str, public: ec.EllipticCurvePublicKey) -> None:
        self._keystore, self.label, self._public = keystore, label, public

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise KeyStaysInToken("EC keys in the token sign ECDSA only")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            raise KeyStaysInToken("the token hashes the message itself; prehashed input is not signed")
        if algorithm.name not in HASHES:
            raise KeyStaysInToken(f"the token signs with SHA-2 hashes, not {algorithm.name}")
        return self._keystore.sign(self.label, bytes(data), HASHES[algorithm.name])

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise KeyStaysInToken("token keys only sign")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise KeyStaysInToken("the private key never leaves the token")

    def private_bytes(
        self, encoding: Encoding, format: PrivateFormat, encryption_algorithm: KeySerializationEncryption
    ) -> bytes:
        raise KeyStaysInToken("the private key never leaves the token")

    def __copy__(self) -> TokenKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenKey:
        return self

    @property
    def hash(self) -> hashes.SHA256 | hashes.SHA384:
        """The hash that goes with the curve: SHA-384 for P-384, SHA-256 otherwise."""
        return hashes.SHA384() if self.curve.name == "secp384r1" else hashes.SHA256()


def token_key(keystore: Keystore, label: str) -> TokenKey:
    """The key ``label`` for `cryptography`'s builders; KeyNotFound if missing, TypeError if it is not EC."""
    public = keystore.info(label).public_key
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise TypeError(f"key {label!r} is not an EC key; certificate authority keys are ECDSA")
    return TokenKey(keystore, label, public)
