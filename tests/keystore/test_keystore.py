"""The keystore against a real SoftHSM2 token: key protection, every key kind, concurrency, failures."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from core.keystore import KeyExists, KeyKind, KeyNotFound, Keystore, PublicKey


def verify(public: PublicKey, kind: KeyKind, signature: bytes, message: bytes) -> None:
    if isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, message)
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        digest = hashes.SHA384() if kind is KeyKind.EC_P384 else hashes.SHA256()
        public.verify(signature, message, ec.ECDSA(digest))


def label(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("kind", list(KeyKind))
def test_generated_keys_sign_and_stay_in_the_token(keystore: Keystore, kind: KeyKind) -> None:
    info = keystore.generate(label(str(kind)), kind)
    protection = keystore.protection(info.label)
    assert protection.extractable is False
    assert protection.sensitive is True
    assert protection.never_extractable is True
    assert protection.always_sensitive is True

    message = b"\xe6\xb0\xb4\xe5\x8d\x97\xe6\x9d\x91 seal request 42"
    signature = keystore.sign(info.label, message)
    verify(info.public_key, kind, signature, message)
    with pytest.raises(InvalidSignature):
        verify(info.public_key, kind, signature, message + b"!")


def test_public_key_types_match_the_kind(keystore: Keystore) -> None:
    expected = {
        KeyKind.EC_P256: (ec.EllipticCurvePublicKey, 256),
        KeyKind.EC_P384: (ec.EllipticCurvePublicKey, 384),
        KeyKind.RSA_3072: (rsa.RSAPublicKey, 3072),
    }
    for kind, (cls, bits) in expected.items():
        public = keystore.generate(label("shape"), kind).public_key
        assert isinstance(public, cls)
        assert isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        assert public.key_size == bits
    assert isinstance(keystore.generate(label("shape"), KeyKind.ED25519).public_key, ed25519.Ed25519PublicKey)


def test_ec_key_signs_with_a_chosen_hash(keystore: Keystore) -> None:
    info = keystore.generate(label("p256-sha512"), KeyKind.EC_P256)
    signature = keystore.sign(info.label, b"data", "sha512")
    assert isinstance(info.public_key, ec.EllipticCurvePublicKey)
    info.public_key.verify(signature, b"data", ec.ECDSA(hashes.SHA512()))
    with pytest.raises(ValueError, match="no hash algorithm"):
        keystore.sign(keystore.generate(label("ed"), KeyKind.ED25519).label, b"data", "sha256")


def test_a_taken_label_is_refused(keystore: Keystore) -> None:
    name = label("dup")
    keystore.generate(name, KeyKind.EC_P256)
    with pytest.raises(KeyExists):
        keystore.generate(name, KeyKind.ED25519)


def test_unknown_label(keystore: Keystore) -> None:
    with pytest.raises(KeyNotFound, match="no key pair labelled"):
        keystore.sign("no-such-key", b"x")
    assert not keystore.has("no-such-key")


def test_keys_persist_and_are_found_by_a_new_keystore(keystore: Keystore) -> None:
    info = keystore.generate(label("persist"), KeyKind.ED25519)
    again = Keystore(keystore.module, keystore.token_label, _pin_of(keystore), pool_size=1)
    try:
        found = again.info(info.label)
        assert found.kind is KeyKind.ED25519
        assert found.public_key.public_bytes_raw() == info.public_key.public_bytes_raw()  # type: ignore[union-attr]
        assert info.label in again.labels()
    finally:
        again.close()
    # Closing the second keystore must not log the first one out.
    verify(info.public_key, info.kind, keystore.sign(info.label, b"still here"), b"still here")


def _pin_of(keystore: Keystore) -> str:
    from core.keystore import pool

    return pool._logins[(str(keystore.module.resolve()), keystore.token_label)].pin


def test_a_second_keystore_with_another_pin_is_refused(keystore: Keystore) -> None:
    from core.keystore import PinRejected

    with pytest.raises(PinRejected) as caught:
        Keystore(keystore.module, keystore.token_label, "not-the-pin", pool_size=1)
    assert "not-the-pin" not in str(caught.value)


def test_eight_threads_signing_at_once(keystore: Keystore) -> None:
    keys = {kind: keystore.generate(label(f"mt-{kind}"), kind) for kind in (KeyKind.EC_P256, KeyKind.ED25519)}
    barrier = threading.Barrier(8)

    def work(worker: int) -> list[tuple[KeyKind, bytes, bytes]]:
        barrier.wait()
        out = []
        for i in range(40):
            kind = KeyKind.EC_P256 if (worker + i) % 2 else KeyKind.ED25519
            message = f"worker {worker} message {i}".encode()
            out.append((kind, message, keystore.sign(keys[kind].label, message)))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [r for batch in pool.map(work, range(8)) for r in batch]
    assert len(results) == 8 * 40
    for kind, message, signature in results:
        verify(keys[kind].public_key, kind, signature, message)


def test_signing_from_the_event_loop(keystore: Keystore) -> None:
    info = keystore.generate(label("async"), KeyKind.EC_P256)

    async def many() -> list[bytes]:
        return await asyncio.gather(*(keystore.sign_async(info.label, b"m%d" % i) for i in range(32)))

    signatures = asyncio.run(many())
    for i, signature in enumerate(signatures):
        verify(info.public_key, info.kind, signature, b"m%d" % i)


def test_ping_names_the_token(keystore: Keystore) -> None:
    assert keystore.ping() == keystore.token_label
