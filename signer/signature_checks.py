"""pyHanko's check of a signature, made once per exact input.

Validating the default seal checks the same signatures again and again: each certificate path is validated for
the seal, for each timestamp, for the revocation check and for each OCSP responder, and every validation checks
each certificate's signature, each OCSP response's, and loads the public key from its encoding first; 22 checks
per verification, of 10 distinct signatures. ``install`` remembers, for a bounded number of inputs, that a
check passed: a check is a function of the signature, the signed bytes, the public key, the algorithm and the
context alone (``DefaultSignatureValidator`` reads nothing else), so a check of the same inputs passes again.
A check that fails is never remembered: it runs, and fails, each time.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager

from asn1crypto import algos, keys
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from signer.library_patches import set_for_a_while

_check = DefaultSignatureValidator.validate_signature
_KEPT = 4096  # checks remembered
_passed: set[bytes] = set()  # digests of the inputs of checks that passed


def _checked(
    self: DefaultSignatureValidator,
    signature: bytes,
    signed_data: bytes,
    public_key_info: keys.PublicKeyInfo,
    signature_algorithm: algos.SignedDigestAlgorithm,
    context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
) -> None:
    inputs = hashlib.sha256()
    for part in (
        bytes(signature),
        bytes(signed_data),
        public_key_info.dump(),
        signature_algorithm.dump(),
        repr((context.contextual_md_algorithm, context.prehashed)).encode(),
    ):
        inputs.update(len(part).to_bytes(8, "big") + part)
    digest = inputs.digest()
    if digest in _passed:
        return
    _check(self, signature, signed_data, public_key_info, signature_algorithm, context)  # raises if it fails
    if len(_passed) >= _KEPT:
        _passed.clear()  # one call, safe beside other threads' lookups
    _passed.add(digest)


def install() -> None:
    DefaultSignatureValidator.validate_signature = _checked  # type: ignore[method-assign]


def uninstalled() -> AbstractContextManager[None]:
    """pyHanko's own check for a while: to time a library as it ships, in a process where this is installed."""
    return set_for_a_while((DefaultSignatureValidator, "validate_signature", _check))
