"""Reading the log: entries, proofs from the stored tiles, the published checkpoint, receipts, and waiting
for an appended event to be integrated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid, NotFound
from ledger.merkle import HASH_SIZE, consistency_proof, inclusion_proof, root
from ledger.models import Checkpoint, Entry
from ledger.publish import newest
from ledger.receipt import Receipt, format_receipt
from ledger.tiles import WIDTH, TileCache, TileReader, tile_path, width_at


class NotIntegrated(TimeoutError):
    pass


@dataclass(frozen=True)
class Integrated:
    index: int
    size: int
    checkpoint: str
    proof: list[bytes]

    @property
    def receipt(self) -> str:
        return format_receipt(Receipt(index=self.index, proof=tuple(self.proof), checkpoint=self.checkpoint))


class LogReader:
    """Proofs over the published tree, sharing one cache of full tiles between requests."""

    def __init__(self) -> None:
        self.cache = TileCache()

    def reader(self, session: Session) -> TileReader:
        return TileReader(session, self.cache)

    def published(self, session: Session) -> Checkpoint:
        checkpoint = newest(session, published=True)
        if checkpoint is None:
            raise NotFound("the log has not published a checkpoint yet")
        return checkpoint

    def entry(self, session: Session, index: int) -> Entry:
        if index < 0 or index >= self.published(session).size:
            raise NotFound(f"no entry {index} in the published log")
        found = session.get(Entry, index)
        if found is None:
            raise NotFound(f"no entry {index}")
        return found

    def entry_by_event(self, session: Session, event_id: str) -> Entry | None:
        return session.scalar(select(Entry).where(Entry.event_id == event_id))

    def tile(self, session: Session, level: int | None, index: int, width: int | None) -> bytes:
        """Tile ``level``/``index`` of the published tree, or with ``level`` None its bundle of entries: the full
        tile, or the partial one of ``width`` where the tree ends inside it."""
        size = self.published(session).size
        available = width_at(level or 0, index, size)
        wanted = width or WIDTH
        if available == 0 or (available < WIDTH and wanted > available) or (width is None and available < WIDTH):
            path = tile_path("entries" if level is None else level, index, width)
            raise NotFound(f"{path} is not in the published tree of size {size}")
        if level is None:
            bodies = session.scalars(
                select(Entry.body)
                .where(Entry.idx >= index * WIDTH, Entry.idx < index * WIDTH + wanted)
                .order_by(Entry.idx)
            )
            return b"".join(len(body).to_bytes(2, "big") + body for body in bodies)
        return self.reader(session).tile(level, index, wanted)[: wanted * HASH_SIZE]

    def receipt(self, session: Session, index: int) -> str:
        """The receipt of published entry ``index``: a C2SP tlog-proof against the published checkpoint."""
        done = self.integrated(session, self.entry(session, index).event_id)
        assert done is not None, "an entry of the published tree is integrated"
        return done.receipt

    def inclusion(self, session: Session, index: int, size: int) -> list[bytes]:
        self._within(session, size)
        if not 0 <= index < size:
            raise Invalid(f"index {index} is not in a tree of size {size}")
        return inclusion_proof(index, size, self.reader(session))

    def consistency(self, session: Session, size1: int, size2: int) -> list[bytes]:
        self._within(session, size2)
        if not 0 <= size1 <= size2:
            raise Invalid(f"no consistency proof from size {size1} to size {size2}")
        return consistency_proof(size1, size2, self.reader(session))

    def root(self, session: Session, size: int) -> bytes:
        self._within(session, size)
        return root(size, self.reader(session))

    def _within(self, session: Session, size: int) -> None:
        published = self.published(session).size
        if size > published:
            raise Invalid(f"size {size} is beyond the published tree of size {published}")

    def integrated(self, session: Session, event_id: str) -> Integrated | None:
        found = self.entry_by_event(session, event_id)
        if found is None:
            return None
        checkpoint = newest(session, published=True)
        if checkpoint is None or checkpoint.size <= found.idx:
            return None
        proof = inclusion_proof(found.idx, checkpoint.size, self.reader(session))
        return Integrated(found.idx, checkpoint.size, checkpoint.note, proof)

    def await_integrated(
        self, sessions: Callable[[], Session], event_id: str, timeout: float = 30.0, poll: float = 0.05
    ) -> Integrated:
        """Block until the event is in a published checkpoint; returns its index and inclusion proof."""
        deadline = time.monotonic() + timeout
        while True:
            with sessions() as session:
                done = self.integrated(session, event_id)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise NotIntegrated(f"event {event_id} was not integrated within {timeout:g} s")
            time.sleep(poll)

    async def await_integrated_async(
        self, sessions: Callable[[], Session], event_id: str, timeout: float = 30.0, poll: float = 0.05
    ) -> Integrated:
        deadline = time.monotonic() + timeout
        while True:
            done = await asyncio.to_thread(self._check, sessions, event_id)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise NotIntegrated(f"event {event_id} was not integrated within {timeout:g} s")
            await asyncio.sleep(poll)

    def _check(self, sessions: Callable[[], Session], event_id: str) -> Integrated | None:
        with sessions() as session:
            return self.integrated(session, event_id)
