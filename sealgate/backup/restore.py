"""Restoring a backup onto an empty machine or into an empty database.

Everything is checked before anything is written: the manifest and every file's SHA-256, that the database
named by the settings is of the backup's kind and holds no table, that the blob store and the token directory
are empty, and that no checkpoint the operator says was seen outside (by an auditor, a witness, a bureau)
lies beyond the backup's log, since restoring a shorter log and appending to it would fork the history those
parties hold. The database goes in last and in one step; if any step fails, what this restore made is removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData, create_engine
from sqlalchemy.orm import Session

from core import migrate
from core.blobs import CHUNK, FileBlobStore
from core.errors import ConfigError
from core.private import make_directory, private_files
from core.runtime import open_blobs
from core.settings import Settings, masked_database_url
from ledger.note import Checkpoint, NoteError, open_checkpoint, parse_vkey
from ledger.proofs import LogReader
from ledger.publish import newest
from sealgate.backup import database, manifest
from sealgate.backup.errors import RestoreRefused
from sealgate.backup.manifest import Manifest
from sealgate.backup.take import TOKEN_DIR


@dataclass
class Restored:
    manifest: Manifest
    blobs: int = 0
    warnings: list[str] = field(default_factory=list)


def restore(settings: Settings, source: Path, *, pin_file: Path | None, seen: Sequence[Path] = ()) -> Restored:
    """Restore the backup at ``source`` into the (empty) service that ``settings`` describe."""
    checked = manifest.read_checked(source)
    about = checked.about
    done = Restored(checked)
    url = settings.database_url
    if database.kind(url) != about["database"]:
        raise RestoreRefused(
            f"the backup holds a {about['database']} database, the settings name {database.kind(url)}: "
            "restore into the same kind, then move the data"
        )
    if about["blobs"] == "database" and settings.blobs.backend != "database":
        raise RestoreRefused(
            "the backup keeps its documents in the database: set SEALGATE_BLOBS__BACKEND=database to restore it"
        )
    seen_checkpoints = [_seen(source, path, about["log"]) for path in seen]
    if found := database.tables(url):
        raise RestoreRefused(
            f"the database at {masked_database_url(url)} already holds {len(found)} tables: restore into an empty one"
        )
    blob_names = sorted(name for name in checked.files if name.startswith("blobs/"))
    files_store = settings.blobs.backend == "files"
    if files_store and _holds_blobs(settings.blob_dir):
        raise RestoreRefused(f"the blob store {settings.blob_dir} is not empty: restore into an empty one")
    token = _token_plan(settings, about, pin_file, done.warnings)
    undo: list[Callable[[], None]] = []
    try:
        with private_files():
            if token is not None:
                undo.append(_restore_token(source, checked, settings, token))
            if files_store and blob_names:
                made = not settings.blob_dir.exists()
                done.blobs = _restore_files(source, blob_names, FileBlobStore(settings.blob_dir))
                if made:
                    undo.append(lambda: shutil.rmtree(settings.blob_dir, ignore_errors=True))
            snapshot = next(name for name in checked.files if name.startswith("database/"))
            database.restore(url, source, snapshot)
            undo.append(lambda: _empty_database(url))
            if not files_store and blob_names:
                done.blobs = _restore_into_database(source, blob_names, settings)
            _check_restored(url, about, seen_checkpoints)
    except BaseException:
        for step in reversed(undo):
            step()
        raise
    return done


def _seen(source: Path, path: Path, log: dict[str, object]) -> Checkpoint:
    """A checkpoint seen outside, signed by this log's key, that the backup's log reaches."""
    vkey = source / "public/log.vkey"
    if not vkey.is_file():
        raise RestoreRefused("the backup holds no log key, so a seen checkpoint cannot be checked against it")
    try:
        checkpoint, _ = open_checkpoint(path.read_bytes(), str(log["origin"]), [parse_vkey(vkey.read_text().strip())])
    except (OSError, NoteError, ValueError) as exc:
        raise RestoreRefused(f"{path} is not a checkpoint of this log: {exc}") from None
    size = int(str(log["size"]))
    if checkpoint.size > size:
        raise RestoreRefused(
            f"{path} shows the log at {checkpoint.size} entries, but this backup holds {size}: restoring it and "
            "logging on would fork the history that was seen. Restore a newer backup, one that reaches "
            f"{checkpoint.size} entries (see docs/operations.md, 'A restore that loses entries')"
        )
    if checkpoint.size == size and checkpoint.root.hex() != log["root"]:
        raise RestoreRefused(f"{path} shows another log at {size} entries than this backup holds: a forked log")
    return checkpoint


def _holds_blobs(store: Path) -> bool:
    return store.is_dir() and any(p.is_file() for p in store.rglob("*") if "tmp" not in p.relative_to(store).parts)


def _token_plan(settings: Settings, about: dict[str, object], pin_file: Path | None, warnings: list[str]) -> str | None:
    """The PIN to restore the development token with, or None when the token is not restored."""
    tokens = settings.softhsm_dir / "tokens"
    if settings.keystore.module is not None:
        if about["dev_token"]:
            warnings.append("the backup's development token is not restored: the settings name a PKCS#11 module")
        return None
    if not about["dev_token"]:
        if not tokens.is_dir() or not any(tokens.iterdir()):
            raise RestoreRefused(
                f"the backup holds no token and there is none at {tokens}: the keys of the CA and the log are "
                "in the HSM; name it in the settings (SEALGATE_KEYSTORE__MODULE), or take the backup with "
                "--include-dev-token"
            )
        return None
    if tokens.is_dir() and any(tokens.iterdir()):
        raise RestoreRefused(f"there is already a token at {tokens}: restore into an empty var directory")
    if pin_file is None:
        raise RestoreRefused("the backup holds the development token but never its PIN: give it with --pin-file")
    try:
        pin = pin_file.read_text().strip()
    except OSError as exc:
        raise RestoreRefused(f"--pin-file {pin_file}: {exc.strerror or exc}") from None
    if not pin:
        raise RestoreRefused(f"--pin-file {pin_file} is empty")
    return pin


def _restore_token(source: Path, checked: Manifest, settings: Settings, pin: str) -> Callable[[], None]:
    directory = settings.softhsm_dir
    made = not directory.exists()
    tokens = directory / "tokens"
    for name in sorted(n for n in checked.files if n.startswith(f"{TOKEN_DIR}/")):
        target = tokens / name.removeprefix(f"{TOKEN_DIR}/")
        make_directory(target.parent)
        shutil.copyfile(source / name, target)
        os.chmod(target, 0o600)
    pin_path = directory / f"{settings.keystore.token_label}.pin"
    with open(os.open(pin_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(pin + "\n")

    def undo() -> None:
        shutil.rmtree(directory if made else tokens, ignore_errors=True)
        pin_path.unlink(missing_ok=True)

    return undo


def _restore_files(source: Path, names: list[str], store: FileBlobStore) -> int:
    for name in names:
        with (source / name).open("rb") as f:
            store.put_chunks(iter(lambda f=f: f.read(CHUNK), b""), expected=Path(name).name)  # type: ignore[misc]
    return len(names)


def _restore_into_database(source: Path, names: list[str], settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        store = open_blobs(settings, engine)
    except ConfigError as exc:
        raise RestoreRefused(str(exc)) from None
    try:
        for name in names:
            with (source / name).open("rb") as f:
                ref = store.put_stream(f)
            if ref.sha256 != Path(name).name:
                raise RestoreRefused(f"{name} hashes to {ref.sha256}")
    finally:
        store.close()
        engine.dispose()
    return len(names)


def _check_restored(url: str, about: dict[str, object], seen: Sequence[Checkpoint]) -> None:
    """The restored database is the one the manifest describes, and it reaches every seen checkpoint."""
    engine = create_engine(url)
    try:
        if (schema := migrate.current(engine)) != about["schema"]:
            raise RestoreRefused(f"the restored database is at schema {schema}, the backup says {about['schema']}")
        log = about["log"]
        assert isinstance(log, dict)
        with Session(engine) as session:
            last = newest(session, published=True)
            size = 0 if last is None else last.size
            if size != log["size"] or (last is not None and last.root.hex() != log["root"]):
                raise RestoreRefused("the restored log is not the one the backup's manifest describes")
            for checkpoint in seen:
                if checkpoint.size and LogReader().root(session, checkpoint.size) != checkpoint.root:
                    raise RestoreRefused(
                        f"a seen checkpoint of {checkpoint.size} entries does not match this backup's log: a fork"
                    )
    finally:
        engine.dispose()


def _empty_database(url: str) -> None:
    """Undo a database restore: the database was empty before it."""
    engine = create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()
