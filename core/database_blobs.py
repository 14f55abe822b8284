"""Blobs in the database, for service processes on several hosts that share it and no filesystem.

A blob is a row of ``blobs`` (its SHA-256, size and number of chunks) and rows of ``blob_chunks`` of at most
``CHUNK`` bytes each, all written in one transaction: a reader finds a whole blob or none, and a 200 MB upload is
neither held in memory nor stored as one giant value. Storing a blob whose row exists already writes nothing.

Each host keeps a cache of blobs in a ``FileBlobStore`` under its ``var/``. A new blob is staged there first,
which hashes it without holding it; readers that need a file (PDF parsers, downloads) get the cache's copy,
fetched chunk by chunk and checked against its name before it is renamed into place. A cached file is hashed
again the first time this process hands it out, and whenever it changed since: a damaged copy is fetched anew.
The cache may be emptied at any time.

The store has its own small connection pool: a caller that holds a session's connection while it stores or reads
a blob then never waits for a connection that callers like it hold.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from core.blobs import CHUNK, BlobRef, CorruptBlob, FileBlobStore, check_digest
from core.db import Base
from core.errors import NotFound

blobs = Table(
    "blobs",
    Base.metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
)

blob_chunks = Table(
    "blob_chunks",
    Base.metadata,
    Column("sha256", String(64), ForeignKey("blobs.sha256"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

_add_chunk = insert(blob_chunks)
REMEMBERED = 65_536  # cached files known to hash right; forgotten all at once past this many


class DatabaseBlobStore:
    def __init__(self, engine: Engine, cache: Path) -> None:
        self.engine = engine
        self.cache = FileBlobStore(cache)
        self._checked: dict[str, tuple[int, int, int]] = {}  # cached file's identity when last hashed
        self._lock = threading.Lock()

    def put(self, data: bytes) -> BlobRef:
        return self._upload(self.cache.put(data))

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        """Stage the stream in the cache (refused past ``max_size`` bytes there), then copy it in."""
        return self._upload(self.cache.put_stream(stream, max_size))

    def _upload(self, ref: BlobRef) -> BlobRef:
        chunks = -(-ref.size // CHUNK)
        digest = hashlib.sha256()
        with self.engine.begin() as conn:
            if not _insert_new(conn, {"sha256": ref.sha256, "size": ref.size, "chunks": chunks}):
                return ref  # stored before, here or by another host
            with self.cache.open(ref.sha256) as f:
                for number in range(chunks):
                    data = f.read(CHUNK)
                    digest.update(data)
                    conn.execute(_add_chunk, {"sha256": ref.sha256, "number": number, "data": data})
            if digest.hexdigest() != ref.sha256:  # the staged file changed under us: store nothing
                raise CorruptBlob(f"the staged file of blob {ref.sha256} changed before it was stored")
        self._remember(ref.sha256, self.cache.path(ref.sha256))
        return ref

    def get(self, sha256: str) -> bytes:
        self.path(sha256)
        return self.cache.get(sha256)  # hashed again: what is returned is what the name says

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self._header(check_digest(sha256)) is not None

    def size(self, sha256: str) -> int:
        header = self._header(check_digest(sha256))
        if header is None:
            raise NotFound(f"no blob {sha256}")
        return header[0]

    def path(self, sha256: str) -> Path:
        """The cache's file of the blob, fetched first if the cache lacks it or holds other bytes."""
        found = self.cache.location(sha256)
        try:
            if self._still_checked(sha256, found) or _hash_file(found) == sha256:
                self._remember(sha256, found)
                return found
            found.unlink(missing_ok=True)
        except FileNotFoundError:  # not cached here, or the cache was emptied meanwhile
            pass
        header = self._header(sha256)
        if header is None:
            raise NotFound(f"no blob {sha256}")
        self.cache.put_chunks(self._chunks(sha256, header[1]), expected=sha256)
        found = self.cache.path(sha256)
        self._remember(sha256, found)
        return found

    def close(self) -> None:
        self.engine.dispose()

    def _header(self, sha256: str) -> tuple[int, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(blobs.c.size, blobs.c.chunks).where(blobs.c.sha256 == sha256)).one_or_none()
        return None if row is None else (int(row.size), int(row.chunks))

    def _chunks(self, sha256: str, count: int) -> Iterator[bytes]:
        query = select(blob_chunks.c.data).where(blob_chunks.c.sha256 == sha256)
        with self.engine.connect() as conn:
            for number in range(count):
                data = conn.execute(query.where(blob_chunks.c.number == number)).scalar_one_or_none()
                if data is None:
                    raise CorruptBlob(f"blob {sha256} lacks its chunk {number}")
                yield bytes(data)

    def _still_checked(self, sha256: str, found: Path) -> bool:
        identity = _identity(found)  # FileNotFoundError if it is not cached
        with self._lock:
            return self._checked.get(sha256) == identity

    def _remember(self, sha256: str, found: Path) -> None:
        with self._lock:
            if len(self._checked) >= REMEMBERED:
                self._checked.clear()
            self._checked[sha256] = _identity(found)


def _insert_new(conn: Connection, values: dict[str, object]) -> bool:
    """Insert a blob's row unless one exists: True if this transaction made it. A concurrent writer of the same
    blob waits here until the first commits, then finds the row."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(blobs).values(**values).on_conflict_do_nothing(index_elements=[blobs.c.sha256])
    return conn.execute(statement.returning(blobs.c.sha256)).first() is not None


def _hash_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
