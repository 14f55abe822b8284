"""Taking a backup while the service runs.

Order matters for consistency without stopping anything: the database snapshot first, then the blob store.
A blob is stored (and fsynced) before the transaction that names it commits, and blobs are never deleted, so
every blob the snapshot names is already in the store when it is copied; blobs stored later are harmless extras.
Every blob is checked against its name while it is copied, so a damaged store is found now, not at restore.

The development token is copied only when asked, with a warning (a real HSM has its own backup); the PIN never
is, from either. Nothing the settings hold as a secret is written: they are saved as ``sealgate config show``
prints them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Certificate
from core import migrate
from core.blobs import CHUNK, check_digest
from core.errors import Invalid
from core.keystore import open_keystore
from core.private import make_directory, private_files
from core.runtime import open_database
from core.settings import Settings, shown_settings
from core.version import VERSION
from ledger.note import Ed25519Verifier, parse_checkpoint, parse_note
from ledger.publish import newest
from sealgate import MIGRATIONS
from sealgate.backup import database, manifest
from sealgate.backup.errors import BackupRefused
from sealgate.backup.manifest import FileRecord, Manifest

TOKEN_DIR = "token"


@dataclass(frozen=True)
class Taken:
    manifest: Manifest
    blobs: int
    warnings: list[str]


def take(settings: Settings, target: Path, *, include_dev_token: bool, now: dt.datetime) -> Taken:
    """Write a backup of the service that ``settings`` describe into the new or empty directory ``target``."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupRefused(f"{target} is not an empty directory: a backup goes into a new one")
    if include_dev_token and settings.keystore.module is not None:
        raise BackupRefused("--include-dev-token: the settings name a PKCS#11 module; back it up with its own tools")
    warnings: list[str] = []
    try:
        with private_files():
            make_directory(target)
            return _take(settings, target, include_dev_token=include_dev_token, now=now, warnings=warnings)
    except BaseException:
        _clear(target)  # an unfinished backup is not left to be mistaken for one, nor in the way of the next
        raise


def _clear(target: Path) -> None:
    if target.is_dir():
        for child in target.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _take(settings: Settings, target: Path, *, include_dev_token: bool, now: dt.datetime, warnings: list[str]) -> Taken:
    files: dict[str, FileRecord] = {}
    engine = open_database(settings, migrations=None)
    try:
        schema = migrate.current(engine)
        if schema is None:
            raise BackupRefused("the database has no schema yet: there is nothing to back up")
        with database.snapshot(engine, target) as (name, view):
            log = _public(view, settings, target, files)
        files[name] = manifest.file_digest(target / name)
    finally:
        engine.dispose()
    blobs = _copy_blobs(settings.blob_dir, target, files) if settings.blobs.backend == "files" else 0
    files.update(_write(target, "settings.toml", tomli_w.dumps(shown_settings(settings)).encode()))
    if include_dev_token:
        warnings.append(
            "the backup holds the development token's keys (never its PIN): keep it as safe as the token itself"
        )
        _copy_token(settings.softhsm_dir / "tokens", target, files)
    about: dict[str, Any] = {
        "format": manifest.FORMAT,
        "taken_at": now.isoformat(),
        "sealgate": VERSION,
        "schema": schema,
        "newest_schema": migrate.head(MIGRATIONS),
        "database": engine.dialect.name,
        "blobs": settings.blobs.backend,
        "dev_token": include_dev_token,
        "log": log,
    }
    taken = Manifest(about, files)
    manifest.write(target, taken)
    return Taken(taken, blobs, warnings)


def _public(view: Session, settings: Settings, target: Path, files: dict[str, FileRecord]) -> dict[str, Any]:
    """The CA's certificates, the newest published checkpoint and the log's verifier key, as of the snapshot."""
    for serial, role, der in view.execute(select(Certificate.serial, Certificate.role, Certificate.der)):
        files.update(_write(target, f"public/certificates/{role}-{serial}.der", der))
    checkpoint = newest(view, published=True)
    origin = settings.log_origin
    log: dict[str, Any] = {"origin": origin, "size": 0, "root": None}
    if checkpoint is not None:
        body = parse_checkpoint(parse_note(checkpoint.note).text)
        log = {"origin": body.origin, "size": body.size, "root": body.root.hex()}
        files.update(_write(target, "public/checkpoint", checkpoint.note.encode()))
    if settings.keystore.module is None and not (settings.softhsm_dir / "tokens").is_dir():
        return log  # no token yet, so no log key: opening the keystore would make one
    keystore = open_keystore(settings)
    try:
        public = keystore.info(origin).public_key if keystore.has(origin) else None
    finally:
        keystore.close()
    if isinstance(public, ed25519.Ed25519PublicKey):
        vkey = Ed25519Verifier(origin, public.public_bytes_raw()).vkey
        files.update(_write(target, "public/log.vkey", (vkey + "\n").encode()))
    return log


def _copy_blobs(store: Path, target: Path, files: dict[str, FileRecord]) -> int:
    copied = 0
    if not store.is_dir():
        return 0
    for directory, subdirectories, names in os.walk(store):
        subdirectories[:] = [d for d in subdirectories if d != "tmp"]  # blobs being written, not yet named
        for name in names:
            source = Path(directory) / name
            try:
                check_digest(name)
            except Invalid:
                continue  # not a blob: a write probe, an editor's file
            relative = source.relative_to(store).as_posix()
            record = _copy_file(source, target / "blobs" / relative)
            if record.sha256 != name:
                raise BackupRefused(f"blob {name} in {store} is damaged: its bytes hash to {record.sha256}")
            files[f"blobs/{relative}"] = record
            copied += 1
    return copied


def _copy_token(tokens: Path, target: Path, files: dict[str, FileRecord]) -> None:
    if not tokens.is_dir():
        raise BackupRefused(f"--include-dev-token: there is no development token at {tokens}")
    for source in sorted(p for p in tokens.rglob("*") if p.is_file()):
        if source.suffix in (".pin", ".lock"):
            continue
        relative = f"{TOKEN_DIR}/{source.relative_to(tokens).as_posix()}"
        files[relative] = _copy_file(source, target / relative)


def _copy_file(source: Path, target: Path) -> FileRecord:
    """Copy, hashing what was read (flushed to disk with the rest before the manifest is written)."""
    make_directory(target.parent)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return FileRecord(digest.hexdigest(), size)


def _write(target: Path, name: str, data: bytes) -> dict[str, FileRecord]:
    path = target / name
    make_directory(path.parent)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)
    return {name: FileRecord(hashlib.sha256(data).hexdigest(), len(data))}
