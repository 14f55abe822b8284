"""A signature check that passed is remembered for exactly its inputs; any other input, and any failure, is
checked by pyHanko each time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

from signer import signature_checks

DATA = "水南村村民委员会 seals this".encode()
SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
SHA384 = algos.SignedDigestAlgorithm({"algorithm": "sha384_ecdsa"})


def _key() -> tuple[ec.EllipticCurvePrivateKey, keys.PublicKeyInfo]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return private, keys.PublicKeyInfo.load(public)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The checks pyHanko itself ran, with the memory installed and empty."""
    ran: list[tuple[Any, ...]] = []
    real = signature_checks._check

    def counted(*args: Any) -> None:
        ran.append(args[1:])
        real(*args)

    monkeypatch.setattr(signature_checks, "_check", counted)
    monkeypatch.setattr(signature_checks, "_passed", set())
    signature_checks.install()
    return ran


def _validate(*args: Any) -> None:
    DefaultSignatureValidator().validate_signature(*args)


def test_a_check_that_passed_passes_again_without_running(checks: list[tuple[Any, ...]]) -> None:
    private, public = _key()
    signature = private.sign(DATA, ec.ECDSA(hashes.SHA256()))
    _validate(signature, DATA, public, SHA256)
    _validate(signature, DATA, keys.PublicKeyInfo.load(public.dump()), algos.SignedDigestAlgorithm.load(SHA256.dump()))
    assert len(checks) == 1


def test_a_check_that_failed_runs_and_fails_each_time(checks: list[tuple[Any, ...]]) -> None:
    private, public = _key()
    signature = private.sign(DATA, ec.ECDSA(hashes.SHA256()))
    _validate(signature, DATA, public, SHA256)
    forged = bytearray(signature)
    forged[-1] ^= 1
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            _validate(bytes(forged), DATA, public, SHA256)
    assert len(checks) == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda s, d, k, a, c: (s, d + b" and more", k, a, c),
        lambda s, d, k, a, c: (s, d, _key()[1], a, c),
        lambda s, d, k, a, c: (s, d, k, SHA384, c),
        lambda s, d, k, a, c: (s, d, k, a, SignatureValidationContext(prehashed=True)),
    ],
    ids=["other data", "other key", "other algorithm", "other context"],
)
def test_a_passed_signature_with_any_other_input_is_checked_again_and_fails(
    checks: list[tuple[Any, ...]], change: Callable[..., tuple[Any, ...]]
) -> None:
    private, public = _key()
    signature = private.sign(DATA, ec.ECDSA(hashes.SHA256()))
    inputs = (signature, DATA, public, SHA256, SignatureValidationContext())
    _validate(*inputs)
    with pytest.raises((InvalidSignature, ValueError)):
        _validate(*change(*inputs))
    assert len(checks) == 2


def test_the_memory_is_bounded(checks: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signature_checks, "_KEPT", 3)
    private, public = _key()
    signatures = [private.sign(DATA + bytes([n]), ec.ECDSA(hashes.SHA256())) for n in range(5)]
    for n, signature in enumerate(signatures):
        _validate(signature, DATA + bytes([n]), public, SHA256)
        assert len(signature_checks._passed) <= 3
    _validate(signatures[0], DATA + b"\x00", public, SHA256)  # forgotten when the memory was emptied: checked again
    _validate(signatures[4], DATA + b"\x04", public, SHA256)  # remembered since
    assert len(checks) == 6


def test_uninstalled_is_pyhankos_own_check(checks: list[tuple[Any, ...]]) -> None:
    private, public = _key()
    signature = private.sign(DATA, ec.ECDSA(hashes.SHA256()))
    with signature_checks.uninstalled():
        assert DefaultSignatureValidator.validate_signature is signature_checks._check
        for _ in range(2):
            _validate(signature, DATA, public, SHA256)
    assert DefaultSignatureValidator.validate_signature is signature_checks._checked
    assert len(checks) == 2  # nothing remembered: pyHanko checked it each time
