"""COSE_Sign1 (RFC 9052 §4.2) with ECDSA, the envelope of every structure a seal machine and the service exchange.

Written here on `cbor2` rather than taken from a COSE library: the one message type and two algorithms the protocol
needs fit in a page, and a machine vendor reading docs/protocol.md sees the same steps. The tests check it against
pycose, an independent implementation, in both directions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

TAG_SIGN1 = 18
HEADER_ALG = 1
HEADER_X5CHAIN = 33
ES256 = -7
ES384 = -35
# Algorithm -> (curve name, hash, size of r and of s in bytes)
ALGORITHMS: dict[int, tuple[str, type[hashes.SHA256] | type[hashes.SHA384], int]] = {
    ES256: ("secp256r1", hashes.SHA256, 32),
    ES384: ("secp384r1", hashes.SHA384, 48),
}
MAX_MESSAGE_BYTES = 8192  # an authorisation with its two certificates is under 2 KiB


class CoseError(ValueError):
    """A message that is not a well-formed, correctly signed COSE_Sign1 of ours."""


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1: the payload as received, not re-encoded, so its signature is checked on those bytes."""

    protected: bytes
    alg: int
    x5chain: tuple[bytes, ...]
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return _sig_structure(self.protected, self.payload)


def algorithm_of(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> int:
    for alg, (curve, _, _) in ALGORITHMS.items():
        if key.curve.name == curve:
            return alg
    raise CoseError(f"no COSE algorithm here for curve {key.curve.name}")


def sign(payload: bytes, key: ec.EllipticCurvePrivateKey, *, x5chain: Sequence[bytes] = ()) -> bytes:
    """A tagged COSE_Sign1 over ``payload``; ``key`` may be a key in the token (it signs through ``key.sign``)."""
    alg = algorithm_of(key)
    _, hash_type, size = ALGORITHMS[alg]
    protected = cbor2.dumps({HEADER_ALG: alg}, canonical=True)
    der = key.sign(_sig_structure(protected, payload), ec.ECDSA(hash_type()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    unprotected: dict[int, Any] = {HEADER_X5CHAIN: list(x5chain)} if x5chain else {}
    return cbor2.dumps(cbor2.CBORTag(TAG_SIGN1, [protected, unprotected, payload, signature]), canonical=True)


def parse(data: bytes) -> Sign1:
    """The parts of a COSE_Sign1, its signature not yet checked; CoseError for anything else."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise CoseError(f"a signed message is at most {MAX_MESSAGE_BYTES} bytes, this one {len(data)}")
    try:
        message = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise CoseError(f"not CBOR: {exc}") from None
    if not isinstance(message, cbor2.CBORTag) or message.tag != TAG_SIGN1:
        raise CoseError("not a tagged COSE_Sign1 (CBOR tag 18)")
    parts = message.value  # cbor2 6 decodes what a tag holds as immutable: tuples and frozendicts
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise CoseError("a COSE_Sign1 is an array of four")
    protected, unprotected, payload, signature = parts
    if not all(isinstance(p, bytes) for p in (protected, payload, signature)) or not isinstance(unprotected, Mapping):
        raise CoseError("a COSE_Sign1 holds protected bytes, an unprotected map, payload bytes and signature bytes")
    try:
        header = cbor2.loads(protected)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
        raise CoseError("the protected header is not CBOR") from None
    if not isinstance(header, Mapping) or set(header) != {HEADER_ALG} or header[HEADER_ALG] not in ALGORITHMS:
        raise CoseError("the protected header must name ES256 or ES384 and nothing else")
    if set(unprotected) - {HEADER_X5CHAIN}:
        raise CoseError("the unprotected header may hold x5chain only")
    chain = unprotected.get(HEADER_X5CHAIN, [])
    if isinstance(chain, bytes):
        chain = [chain]
    if not isinstance(chain, list | tuple) or not all(isinstance(c, bytes) for c in chain):
        raise CoseError("x5chain is a list of DER certificates")
    return Sign1(protected, header[HEADER_ALG], tuple(chain), payload, signature)


def verify(message: Sign1, public: ec.EllipticCurvePublicKey) -> None:
    """Raise CoseError unless ``public`` made the signature, with the algorithm its curve calls for."""
    if algorithm_of(public) != message.alg:
        raise CoseError("the message's algorithm is not the one of the signer's key")
    _, hash_type, size = ALGORITHMS[message.alg]
    if len(message.signature) != 2 * size:
        raise CoseError(f"an {message.alg} signature is {2 * size} bytes")
    r = int.from_bytes(message.signature[:size], "big")
    s = int.from_bytes(message.signature[size:], "big")
    try:
        public.verify(encode_dss_signature(r, s), message.to_be_signed(), ec.ECDSA(hash_type()))
    except InvalidSignature:
        raise CoseError("the signature does not verify") from None


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload], canonical=True)
