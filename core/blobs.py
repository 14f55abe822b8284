"""Content-addressed blob store: a blob's name is the SHA-256 of its bytes, so storing twice stores once.

``FileBlobStore`` keeps blobs under ``var/blobs/ab/cd/<sha256>``; writes go to a temporary file in the same
directory, are fsynced and renamed into place, so a reader never sees half a blob. Blobs are 0600 and their
directories 0700: an uploaded document is personal data. ``core.database_blobs`` keeps them in the database
instead, for several hosts, behind the same ``BlobStore`` protocol. A blob read whole is checked against its name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from core.errors import Invalid, NotFound
from core.private import make_directory

CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


class BlobTooLarge(Invalid):
    problem = "blob-too-large"


class CorruptBlob(Exception):
    """Stored bytes that no longer hash to their name: the store was damaged, never the caller's fault."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> BlobRef: ...

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef: ...

    def get(self, sha256: str) -> bytes: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def exists(self, sha256: str) -> bool: ...

    def path(self, sha256: str) -> Path: ...

    def size(self, sha256: str) -> int: ...

    def close(self) -> None: ...


def check_digest(sha256: str) -> str:
    if not _DIGEST.match(sha256):
        raise Invalid(f"{sha256!r} is not a lower-case hexadecimal SHA-256")
    return sha256


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        make_directory(root)

    def location(self, sha256: str) -> Path:
        """Where the blob's file is, or would be."""
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> BlobRef:
        return self.put_chunks(iter((data,)))

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        """Store a stream without holding it in memory; refuse it past ``max_size`` bytes."""

        def chunks() -> Iterator[bytes]:
            total = 0
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if max_size is not None and total > max_size:
                    raise BlobTooLarge(f"more than {max_size} bytes", max_size=max_size)
                yield chunk

        return self.put_chunks(chunks())

    def put_chunks(self, chunks: Iterator[bytes], expected: str | None = None) -> BlobRef:
        """Stage, then rename into place; with ``expected``, bytes that hash otherwise are dropped, not kept."""
        digest = hashlib.sha256()
        size = 0
        staging = self.root / "tmp"
        try:
            fd, tmp_name = tempfile.mkstemp(dir=staging)  # made 0600
        except FileNotFoundError:  # the first blob, or the directory was removed: looked for only then
            make_directory(staging)
            fd, tmp_name = tempfile.mkstemp(dir=staging)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            ref = BlobRef(digest.hexdigest(), size)
            if expected is not None and ref.sha256 != expected:
                raise CorruptBlob(f"bytes stored as {expected} hash to {ref.sha256}")
            final = self.location(ref.sha256)
            if final.exists():
                tmp.unlink()
            else:
                try:
                    tmp.replace(final)
                except FileNotFoundError:  # the blob's directory is new
                    make_directory(final.parent)
                    tmp.replace(final)
                _fsync_dir(final.parent)
            return ref
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptBlob(f"the file of blob {sha256} holds other bytes")
        return data

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.location(sha256).open("rb")
        except FileNotFoundError:
            raise NotFound(f"no blob {sha256}") from None

    def exists(self, sha256: str) -> bool:
        return self.location(sha256).is_file()

    def path(self, sha256: str) -> Path:
        """A local file holding the blob, for readers that seek (PDF parsers)."""
        found = self.location(sha256)
        if not found.is_file():
            raise NotFound(f"no blob {sha256}")
        return found

    def size(self, sha256: str) -> int:
        try:
            return self.location(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"no blob {sha256}") from None

    def close(self) -> None:
        """Nothing to release: files are opened per call."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
