"""What a backup holds, and the check that it still holds exactly that.

``MANIFEST.json`` lists every other file of the backup with its SHA-256 and size, and carries a digest of its
own content, so one changed byte anywhere (the manifest included) is found and named. It is written last: a
backup without it was never finished. It is written in one canonical layout and must read back byte for byte,
so not even a change of whitespace passes.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import canonical_json
from core.blobs import CHUNK
from sealgate.backup.errors import BackupDamaged

NAME = "MANIFEST.json"
FORMAT = "sealgate-backup/1"


@dataclass(frozen=True)
class FileRecord:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    about: dict[str, Any]  # format, time, versions, database kind, log state: see ``take``
    files: dict[str, FileRecord]  # path relative to the backup, with "/" separators

    def document(self) -> dict[str, Any]:
        body = {**self.about, "files": {name: vars(record) for name, record in sorted(self.files.items())}}
        return {**body, "digest": _digest(body)}


def file_digest(path: Path) -> FileRecord:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileRecord(digest.hexdigest(), size)


def write(root: Path, manifest: Manifest) -> None:
    """Flush everything written under ``root`` to disk, then write the manifest and fsync it and its directory:
    from then on the backup counts as taken."""
    _sync_filesystem(root)
    path = root / NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(_layout(manifest.document()))
        out.flush()
        os.fsync(out.fileno())
    directory = os.open(root, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_checked(root: Path) -> Manifest:
    """The manifest, once every file it names hashes as it says and no other file is there; BackupDamaged
    naming the first file that does not."""
    path = root / NAME
    if not root.is_dir():
        raise BackupDamaged(f"{root} is not a directory")
    if not path.is_file():
        raise BackupDamaged(f"{path} is missing: not a backup, or one that was never finished")
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not an object")
        digest = document.pop("digest")
        files = {name: FileRecord(str(r["sha256"]), int(r["size"])) for name, r in document["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupDamaged(f"{NAME} is damaged: {exc}") from None
    if digest != _digest(document) or raw != _layout({**document, "digest": digest}):
        raise BackupDamaged(f"{NAME} is damaged: its content does not match its digest")
    if document.get("format") != FORMAT:
        raise BackupDamaged(f"{NAME} is of format {document.get('format')!r}; this version reads {FORMAT}")
    present = set(_files(root)) - {NAME}
    if extra := sorted(present - files.keys()):
        raise BackupDamaged(f"{extra[0]} is not in {NAME}: the backup was changed after it was taken")
    for name, record in sorted(files.items()):
        if name not in present:
            raise BackupDamaged(f"{name} is missing")
        if file_digest(root / name) != record:
            raise BackupDamaged(f"{name} is damaged: its SHA-256 or size is not the one recorded")
    about = {k: v for k, v in document.items() if k != "files"}
    return Manifest(about, files)


def _sync_filesystem(root: Path) -> None:
    """syncfs(2) on the backup's file system: one flush for thousands of files, where an fsync each costs a
    journal commit each. The C library's call, as the standard library does not wrap it; ``os.sync`` (every
    file system) where the call is missing."""
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs {root}: {os.strerror(error)}")
    finally:
        os.close(fd)


def _files(root: Path) -> Iterator[str]:
    for directory, _, names in os.walk(root):
        for name in names:
            yield (Path(directory) / name).relative_to(root).as_posix()


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json.dumps(body)).hexdigest()


def _layout(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
