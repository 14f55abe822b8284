"""Blobs in the database: two hosts' stores on one database, each with its own cache, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from core.blobs import CHUNK, BlobTooLarge, CorruptBlob, FileBlobStore
from core.database_blobs import DatabaseBlobStore, blob_chunks, blobs
from core.errors import ConfigError, Invalid, NotFound
from core.runtime import open_blobs
from core.settings import load_settings

DOCUMENT = "村委会证明".encode() * 200_000  # 3 MB: three chunks, the last one short


@pytest.fixture
def hosts(engine: Engine, tmp_path: Path) -> Iterator[tuple[DatabaseBlobStore, DatabaseBlobStore]]:
    """Two hosts' stores on the test database: each its own cache, its own connections."""
    made = (DatabaseBlobStore(engine, tmp_path / "a"), DatabaseBlobStore(engine, tmp_path / "b"))
    yield made
    for store in made:
        store.close()


def _rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(blobs)).scalar_one(),
            conn.execute(select(func.count()).select_from(blob_chunks)).scalar_one(),
        )


def test_a_blob_stored_on_one_host_is_read_on_the_other(
    engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]
) -> None:
    a, b = hosts
    ref = a.put_stream(io.BytesIO(DOCUMENT))
    assert ref.sha256 == hashlib.sha256(DOCUMENT).hexdigest()
    assert ref.size == len(DOCUMENT)
    assert _rows(engine) == (1, -(-len(DOCUMENT) // CHUNK)) == (1, 3)
    assert not b.cache.exists(ref.sha256)
    assert b.exists(ref.sha256)
    assert b.size(ref.sha256) == len(DOCUMENT)
    assert b.get(ref.sha256) == DOCUMENT
    assert b.path(ref.sha256).read_bytes() == DOCUMENT
    assert b.cache.exists(ref.sha256)  # fetched once into b's cache
    with b.open(ref.sha256) as f:
        assert f.read() == DOCUMENT


def test_storing_again_writes_nothing(engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]) -> None:
    a, b = hosts
    first = a.put(DOCUMENT)
    assert b.put(DOCUMENT) == first
    assert a.put_stream(io.BytesIO(DOCUMENT)) == first
    assert _rows(engine) == (1, 3)
    empty = a.put(b"")
    assert b.get(empty.sha256) == b""
    assert _rows(engine) == (2, 3)


def test_the_same_blob_stored_at_once_by_two_hosts_is_stored_once(
    engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]
) -> None:
    with ThreadPoolExecutor(2) as pool:
        refs = list(pool.map(lambda store: store.put(DOCUMENT), hosts))
    assert refs[0] == refs[1]
    assert _rows(engine) == (1, 3)
    assert hosts[1].get(refs[0].sha256) == DOCUMENT


def test_a_damaged_cached_copy_is_fetched_anew(hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]) -> None:
    a, b = hosts
    ref = a.put(DOCUMENT)
    cached = b.path(ref.sha256)
    cached.write_bytes(DOCUMENT[:-1] + b"X")  # same size: found by its hash, not its length
    assert b.path(ref.sha256).read_bytes() == DOCUMENT
    cached.unlink()  # the cache emptied: fetched again
    assert b.get(ref.sha256) == DOCUMENT


def test_damaged_rows_are_never_handed_out(engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]) -> None:
    a, b = hosts
    ref = a.put(DOCUMENT)
    with engine.begin() as conn:
        chunk = blob_chunks.c
        conn.execute(
            update(blob_chunks).where(chunk.sha256 == ref.sha256, chunk.number == 1).values(data=b"\0" * CHUNK)
        )
    with pytest.raises(CorruptBlob):
        b.path(ref.sha256)
    with pytest.raises(CorruptBlob):
        b.get(ref.sha256)
    assert not b.cache.exists(ref.sha256)
    assert [p for p in b.cache.root.rglob("*") if p.is_file()] == []
    with engine.begin() as conn:
        conn.execute(blob_chunks.delete().where(blob_chunks.c.number == 2))
    with pytest.raises(CorruptBlob, match="lacks its chunk"):
        b.get(ref.sha256)


def test_oversized_unknown_and_malformed(engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]) -> None:
    a, _ = hosts
    with pytest.raises(BlobTooLarge):
        a.put_stream(io.BytesIO(b"x" * 3_000_000), max_size=2_000_000)
    assert _rows(engine) == (0, 0)
    with pytest.raises(NotFound):
        a.get("0" * 64)
    with pytest.raises(NotFound):
        a.size("0" * 64)
    assert not a.exists("f" * 64)
    for bad in ("../../etc/passwd", "A" * 64):
        with pytest.raises(Invalid):
            a.path(bad)
        with pytest.raises(Invalid):
            a.exists(bad)


class _Stream(io.RawIOBase):
    """``size`` bytes of a repeated pattern, made as they are read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = os.urandom(CHUNK)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


def test_a_large_upload_is_never_held_whole(engine: Engine, hosts: tuple[DatabaseBlobStore, DatabaseBlobStore]) -> None:
    a, b = hosts
    size = 48 * CHUNK
    tracemalloc.start()
    try:
        ref = a.put_stream(io.BufferedReader(_Stream(size)))
        b.path(ref.sha256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == size
    assert _rows(engine) == (1, 48)
    assert peak < 8 * CHUNK, f"{peak} bytes at the peak for a {size}-byte blob"
    assert b.size(ref.sha256) == size


def test_the_setting_picks_the_store(engine: Engine, tmp_path: Path) -> None:
    files = open_blobs(load_settings(var_dir=tmp_path), engine)
    assert isinstance(files, FileBlobStore)
    assert files.root == tmp_path / "blobs"
    settings = load_settings(var_dir=tmp_path, blobs={"backend": "database"})
    if engine.dialect.name != "postgresql":
        with pytest.raises(ConfigError) as refused:
            open_blobs(settings, engine)
        assert refused.value.setting == "SEALGATE_BLOBS__BACKEND"
        return
    settings = load_settings(
        var_dir=tmp_path,
        blobs={"backend": "database"},
        database={"url": engine.url.render_as_string(hide_password=False)},
    )
    store = open_blobs(settings, engine)
    try:
        assert isinstance(store, DatabaseBlobStore)
        assert store.cache.root == tmp_path / "blobs"
        assert store.get(store.put(b"%PDF-1.7").sha256) == b"%PDF-1.7"
    finally:
        store.close()
