"""C2SP tlog-proof@v1 receipts: an entry's index, its inclusion proof and the cosigned checkpoint, in one text.

A receipt lets whoever holds a seal event prove, offline and without asking the log, that the event was logged
and that witnesses saw the same tree. Written by hand from the spec: no Python library implements it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from ledger.note import (
    MAX_NOTE_BYTES,
    MAX_UINT64,
    Checkpoint,
    NoteError,
    Signature,
    Verifier,
    decode_base64,
    parse_checkpoint,
    parse_note,
    parse_uint64,
    verify_note,
    verify_signatures,
)

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64  # an inclusion proof in a tree of up to 2^64 leaves
MAX_RECEIPT_BYTES = MAX_NOTE_BYTES + 64 * 1024  # the checkpoint note, plus room for the proof and extra data


class ReceiptError(ValueError):
    """A receipt that is malformed or does not verify; the message names the part that failed."""


@dataclass(frozen=True)
class Receipt:
    """A tlog proof as written; ``extra`` is unauthenticated and must not be trusted on its own."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_UINT64:
            raise ReceiptError(f"index {self.index} is not a uint64")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise ReceiptError(f"an inclusion proof has at most {MAX_PROOF_HASHES} hashes, not {len(self.proof)}")
        for i, digest in enumerate(self.proof):
            if len(digest) != HASH_SIZE:
                raise ReceiptError(f"proof hash {i} is {len(digest)} bytes, not {HASH_SIZE}")
        try:
            parse_checkpoint(parse_note(self.checkpoint).text)
        except NoteError as exc:
            raise ReceiptError(f"checkpoint: {exc}") from None


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt proved. ``entry_checked`` is False when no entry was given: then the checkpoint and its
    cosignatures are verified, but nothing ties the index to any particular entry."""

    checkpoint: Checkpoint
    index: int
    log_signatures: tuple[Signature, ...]
    cosignatures: tuple[Signature, ...]
    entry_checked: bool


def format_receipt(r: Receipt) -> str:
    lines = [HEADER]
    if r.extra is not None:
        lines.append("extra " + base64.b64encode(r.extra).decode())
    lines.append(f"index {r.index}")
    lines.extend(base64.b64encode(digest).decode() for digest in r.proof)
    return "\n".join(lines) + "\n\n" + r.checkpoint


def _decoded(data: str | bytes) -> str:
    try:
        encoded = data.encode("utf-8") if isinstance(data, str) else data
        if len(encoded) > MAX_RECEIPT_BYTES:
            raise ReceiptError(f"the receipt is larger than {MAX_RECEIPT_BYTES} bytes")
        return encoded.decode("utf-8")
    except UnicodeError:
        raise ReceiptError("the receipt is not valid UTF-8") from None


def parse_receipt(data: str | bytes) -> Receipt:
    """Parse a tlog proof strictly; nothing in it is verified until ``verify_receipt``."""
    text = _decoded(data)
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise ReceiptError("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ReceiptError(f"the first line is not {HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        try:
            extra = decode_base64(rest[0].removeprefix("extra "))
        except ValueError as exc:
            raise ReceiptError(f"extra data: {exc}") from None
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise ReceiptError("no 'index <n>' line after the header")
    try:
        index = parse_uint64(rest[0].removeprefix("index "))
    except ValueError as exc:
        raise ReceiptError(f"index: {exc}") from None
    proof = []
    for i, line in enumerate(rest[1:]):
        try:
            proof.append(decode_base64(line))
        except ValueError as exc:
            raise ReceiptError(f"proof hash {i}: {exc}") from None
    return Receipt(index, tuple(proof), checkpoint, extra)


def verify_receipt(
    r: Receipt,
    entry: bytes | None,
    *,
    origin: str | None,
    log_verifiers: Sequence[Verifier],
    witness_verifiers: Sequence[Verifier] = (),
    witness_quorum: int = 0,
    leaf: bytes | None = None,
) -> VerifiedReceipt:
    """Verify ``r`` by the steps of tlog-proof: log signature and origin, witness quorum, then inclusion of the
    entry (or of its ``leaf`` hash). ``origin=None`` accepts any origin the log keys sign for."""
    if entry is not None and leaf is not None:
        raise ValueError("give the entry or its leaf hash, not both")
    if leaf is not None and len(leaf) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
    if not 0 <= witness_quorum <= len(witness_verifiers):
        raise ValueError(f"a quorum of {witness_quorum} cannot be met by {len(witness_verifiers)} witnesses")
    try:
        signed = verify_note(r.checkpoint, log_verifiers)
        checkpoint = parse_checkpoint(signed.note.text)
    except NoteError as exc:
        raise ReceiptError(f"log signature: {exc}") from None
    if origin is not None and checkpoint.origin != origin:
        raise ReceiptError(f"origin: the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    try:
        cosignatures = verify_signatures(signed.note, witness_verifiers)
    except NoteError as exc:
        raise ReceiptError(f"witness cosignature: {exc}") from None
    witnesses = len({(s.name, s.key_id) for s in cosignatures})
    if witnesses < witness_quorum:
        raise ReceiptError(f"witness quorum: {witnesses} valid cosignatures, {witness_quorum} required")
    if r.index >= checkpoint.size:
        raise ReceiptError(f"index: {r.index} is not in a tree of size {checkpoint.size}")
    target = leaf_hash(entry) if entry is not None else leaf
    if target is not None:
        try:
            verify_inclusion(target, r.index, checkpoint.size, r.proof, checkpoint.root)
        except ProofError as exc:
            raise ReceiptError(f"inclusion proof: {exc}") from None
    return VerifiedReceipt(checkpoint, r.index, signed.verified, cosignatures, target is not None)
