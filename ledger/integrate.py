"""Integration: newly sequenced leaves grow the tree state (a compact range) and the tiles, in one transaction.

Each leaf goes into its level-0 tile; each perfect subtree of height 8k that it completes goes into the tile
at level k. Tiles only ever grow at their end, which is checked, so a bug cannot rewrite history silently.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ledger.merkle import EMPTY_ROOT, HASH_SIZE, CompactRange
from ledger.models import Tile, TreeState
from ledger.sql import insert_for
from ledger.tiles import WIDTH

STATE_ROW = 1


class TreeCorrupt(RuntimeError):
    """Stored tiles disagree with the tree state; integration stops rather than guess."""


@dataclass(frozen=True)
class Tree:
    size: int
    root: bytes


def load(session: Session, *, for_update: bool = False) -> tuple[TreeState, CompactRange]:
    query = select(TreeState).where(TreeState.id == STATE_ROW)
    if for_update:
        query = query.with_for_update()
    state = session.scalar(query)
    if state is None:
        state = TreeState(id=STATE_ROW, size=0, root=EMPTY_ROOT, compact=b"")
        session.add(state)
        session.flush()
    hashes = [state.compact[i : i + HASH_SIZE] for i in range(0, len(state.compact), HASH_SIZE)]
    return state, CompactRange(state.size, hashes)


def current(session: Session) -> Tree:
    state = session.get(TreeState, STATE_ROW)
    return Tree(0, EMPTY_ROOT) if state is None else Tree(state.size, state.root)


def integrate(session: Session, state: TreeState, tree: CompactRange, leaves: list[bytes]) -> Tree:
    if not leaves:
        return Tree(state.size, state.root)
    additions: dict[tuple[int, int], list[tuple[int, bytes]]] = defaultdict(list)
    for leaf in leaves:
        position = tree.size
        additions[(0, position // WIDTH)].append((position % WIDTH, leaf))
        for level, index, node in tree.append(leaf):
            if level % 8 == 0:
                additions[(level // 8, index // WIDTH)].append((index % WIDTH, node))
    _extend_tiles(session, additions)
    root = tree.root()
    state.size = tree.size
    state.root = root
    state.compact = b"".join(tree.hashes)
    return Tree(tree.size, root)


def _extend_tiles(session: Session, additions: dict[tuple[int, int], list[tuple[int, bytes]]]) -> None:
    keys = list(additions)
    stored = {
        (level, idx): hashes
        for level, idx, hashes in session.execute(
            select(Tile.level, Tile.idx, Tile.hashes).where(tuple_(Tile.level, Tile.idx).in_(keys))
        )
    }
    rows = []
    for key, new in additions.items():
        existing = stored.get(key, b"")
        if new[0][0] * HASH_SIZE != len(existing):
            raise TreeCorrupt(f"tile {key} holds {len(existing) // HASH_SIZE} hashes, next is {new[0][0]}")
        rows.append({"level": key[0], "idx": key[1], "hashes": existing + b"".join(h for _, h in new)})
    statement = insert_for(session, Tile)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Tile.level, Tile.idx], set_={"hashes": statement.excluded.hashes}
        ),
        rows,
    )
