"""The content-addressed blob store on the filesystem."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from core.blobs import BlobTooLarge, FileBlobStore
from core.errors import Invalid, NotFound


def test_put_get_and_address(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    data = "村委会证明".encode() * 1000
    ref = store.put(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.get(ref.sha256) == data
    assert store.exists(ref.sha256)
    assert store.size(ref.sha256) == len(data)
    assert (tmp_path / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256).is_file()


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    first = store.put(b"same bytes")
    second = store.put_stream(io.BytesIO(b"same bytes"))
    assert first == second
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1


def test_stream_larger_than_a_chunk(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    data = bytes(range(256)) * 20_000  # 5 MiB, several chunks
    ref = store.put_stream(io.BytesIO(data))
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    with store.open(ref.sha256) as f:
        assert f.read() == data


def test_oversized_stream_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        store.put_stream(io.BytesIO(b"x" * 3_000_000), max_size=2_000_000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unknown_and_malformed_digests(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(Invalid):
        store.get("../../etc/passwd")
    assert not store.exists("f" * 64)
