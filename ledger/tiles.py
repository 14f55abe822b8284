"""C2SP tlog-tiles: tile paths, and reading perfect-subtree hashes out of stored tiles.

A tile at level L holds up to 256 hashes of perfect subtrees of height 8L. Any perfect subtree of height h is
either one of those hashes (h a multiple of 8) or the fold of 2**(h mod 8) neighbouring hashes of one tile at
level h // 8, which never crosses a tile boundary. So a proof reads at most one tile per level.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from sqlalchemy import select
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


class FullTileCache:
    """Full tiles never change, so every reader of one log can share them."""

    def __init__(self, capacity: int = 2048) -> None:
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> bytes | None:
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
            return tile

    def put(self, key: tuple[int, int], tile: bytes) -> None:
        if len(tile) != TILE_BYTES:
            return
        with self._lock:
            self._tiles[key] = tile
            self._tiles.move_to_end(key)
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)


class TileReader:
    """A NodeReader over the stored tiles, for one request: it keeps the tiles it has read."""

    def __init__(self, session: Session, cache: FullTileCache | None = None) -> None:
        self._session = session
        self._cache = cache
        self._read: dict[tuple[int, int], bytes] = {}

    def tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        tile = self._read.get(key)
        if tile is None and self._cache is not None:
            tile = self._cache.get(key)
        if tile is None:
            tile = self._session.scalar(select(Tile.hashes).where(Tile.level == level, Tile.idx == index)) or b""
            if self._cache is not None:
                self._cache.put(key, tile)
        self._read[key] = tile
        return tile

    def node(self, level: int, index: int) -> bytes:
        tile_level, height = divmod(level, 8)
        first = index << height
        tile = self.tile(tile_level, first >> 8)
        start = (first & (WIDTH - 1)) * HASH_SIZE
        end = start + (HASH_SIZE << height)
        if len(tile) < end:
            raise TileNotFound(f"node {level}/{index} is beyond the integrated tree")
        return fold([tile[i : i + HASH_SIZE] for i in range(start, end, HASH_SIZE)])
