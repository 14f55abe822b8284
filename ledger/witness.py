"""C2SP tlog-witness: the ``add-checkpoint`` protocol, both the witness's side and the log's side.

The witness keeps, per log origin, the newest checkpoint it cosigned; checking the old size against it and
storing the new one happen under one row lock, so two racing requests can never roll the witness back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from ledger.models import WitnessState
from ledger.note import (
    CosignatureSigner,
    NoteError,
    Verifier,
    add_signatures,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
)
from ledger.sql import insert_for

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Submission:
    old_size: int
    proof: list[bytes]
    checkpoint: str


class MalformedSubmission(ValueError):
    pass


def format_submission(old_size: int, proof: Sequence[bytes], checkpoint: str) -> bytes:
    lines = [f"old {old_size}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + checkpoint).encode()


def parse_submission(body: bytes) -> Submission:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedSubmission("the body is not UTF-8") from None
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise MalformedSubmission("no empty line before the checkpoint")
    lines = head.split("\n")
    old_line = lines[0]
    if not old_line.startswith("old ") or not _decimal(old_line[4:]):
        raise MalformedSubmission("the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedSubmission(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise MalformedSubmission("a proof line is not base64") from None
        if len(digest) != HASH_SIZE:
            raise MalformedSubmission("a proof line is not a 32-byte hash")
        proof.append(digest)
    return Submission(int(old_line[4:]), proof, checkpoint)


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))


def add_checkpoint(
    session: Session, body: bytes, logs: Mapping[str, Sequence[Verifier]], cosigner: CosignatureSigner
) -> Reply:
    """Handle one add-checkpoint request; commits when it cosigns."""
    try:
        submission = parse_submission(body)
        note = parse_note(submission.checkpoint)
        origin = parse_checkpoint(note.text).origin
    except (MalformedSubmission, NoteError, ValueError) as exc:
        return Reply(400, f"{exc}\n")
    verifiers = logs.get(origin)
    if verifiers is None:
        return Reply(404, f"unknown log {origin}\n")
    try:
        checkpoint, _ = open_checkpoint(submission.checkpoint, origin, verifiers)
    except NoteError as exc:
        return Reply(403, f"{exc}\n")
    if submission.old_size > checkpoint.size:
        return Reply(400, "old size is larger than the checkpoint size\n")
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        return Reply(422, "a checkpoint of size 0 must have the empty root\n")

    state = _lock_state(session, origin)
    if submission.old_size != state.size:
        session.rollback()
        return Reply(409, f"{state.size}\n", SIZE_CONTENT_TYPE)
    failure = _check_consistency(submission, state, checkpoint.size, checkpoint.root)
    if failure is not None:
        session.rollback()
        return Reply(422, failure + "\n")
    signature = cosigner.sign(note.text.encode())
    line = "— " + cosigner.name + " " + base64.b64encode(cosigner.key_id.to_bytes(4, "big") + signature).decode()
    state.size, state.root = checkpoint.size, checkpoint.root
    state.checkpoint = add_signatures(submission.checkpoint, line + "\n")
    session.commit()
    return Reply(200, line + "\n")


def _lock_state(session: Session, origin: str) -> WitnessState:
    statement = insert_for(session, WitnessState).values(origin=origin, size=0, root=EMPTY_ROOT, checkpoint="")
    session.execute(statement.on_conflict_do_nothing(index_elements=[WitnessState.origin]))
    state = session.scalar(select(WitnessState).where(WitnessState.origin == origin).with_for_update())
    assert state is not None, "the row was inserted just above, or was there already"
    return state


def _check_consistency(submission: Submission, state: WitnessState, size: int, root: bytes) -> str | None:
    if submission.old_size == 0:
        return "the empty tree needs no consistency proof" if submission.proof else None
    if submission.old_size == size:
        if submission.proof:
            return "equal sizes need no consistency proof"
        return None if root == state.root else "same size, different root"
    try:
        verify_consistency(submission.old_size, size, submission.proof, state.root, root)
    except ProofError as exc:
        return f"consistency proof does not verify: {exc}"
    return None


def latest(session: Session, origin_hash: str) -> str | None:
    """The newest checkpoint cosigned for the log whose origin hashes to ``origin_hash`` (monitoring API)."""
    for origin, checkpoint in session.execute(select(WitnessState.origin, WitnessState.checkpoint)):
        if hashlib.sha256(origin.encode()).hexdigest() == origin_hash and checkpoint:
            return str(checkpoint)
    return None


class WitnessUnavailable(RuntimeError):
    pass


class SizeConflict(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"the witness has size {size}")
        self.size = size


def request_cosignature(client: httpx.Client, url: str, submission: bytes) -> str:
    """POST to a witness; returns its signature lines, or raises SizeConflict with the size it holds."""
    try:
        response = client.post(url.rstrip("/") + "/add-checkpoint", content=submission)
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(f"{url}: {exc}") from None
    if response.status_code == 409 and response.text.strip().isdigit():
        raise SizeConflict(int(response.text.strip()))
    if response.status_code != 200:
        raise WitnessUnavailable(f"{url}: {response.status_code} {response.text.strip()[:200]}")
    return response.text
