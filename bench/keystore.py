"""Signatures per second through the keystore's session pool, beside raw python-pkcs11 on one session.

Both sides produce the same signature the same way: hash, C_Sign with the key handle, and for EC the DER
encoding X.509 and CMS need. The raw side holds one session and one key handle; the pool side borrows a
session, finds its cached key handle and returns the session. The difference is what the pool costs.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Mechanism, ObjectClass

from bench.report import Section, median_rates
from core.keystore import KeyKind, Keystore, open_keystore
from core.settings import Settings

KINDS = (KeyKind.EC_P256, KeyKind.ED25519, KeyKind.RSA_3072)
MESSAGE = b"sealgate benchmark: a signed-attributes block of typical size " * 4
GOAL_OVERHEAD = 0.10


def _raw_signer(keystore: Keystore, label: str, kind: KeyKind) -> tuple[Any, Any]:
    session = keystore.token.open()
    key: Any = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
    if kind is KeyKind.ED25519:
        return session, lambda: key.sign(MESSAGE, mechanism=Mechanism.EDDSA)
    if kind is KeyKind.RSA_3072:
        return session, lambda: key.sign(MESSAGE, mechanism=Mechanism.SHA256_RSA_PKCS)

    def ecdsa() -> bytes:
        raw = key.sign(hashlib.sha256(MESSAGE).digest(), mechanism=Mechanism.ECDSA)
        return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    return session, ecdsa


def _rates(keystore: Keystore, kind: KeyKind, seconds: float, rounds: int) -> dict[str, float]:
    label = f"bench-{kind}"
    keystore.generate(label, kind)
    session, raw = _raw_signer(keystore, label, kind)
    try:
        return median_rates(
            {
                "raw": (raw, 1),
                "pool1": (lambda: keystore.sign(label, MESSAGE), 1),
                "pool2": (lambda: keystore.sign(label, MESSAGE), 2),
            },
            seconds,
            rounds,
        )
    finally:
        session.close()


def run(quick: bool = False) -> Section:
    seconds = 0.3 if quick else 1.0
    rounds = 3 if quick else 7
    rows = []
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        keystore = open_keystore(Settings(var_dir=Path(tmp)))
        try:
            for kind in KINDS:
                rates = _rates(keystore, kind, seconds, rounds)
                overhead = 1 - rates["pool1"] / rates["raw"]
                worst = max(worst, overhead)
                rows.append(
                    f"| {kind} | {rates['raw']:,.0f} | {rates['pool1']:,.0f} | {rates['pool2']:,.0f} "
                    f"| {overhead:+.1%} | {rates['pool2'] / rates['pool1']:.2f}x |"
                )
        finally:
            keystore.close()
    verdict = "met" if worst <= GOAL_OVERHEAD else "NOT met"
    body = "\n".join(
        [
            "Signatures per second on the development SoftHSM2 token: raw python-pkcs11 on one session (baseline),",
            f"the keystore pool from 1 and from 2 threads (pool of {keystore.pool_size} sessions). Overhead is",
            f"1 - pool(1 thread) / raw; goal at most {GOAL_OVERHEAD:.0%}: {verdict} (worst {worst:+.1%}).\n",
            "| key | raw, 1 session | pool, 1 thread | pool, 2 threads | pool overhead | 2 threads / 1 |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    return Section("Keystore signing (`bench/keystore.py`)", body)
