"""C2SP tlog-tiles: tile paths, and reading perfect-subtree hashes out of stored tiles.

A tile at level L holds up to 256 hashes of perfect subtrees of height 8L. Any perfect subtree of height h is
either one of those hashes (h a multiple of 8) or the fold of 2**(h mod 8) neighbouring hashes of one tile at
level h // 8, which never crosses a tile boundary. So a proof reads at most one tile per level.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ledger.merkle import HASH_SIZE, node_hash
from ledger.models import Tile

WIDTH = 256
TILE_BYTES = WIDTH * HASH_SIZE

_PATH = re.compile(
    r"^(?P<level>0|[1-9][0-9]?|entries)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?$"
)


class TileNotFound(LookupError):
    pass


def format_index(n: int) -> str:
    """Tile index as zero-padded 3-digit path elements, all but the last prefixed with 'x'."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int | str, index: int, width: int | None = None) -> str:
    suffix = f".p/{width}" if width is not None and width < WIDTH else ""
    return f"tile/{level}/{format_index(index)}{suffix}"


def parse_tile_path(path: str) -> tuple[int | None, int, int | None]:
    """(level, or None for entry bundles; index; width of a partial tile or None) of a path under tile/."""
    match = _PATH.match(path)
    if match is None:
        raise TileNotFound(f"tile/{path} is not a tile path")
    level_text, width_text = match["level"], match["width"]
    level = None if level_text == "entries" else int(level_text)
    if level is not None and level > 63:
        raise TileNotFound(f"tile level {level} is above 63")
    index = int(match["index"].replace("x", "").replace("/", ""))
    if format_index(index) != match["index"]:
        raise TileNotFound(f"tile/{path}: the index is not written in its one canonical form")
    width = int(width_text) if width_text else None
    if width is not None and width >= WIDTH:
        raise TileNotFound("a partial tile has 1 to 255 entries")
    return level, index, width


def width_at(level: int, index: int, size: int) -> int:
    """How many hashes tile (level, index) has in a tree of ``size`` leaves (0 if none, 256 if full)."""
    available = (size >> (8 * level)) - index * WIDTH
    return max(0, min(WIDTH, available))


def fold(hashes: list[bytes]) -> bytes:
    """The root of a perfect subtree whose 2**k leaves-or-nodes are ``hashes``."""
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


class FullTile:
    """A full tile with every node of its 8-level subtree, so any perfect node inside it is one lookup."""

    __slots__ = ("levels", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        level = [raw[i : i + HASH_SIZE] for i in range(0, TILE_BYTES, HASH_SIZE)]
        self.levels = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)


_TILE = select(Tile.hashes).where(Tile.level == bindparam("level"), Tile.idx == bindparam("idx"))


class TileCache:
    """Tiles shared by every reader of one log. Full tiles never change; a partial tile only grows at its end,
    so a cached one serves any tree it is wide enough for and is read again only when it is too narrow."""

    def __init__(self, capacity: int = 4096) -> None:
        self._full: OrderedDict[tuple[int, int], FullTile] = OrderedDict()
        self._partial: dict[tuple[int, int], bytes] = {}
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int], width: int) -> FullTile | bytes | None:
        with self._lock:
            full = self._full.get(key)
            if full is not None:
                self._full.move_to_end(key)
                return full
            partial = self._partial.get(key)
            return partial if partial is not None and len(partial) >= width * HASH_SIZE else None

    def put(self, key: tuple[int, int], raw: bytes) -> FullTile | bytes:
        if len(raw) != TILE_BYTES:
            with self._lock:
                if len(self._partial) > 1024:  # rightmost tiles of long-gone trees
                    self._partial.clear()
                self._partial[key] = raw
            return raw
        tile = FullTile(raw)
        with self._lock:
            self._partial.pop(key, None)
            self._full[key] = tile
            while len(self._full) > self._capacity:
                self._full.popitem(last=False)
        return tile


class TileReader:
    """A NodeReader over the stored tiles, through a cache shared by the readers of the log."""

    def __init__(self, session: Session, cache: TileCache | None = None) -> None:
        self._session = session
        self._cache = cache if cache is not None else TileCache(capacity=64)

    def _load(self, level: int, index: int, width: int) -> FullTile | bytes:
        key = (level, index)
        cached = self._cache.get(key, width)
        if cached is not None:
            return cached
        raw = self._session.connection().scalar(_TILE, {"level": level, "idx": index}) or b""
        return self._cache.put(key, raw)

    def tile(self, level: int, index: int, width: int = WIDTH) -> bytes:
        """At least ``width`` hashes of the tile if it has them (fewer if it does not)."""
        loaded = self._load(level, index, width)
        return loaded.raw if isinstance(loaded, FullTile) else loaded

    def node(self, level: int, index: int) -> bytes:
        tile_level, height = divmod(level, 8)
        first = index << height
        offset = first & (WIDTH - 1)
        loaded = self._load(tile_level, first >> 8, offset + (1 << height))
        if isinstance(loaded, FullTile):
            return loaded.levels[height][offset >> height]
        start = offset * HASH_SIZE
        end = start + (HASH_SIZE << height)
        if len(loaded) < end:
            raise TileNotFound(f"node {level}/{index} is beyond the integrated tree")
        return fold([loaded[i : i + HASH_SIZE] for i in range(start, end, HASH_SIZE)])
