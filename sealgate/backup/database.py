"""A consistent snapshot of the database while the service writes to it, and its restore into an empty one.

SQLite is copied with its online backup API: one read transaction, so the copy is the database as of one
commit while writers go on in the WAL. PostgreSQL is dumped by ``pg_dump`` in custom format under a snapshot
exported from a repeatable-read transaction that stays open, so what the caller reads in that transaction (the
public parts of the CA and the log) is exactly what the dump holds. Both are restored only into a database
that holds no table yet, SQLite through a temporary file renamed into place, PostgreSQL in one transaction.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.private import make_directory
from core.settings import masked_database_url
from sealgate.backup.errors import BackupRefused, RestoreRefused

SQLITE_FILE = "database/sealgate.db"
POSTGRES_FILE = "database/sealgate.pgdump"


def kind(url: str) -> str:
    return make_url(url).get_backend_name()


@contextmanager
def snapshot(engine: Engine, root: Path) -> Iterator[tuple[str, Session]]:
    """Write the database under ``root`` and yield (its file's name, a session that reads the same state)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        target = root / SQLITE_FILE
        target.parent.mkdir(mode=0o700, exist_ok=True)
        _sqlite_copy(_sqlite_path(url), target)
        copy = create_engine(f"sqlite:///file:{target}?mode=ro&uri=true")
        try:
            with Session(copy) as session:
                yield SQLITE_FILE, session
        finally:
            copy.dispose()
        return
    target = root / POSTGRES_FILE
    target.parent.mkdir(mode=0o700, exist_ok=True)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            exported = conn.scalar(text("SELECT pg_export_snapshot()"))
            _run(
                ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={exported}"],
                url,
                ["--file", str(target)],
            )
            with Session(bind=conn) as session:
                yield POSTGRES_FILE, session


def restore(url: str, root: Path, name: str) -> None:
    """Load the snapshot ``name`` of the backup at ``root`` into the empty database at ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = _sqlite_path(parsed)
        make_directory(target.parent)
        partial = target.with_name(target.name + ".restoring")
        partial.unlink(missing_ok=True)
        shutil.copyfile(root / name, partial)
        os.chmod(partial, 0o600)
        with closing(sqlite3.connect(partial)) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()
        if verdict != ("ok",):
            partial.unlink()
            raise RestoreRefused(f"{name} is not a sound SQLite database: {verdict}")
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        partial.replace(target)
        return
    _run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"],
        parsed,
        ["--dbname", _libpq(parsed), str(root / name)],
        dbname=False,
    )


def tables(url: str) -> list[str]:
    """The tables of the database at ``url`` (none when a SQLite file does not exist yet)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not _sqlite_path(parsed).exists():
        return []
    engine = create_engine(parsed)
    try:
        return sorted(inspect(engine).get_table_names())
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise RestoreRefused(f"cannot use the database at {masked_database_url(url)}: {reason}") from None
    finally:
        engine.dispose()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupRefused("an in-memory SQLite database has nothing to back up or restore into")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)  # all pages in one step: one read transaction, one consistent state
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, that readers leave unchanged


def _libpq(url: URL) -> str:
    """The URL for libpq's tools, without the driver and without the password (that goes by environment)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], url: URL, tail: list[str], *, dbname: bool = True) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupRefused(f"{command[0]} is not installed (apt-get install postgresql-client)")
    environment = {**os.environ}
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    argv = [tool, *command[1:], *tail, *([_libpq(url)] if dbname else [])]
    done = subprocess.run(argv, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise BackupRefused(f"{command[0]} failed: {reason[-1] if reason else done.returncode}")
