"""PKCS#11 keystore: non-extractable signing keys in a token, shared by every app through one session pool."""

from sealgate.keystore.config import open_keystore
from sealgate.keystore.keys import HashName, KeyKind, PublicKey
from sealgate.keystore.pool import KeystoreError, ModuleLoadError, PinRejected, TokenNotFound
from sealgate.keystore.store import KeyExists, KeyInfo, KeyNotFound, KeyProtection, Keystore

__all__ = [
    "HashName",
    "KeyExists",
    "KeyInfo",
    "KeyKind",
    "KeyNotFound",
    "KeyProtection",
    "Keystore",
    "KeystoreError",
    "ModuleLoadError",
    "PinRejected",
    "PublicKey",
    "TokenNotFound",
    "open_keystore",
]
