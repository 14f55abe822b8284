"""Publishing: sign a checkpoint for the integrated tree, gather witness cosignatures, and mark it published.

A checkpoint is signed only for a tree state already committed, and that state only ever grows by appending,
so the log can never sign two inconsistent checkpoints, even if it dies between signing and storing (it then
signs the very same checkpoint again). With witnesses configured, a checkpoint is published only once it
carries cosignatures from a quorum of them.

A witness that has cosigned more of this log than the database holds has seen history the database lost (a
restore to an earlier point, a failover that dropped commits). Any checkpoint signed from here on would fork what
that witness, and whoever it told, already saw, so the publisher stops signing, says so and what to do, and asks
every witness what it holds before the first checkpoint it signs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger import integrate
from ledger.merkle import consistency_proof
from ledger.models import Checkpoint
from ledger.note import Checkpoint as CheckpointBody
from ledger.note import (
    CosignatureVerifier,
    NoteError,
    NoteSigner,
    add_signatures,
    format_checkpoint,
    sign_note,
    verify_note,
)
from ledger.tiles import TileReader
from ledger.witness import SizeConflict, WitnessUnavailable, format_submission, request_cosignature

log = logging.getLogger(__name__)


@dataclass
class WitnessPeer:
    url: str
    verifier: CosignatureVerifier
    known_size: int = 0


_NEWEST = select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)
_NEWEST_PUBLISHED = _NEWEST.where(Checkpoint.published.is_(True))


def newest(session: Session, *, published: bool = False) -> Checkpoint | None:
    """The newest checkpoint signed, or the newest published if ``published``."""
    return session.scalar(_NEWEST_PUBLISHED if published else _NEWEST)


class Publisher:
    def __init__(
        self,
        origin: str,
        signer: NoteSigner,
        witnesses: Sequence[WitnessPeer] = (),
        quorum: int = 0,
        http: httpx.Client | None = None,
    ) -> None:
        if quorum > len(witnesses):
            raise ValueError(f"a quorum of {quorum} needs at least as many witnesses, not {len(witnesses)}")
        self.origin = origin
        self.signer = signer
        self.witnesses = list(witnesses)
        self.quorum = quorum
        self.http = http or httpx.Client(timeout=10.0)
        self.halted: str | None = None  # why no checkpoint may be signed; set once, for the process's life
        self._asked = not self.witnesses

    def sign(self, session: Session, now: dt.datetime) -> Checkpoint | None:
        """Sign a checkpoint for the integrated tree if the newest one is smaller; commits."""
        if not self._asked:
            self._ask_witnesses(session)
        if self.halted is not None:
            session.rollback()
            return None
        tree = integrate.current(session)
        last = newest(session)
        if last is not None and last.size >= tree.size:
            session.commit()  # not the ROLLBACK of closing, at which psycopg forgets the prepared statements
            return None
        note = sign_note(format_checkpoint(CheckpointBody(self.origin, tree.size, tree.root)), [self.signer])
        row = Checkpoint(size=tree.size, root=tree.root, note=note, signed_at=now, published=self.quorum == 0)
        session.add(row)
        session.commit()
        return row

    def cosign(self, session: Session) -> bool:
        """Ask every witness to cosign the newest unpublished checkpoint; publish it at quorum. Commits.

        No transaction stays open while a witness is asked: the witness may be slow, or share the database.
        """
        row = newest(session)
        if row is None or row.published:
            session.rollback()
            return False
        size, note = row.size, row.note
        for peer in self.witnesses:
            if self._cosigned_by(note, peer):
                continue
            try:
                # Only a valid cosignature from this witness's key goes into the note; anything else is refused.
                note = add_signatures(note, self._ask(session, peer, size, note), verifiers=[peer.verifier])
            except (WitnessUnavailable, NoteError) as exc:
                log.warning("witness %s did not cosign checkpoint %d: %s", peer.url, size, exc)
                continue
            peer.known_size = size
        published = sum(self._cosigned_by(note, p) for p in self.witnesses) >= self.quorum
        session.execute(update(Checkpoint).where(Checkpoint.size == size).values(note=note, published=published))
        session.commit()
        return published

    def _ask(self, session: Session, peer: WitnessPeer, size: int, note: str) -> str:
        for _ in range(2):
            old = peer.known_size if peer.known_size <= size else 0
            proof = consistency_proof(old, size, TileReader(session)) if 0 < old < size else []
            session.rollback()
            try:
                return request_cosignature(self.http, peer.url, format_submission(old, proof, note))
            except SizeConflict as conflict:
                if conflict.size > size:
                    self._halt(peer, conflict.size, size)
                    raise WitnessUnavailable(
                        f"{peer.url} has cosigned size {conflict.size}, beyond this checkpoint"
                    ) from None
                peer.known_size = conflict.size
        raise WitnessUnavailable(f"{peer.url} keeps changing its size")

    def _ask_witnesses(self, session: Session) -> None:
        """What each witness holds of this log, asked by offering it the newest checkpoint again (a witness at
        that size cosigns it again; any other answers with its size)."""
        row = newest(session)
        self._asked = True
        if row is None:
            session.rollback()
            return
        size, note = row.size, row.note
        session.rollback()  # no transaction stays open while a witness is asked
        for peer in self.witnesses:
            try:
                request_cosignature(self.http, peer.url, format_submission(size, [], note))
                peer.known_size = size
            except SizeConflict as conflict:
                peer.known_size = conflict.size
                if conflict.size > size:
                    self._halt(peer, conflict.size, size)
            except WitnessUnavailable as exc:
                log.warning("witness %s did not say what it holds of this log: %s", peer.url, exc)

    def _halt(self, peer: WitnessPeer, seen: int, held: int) -> None:
        if self.halted is not None:
            return
        self.halted = (
            f"witness {peer.url} has cosigned {seen} entries of log {self.origin}, but this database's newest "
            f"checkpoint has {held}: history was lost (a restore to an earlier point, or lost commits). No "
            "checkpoint will be signed, since it would fork what was seen. Restore a backup that reaches "
            f"{seen} entries (docs/operations.md, 'A restore that loses entries'), then start the service again"
        )
        log.error("%s", self.halted)

    @staticmethod
    def _cosigned_by(note: str, peer: WitnessPeer) -> bool:
        try:
            verify_note(note, [peer.verifier])
        except NoteError:
            return False
        return True
