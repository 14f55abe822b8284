"""The keystore every app signs with: keys are generated in the token, looked up by label, and never leave it."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import Attribute, ObjectClass

from core.keystore import keys
from core.keystore.keys import HashName, KeyKind, PublicKey
from core.keystore.pool import SESSION_LOST, KeystoreError, PooledSession, SessionPool


class KeyNotFound(KeystoreError):
    pass


class KeyExists(KeystoreError):
    pass


@dataclass(frozen=True)
class KeyInfo:
    label: str
    kind: KeyKind
    public_key: PublicKey
    signer: keys.Signer = field(repr=False, compare=False)

    @classmethod
    def of(cls, label: str, kind: KeyKind, public: pkcs11.PublicKey) -> KeyInfo:
        return cls(label, kind, keys.to_cryptography(public, kind), keys.SIGNERS[kind])


@dataclass(frozen=True)
class KeyProtection:
    """The token's own statement of how a private key is guarded."""

    sensitive: bool
    extractable: bool
    always_sensitive: bool
    never_extractable: bool


class Keystore:
    """Sign with keys held in a PKCS#11 token, from any thread or from the event loop."""

    def __init__(self, module: Path, token_label: str, pin: str, pool_size: int = 4) -> None:
        self._pool = SessionPool(module, token_label, pin, pool_size)
        self.module = module
        self.token_label = token_label
        self._info: dict[str, KeyInfo] = {}
        self._generate_lock = threading.Lock()

    def __enter__(self) -> Keystore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    @property
    def pool_size(self) -> int:
        return self._pool.size

    @property
    def token(self) -> pkcs11.Token:
        """The token itself, for callers that must measure or inspect it below the pool."""
        return self._pool.token

    def generate(self, label: str, kind: KeyKind) -> KeyInfo:
        """Create a signing key pair in the token; refuses a label that is already taken."""
        if not label or len(label.encode()) > 128:
            raise ValueError("a key label is 1 to 128 bytes")
        with self._generate_lock, self._pool.session() as pooled:
            if _find(pooled.session, ObjectClass.PRIVATE_KEY, label) is not None:
                raise KeyExists(f"a key labelled {label!r} already exists")
            public, _ = keys.generate_pair(pooled.session, kind, label, os.urandom(16))
            info = KeyInfo.of(label, kind, public)
        self._info[label] = info
        return info

    def info(self, label: str) -> KeyInfo:
        info = self._info.get(label)
        if info is None:
            with self._pool.session() as pooled:
                found = _find(pooled.session, ObjectClass.PUBLIC_KEY, label)
                if found is None or _find(pooled.session, ObjectClass.PRIVATE_KEY, label) is None:
                    raise KeyNotFound(f"no key pair labelled {label!r} in token {self.token_label!r}")
                public = cast(pkcs11.PublicKey, found)
                kind = keys.kind_of(public)
                info = KeyInfo.of(label, kind, public)
            self._info[label] = info
        return info

    def has(self, label: str) -> bool:
        try:
            self.info(label)
        except KeyNotFound:
            return False
        return True

    def labels(self) -> list[str]:
        with self._pool.session() as pooled:
            found = pooled.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            return sorted(str(obj[Attribute.LABEL]) for obj in found)

    def protection(self, label: str) -> KeyProtection:
        self.info(label)
        with self._pool.session() as pooled:
            private = pooled.private_key(label)
            values = private.get_attributes(
                [
                    Attribute.SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.NEVER_EXTRACTABLE,
                ]
            )
        return KeyProtection(
            sensitive=bool(values[Attribute.SENSITIVE]),
            extractable=bool(values[Attribute.EXTRACTABLE]),
            always_sensitive=bool(values[Attribute.ALWAYS_SENSITIVE]),
            never_extractable=bool(values[Attribute.NEVER_EXTRACTABLE]),
        )

    def sign(self, label: str, data: bytes, hash_name: HashName | None = None) -> bytes:
        """Sign a message; a session lost to the token is replaced and the signature tried once more."""
        info = self._info.get(label) or self.info(label)
        try:
            try:
                return self._pool.call(_sign, info, data, hash_name)
            except SESSION_LOST:
                return self._pool.call(_sign, info, data, hash_name)
        except p11e.NoSuchKey:
            self._info.pop(label, None)
            raise KeyNotFound(f"no key pair labelled {label!r} in token {self.token_label!r}") from None

    async def sign_async(self, label: str, data: bytes, hash_name: HashName | None = None) -> bytes:
        """Sign without blocking the event loop: the token call runs in a worker thread."""
        return await asyncio.to_thread(self.sign, label, data, hash_name)

    def ping(self) -> str:
        """Ask the token for its state; raises if it is gone. Returns the token label."""
        try:
            with self._pool.session(timeout=5.0) as pooled:
                return str(pooled.session.token.slot.get_token().label)
        except p11e.PKCS11Error as exc:
            raise KeystoreError(f"token {self.token_label!r} does not answer: {exc}") from None


def _sign(pooled: PooledSession, info: KeyInfo, data: bytes, hash_name: HashName | None) -> bytes:
    return info.signer(pooled.private_key(info.label), data, hash_name)


def _find(session: pkcs11.Session, object_class: ObjectClass, label: str) -> pkcs11.Object | None:
    # Drain the search so no C_FindObjects operation stays open on the session.
    found = list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
    return found[0] if found else None
