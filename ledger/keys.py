"""The log's signing key: Ed25519 in the keystore, labelled with the log origin, as C2SP checkpoints want."""

from __future__ import annotations

from contextlib import suppress

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Engine

from core.clock import Clock
from core.db import exclusive
from core.keystore import KeyExists, KeyKind, Keystore
from ledger.note import CosignatureSigner, Ed25519Signer


def ensure_ed25519(keystore: Keystore, label: str, engine: Engine) -> bytes:
    """The raw public key of the Ed25519 key ``label``, generated in the token on first use.

    Processes that start together on a new token would each see no key and make one; a token has no lock of
    its own, so the database they share serialises the making.
    """
    if not keystore.has(label):
        with exclusive(engine, f"key:{label}"), suppress(KeyExists):  # another process made it first
            keystore.generate(label, KeyKind.ED25519)
    info = keystore.info(label)
    if info.kind is not KeyKind.ED25519 or not isinstance(info.public_key, ed25519.Ed25519PublicKey):
        raise ValueError(f"key {label!r} is {info.kind}, not Ed25519")
    return info.public_key.public_bytes_raw()


def log_signer(keystore: Keystore, origin: str, engine: Engine) -> Ed25519Signer:
    public = ensure_ed25519(keystore, origin, engine)
    return Ed25519Signer(origin, lambda message: keystore.sign(origin, message), public)


def witness_signer(keystore: Keystore, name: str, clock: Clock, engine: Engine) -> CosignatureSigner:
    label = f"witness:{name}"
    public = ensure_ed25519(keystore, label, engine)
    return CosignatureSigner(
        name, lambda message: keystore.sign(label, message), public, lambda: int(clock.now().timestamp())
    )
