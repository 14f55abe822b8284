"""PKCS#11 keystore: non-extractable signing keys in a token, shared by every app through one session pool."""

from core.keystore.config import open_keystore
from core.keystore.keys import HashName, KeyKind, PublicKey
from core.keystore.pool import KeystoreError, ModuleLoadError, PinRejected, TokenNotFound
from core.keystore.store import KeyExists, KeyInfo, KeyNotFound, KeyProtection, Keystore

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
