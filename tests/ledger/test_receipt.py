"""C2SP tlog-proof receipts: exact round trips, offline verification, and each way a receipt can fail."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from ledger.merkle import MemoryTree, inclusion_proof, leaf_hash
from ledger.note import (
    Checkpoint,
    CosignatureSigner,
    Ed25519Signer,
    Note,
    NoteSigner,
    Signature,
    SoftwareKey,
    Verifier,
    add_signatures,
    format_checkpoint,
    format_note,
    parse_note,
    parse_vkey,
    sign_note,
)
from ledger.receipt import (
    HEADER,
    Receipt,
    ReceiptError,
    VerifiedReceipt,
    format_receipt,
    parse_receipt,
    verify_receipt,
)

ORIGIN = "seals.example/log"
ENTRIES = [f"seal event {i}".encode() for i in range(7)]
T = 1_790_000_000


@dataclass(frozen=True)
class SmallLog:
    tree: MemoryTree
    log: Ed25519Signer
    witnesses: tuple[CosignatureSigner, ...]

    def checkpoint(self, signers: list[NoteSigner] | None = None, origin: str = ORIGIN) -> str:
        body = format_checkpoint(Checkpoint(origin, self.tree.size, self.tree.root()))
        return sign_note(body, [self.log, *self.witnesses[:2]] if signers is None else signers)

    def receipt(self, index: int, checkpoint: str | None = None, extra: bytes | None = b"sealed at Xiamen") -> Receipt:
        proof = tuple(inclusion_proof(index, self.tree.size, self.tree))
        return Receipt(index, proof, self.checkpoint() if checkpoint is None else checkpoint, extra)

    @property
    def log_verifiers(self) -> list[Verifier]:
        return [parse_vkey(self.log.vkey)]

    @property
    def witness_verifiers(self) -> list[Verifier]:
        return [parse_vkey(w.vkey) for w in self.witnesses]


def software_signer(name: str) -> Ed25519Signer:
    key = SoftwareKey.generate()
    return Ed25519Signer(name, key.sign, key.public)


def software_cosigner(name: str, when: int = T) -> CosignatureSigner:
    key = SoftwareKey.generate()
    return CosignatureSigner(name, key.sign, key.public, lambda: when)


@pytest.fixture(scope="module")
def small() -> SmallLog:
    witnesses = tuple(software_cosigner(f"witness{i}.example") for i in (1, 2, 3))
    return SmallLog(MemoryTree(leaf_hash(e) for e in ENTRIES), software_signer(ORIGIN), witnesses)


def check(small: SmallLog, r: Receipt, entry: bytes | None, *, quorum: int = 2, origin: str | None = ORIGIN) -> None:
    verify_receipt(
        r,
        entry,
        origin=origin,
        log_verifiers=small.log_verifiers,
        witness_verifiers=small.witness_verifiers,
        witness_quorum=quorum,
    )


def test_format_parse_round_trip_is_exact(small: SmallLog) -> None:
    r = small.receipt(3)
    text = format_receipt(r)
    lines = text.split("\n")
    assert lines[:3] == [HEADER, "extra " + base64.b64encode(b"sealed at Xiamen").decode(), "index 3"]
    assert lines[3:6] == [base64.b64encode(h).decode() for h in r.proof]
    assert lines[6] == ""
    assert text.endswith("\n\n" + r.checkpoint)
    assert parse_receipt(text) == r
    assert parse_receipt(text.encode()) == r
    assert format_receipt(parse_receipt(text)) == text


def test_receipt_without_extra_has_no_extra_line(small: SmallLog) -> None:
    r = small.receipt(0, extra=None)
    text = format_receipt(r)
    assert text.startswith(HEADER + "\nindex 0\n")
    assert parse_receipt(text) == r


@pytest.mark.parametrize("index", range(len(ENTRIES)))
def test_every_entry_verifies(small: SmallLog, index: int) -> None:
    r = parse_receipt(format_receipt(small.receipt(index)))
    verified = verify_receipt(
        r,
        ENTRIES[index],
        origin=ORIGIN,
        log_verifiers=small.log_verifiers,
        witness_verifiers=small.witness_verifiers,
        witness_quorum=2,
    )
    assert verified.entry_checked
    assert verified.index == index
    assert verified.checkpoint == Checkpoint(ORIGIN, len(ENTRIES), small.tree.root())
    assert [s.name for s in verified.log_signatures] == [ORIGIN]
    assert [s.name for s in verified.cosignatures] == ["witness1.example", "witness2.example"]


def test_leaf_hash_instead_of_entry_and_neither(small: SmallLog) -> None:
    r = small.receipt(5)
    keys = small.log_verifiers
    assert verify_receipt(r, None, origin=ORIGIN, log_verifiers=keys, leaf=leaf_hash(ENTRIES[5])).entry_checked
    with pytest.raises(ReceiptError, match="inclusion proof"):
        verify_receipt(r, None, origin=ORIGIN, log_verifiers=keys, leaf=leaf_hash(ENTRIES[4]))
    unchecked = verify_receipt(r, None, origin=ORIGIN, log_verifiers=keys)
    assert not unchecked.entry_checked
    assert unchecked.checkpoint.size == len(ENTRIES)
    with pytest.raises(ReceiptError, match="index"):
        verify_receipt(replace(r, index=7), None, origin=ORIGIN, log_verifiers=keys)
    with pytest.raises(ValueError, match="not both"):
        verify_receipt(r, ENTRIES[5], origin=ORIGIN, log_verifiers=keys, leaf=leaf_hash(ENTRIES[5]))
    with pytest.raises(ValueError, match="32 bytes"):
        verify_receipt(r, None, origin=ORIGIN, log_verifiers=keys, leaf=ENTRIES[5])


def test_single_entry_tree_has_an_empty_proof() -> None:
    signer = software_signer(ORIGIN)
    one = SmallLog(MemoryTree([leaf_hash(b"only")]), signer, ())
    r = one.receipt(0, checkpoint=one.checkpoint([signer]), extra=None)
    assert r.proof == ()
    text = format_receipt(r)
    assert text.startswith(f"{HEADER}\nindex 0\n\n{ORIGIN}\n1\n")
    check(one, parse_receipt(text), b"only", quorum=0)
    with pytest.raises(ReceiptError, match="inclusion proof"):
        check(one, r, b"other", quorum=0)


def test_wrong_entry_fails(small: SmallLog) -> None:
    with pytest.raises(ReceiptError, match="inclusion proof"):
        check(small, small.receipt(2), ENTRIES[3])


def test_wrong_index_fails(small: SmallLog) -> None:
    r = small.receipt(2)
    with pytest.raises(ReceiptError, match="inclusion proof"):
        check(small, replace(r, index=3), ENTRIES[2])
    with pytest.raises(ReceiptError, match="index: 7 is not in a tree of size 7"):
        check(small, replace(r, index=7), ENTRIES[2])


def test_tampered_proof_line_fails(small: SmallLog) -> None:
    text = format_receipt(small.receipt(4))
    lines = text.split("\n")
    digest = bytearray(base64.b64decode(lines[4]))
    digest[0] ^= 0x01
    lines[4] = base64.b64encode(bytes(digest)).decode()
    with pytest.raises(ReceiptError, match="inclusion proof"):
        check(small, parse_receipt("\n".join(lines)), ENTRIES[4])
    with pytest.raises(ReceiptError, match="inclusion proof"):
        check(small, replace(small.receipt(4), proof=small.receipt(4).proof[:-1]), ENTRIES[4])


def test_checkpoint_signed_by_another_key_fails(small: SmallLog) -> None:
    impostor = software_signer(ORIGIN)
    forged = small.receipt(1, checkpoint=small.checkpoint([impostor, *small.witnesses[:2]]))
    with pytest.raises(ReceiptError, match="log signature: no signature from a trusted key"):
        check(small, forged, ENTRIES[1])
    with pytest.raises(ReceiptError, match="log signature"):
        check(small, forged, ENTRIES[1], origin=None)


def test_bad_signature_from_the_log_key_fails(small: SmallLog) -> None:
    note = parse_note(small.checkpoint())
    sig = note.signatures[0]
    broken = Signature(sig.name, sig.key_id, bytes(64))
    r = small.receipt(1, checkpoint=format_note(Note(note.text, (broken, *note.signatures[1:]))))
    with pytest.raises(ReceiptError, match=re.escape("log signature: the signature from seals.example/log")):
        check(small, r, ENTRIES[1])


def test_origin_mismatch_fails_and_no_origin_takes_the_checkpoints(small: SmallLog) -> None:
    r = small.receipt(1)
    with pytest.raises(
        ReceiptError, match=re.escape("origin: the checkpoint is for 'seals.example/log', not 'other.example'")
    ):
        check(small, r, ENTRIES[1], origin="other.example")
    check(small, r, ENTRIES[1], origin=None)
    elsewhere = small.receipt(1, checkpoint=small.checkpoint(origin="other.example"))
    with pytest.raises(ReceiptError, match="origin"):
        check(small, elsewhere, ENTRIES[1])


def test_quorum_not_reached(small: SmallLog) -> None:
    one = small.receipt(6, checkpoint=small.checkpoint([small.log, small.witnesses[0]]))
    check(small, one, ENTRIES[6], quorum=1)
    with pytest.raises(ReceiptError, match="witness quorum: 1 valid cosignatures, 2 required"):
        check(small, one, ENTRIES[6], quorum=2)
    stranger = software_cosigner("witness9.example")
    with pytest.raises(ReceiptError, match="witness quorum: 1 valid"):
        check(
            small, small.receipt(6, checkpoint=small.checkpoint([small.log, small.witnesses[0], stranger])), ENTRIES[6]
        )
    with pytest.raises(ReceiptError, match="witness quorum: 2 valid cosignatures, 3 required"):
        check(small, small.receipt(6), ENTRIES[6], quorum=3)


def test_two_cosignatures_from_one_witness_count_once(small: SmallLog) -> None:
    witness = small.witnesses[0]
    key = SoftwareKey.generate()
    early = CosignatureSigner("w.example", key.sign, key.public, lambda: T)
    late = CosignatureSigner("w.example", key.sign, key.public, lambda: T + 60)
    text = format_checkpoint(Checkpoint(ORIGIN, small.tree.size, small.tree.root()))
    signed = parse_note(sign_note(text, [small.log, witness]))
    again = Signature(late.name, late.key_id, late.sign(text.encode()))
    first = Signature(early.name, early.key_id, early.sign(text.encode()))
    note = format_note(Note(text, (*signed.signatures, first, again)))
    r = small.receipt(0, checkpoint=note)
    witnesses = [parse_vkey(witness.vkey), parse_vkey(early.vkey), parse_vkey(small.witnesses[1].vkey)]

    def verify(quorum: int) -> VerifiedReceipt:
        return verify_receipt(
            r,
            ENTRIES[0],
            origin=ORIGIN,
            log_verifiers=small.log_verifiers,
            witness_verifiers=witnesses,
            witness_quorum=quorum,
        )

    assert len(verify(2).cosignatures) == 3
    with pytest.raises(ReceiptError, match="2 valid cosignatures, 3 required"):
        verify(3)


def test_bad_cosignature_from_a_known_witness_fails(small: SmallLog) -> None:
    note = parse_note(small.checkpoint())
    sig = note.signatures[2]
    broken = Signature(sig.name, sig.key_id, sig.raw[:8] + bytes(64))
    r = small.receipt(1, checkpoint=format_note(Note(note.text, (*note.signatures[:2], broken))))
    with pytest.raises(ReceiptError, match=re.escape("witness cosignature: the signature from witness2.example")):
        check(small, r, ENTRIES[1], quorum=1)


def test_witness_cosignatures_added_later_count(small: SmallLog) -> None:
    note = small.checkpoint([small.log])
    text = parse_note(note).text
    reply = sign_note(text, list(small.witnesses)).removeprefix(text + "\n")
    check(small, small.receipt(2, checkpoint=add_signatures(note, reply)), ENTRIES[2], quorum=3)


def test_a_quorum_larger_than_the_witnesses_is_a_caller_error(small: SmallLog) -> None:
    with pytest.raises(ValueError, match="cannot be met"):
        verify_receipt(small.receipt(0), ENTRIES[0], origin=ORIGIN, log_verifiers=small.log_verifiers, witness_quorum=1)


@pytest.fixture(scope="module")
def good(small: SmallLog) -> str:
    return format_receipt(small.receipt(3))


def mangle(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda t: mangle(t, HEADER, "c2sp.org/tlog-proof@v2"), "first line"),
        (lambda t: mangle(t, HEADER, HEADER + " "), "first line"),
        (lambda t: "\n" + t, "first line"),
        (lambda t: mangle(t, HEADER + "\n", HEADER + "\r\n"), "first line"),
        (lambda t: mangle(t, "index 3\n", ""), "no 'index <n>' line"),
        (lambda t: mangle(t, "index 3", "index 03"), "leading zeros"),
        (lambda t: mangle(t, "index 3", "index -3"), "leading zeros"),
        (lambda t: mangle(t, "index 3", "index  3"), "leading zeros"),
        (lambda t: mangle(t, "index 3", "index 3 "), "leading zeros"),
        (lambda t: mangle(t, "index 3", "Index 3"), "no 'index <n>' line"),
        (lambda t: mangle(t, "extra ", "extra  "), "extra data"),
        (lambda t: mangle(t, "extra ", "extra: "), "no 'index <n>' line"),
        (lambda t: mangle(t, "index 3\n", "index 3\nextra AA==\n"), "proof hash 0: not base64"),
        (lambda t: mangle(t, "index 3\n", "index 3\nnot a hash\n"), "proof hash 0: not base64"),
        (lambda t: mangle(t, "index 3\n", "index 3\nAAAA\n"), "proof hash 0 is 3 bytes"),
        (lambda t: mangle(t, "=\n\n", "=\n \n"), "proof hash 3"),
        (lambda t: t.replace("\n\n", "\n", 1), "proof hash 3: not base64"),
        (lambda t: t.replace("\n\n", "\n"), "no empty line"),
        (lambda t: t + "trailing garbage\n", "checkpoint: a signature line starts with an em dash"),
        (lambda t: t + "\n— extra.example AAAAAAE=\n", "checkpoint"),
        (lambda t: t[:-1], "checkpoint: the last signature line does not end with a newline"),
        (lambda t: mangle(t, f"{ORIGIN}\n7\n", f"{ORIGIN}\n07\n"), "checkpoint: checkpoint size"),
        (lambda t: mangle(t, f"{ORIGIN}\n7\n", f"{ORIGIN}\n"), "checkpoint"),
    ],
)
def test_malformed_receipts_are_rejected(good: str, edit: Callable[[str], str], problem: str) -> None:
    with pytest.raises(ReceiptError, match=problem):
        parse_receipt(edit(good))


def test_not_utf8_and_oversize_receipts_are_rejected(good: str) -> None:
    with pytest.raises(ReceiptError, match="UTF-8"):
        parse_receipt(good.encode().replace(b"index", b"ind\xffx"))
    with pytest.raises(ReceiptError, match="larger than"):
        parse_receipt(good + "x" * (2 << 20))


def test_receipt_fields_are_checked_on_construction(small: SmallLog) -> None:
    r = small.receipt(3)
    with pytest.raises(ReceiptError, match="uint64"):
        replace(r, index=-1)
    with pytest.raises(ReceiptError, match="proof hash 1 is 31 bytes"):
        replace(r, proof=(r.proof[0], r.proof[1][:31]))
    with pytest.raises(ReceiptError, match="at most 64 hashes"):
        replace(r, proof=(r.proof[0],) * 65)
    with pytest.raises(ReceiptError, match="checkpoint"):
        replace(r, checkpoint="not a note\n")
