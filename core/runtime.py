"""The service's resources, opened from the settings in force and checked before the first request.

Every check that can fail on a bad setting raises ConfigError naming it, so ``sealgate serve`` can say in one
line what to fix. What opening makes under ``var/`` (directories, the SQLite database, the development token and
its PIN) is made private to the service's user (``core.private``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core import db, migrate
from core.blobs import BlobStore, FileBlobStore
from core.clock import Clock, SystemClock
from core.database_blobs import DatabaseBlobStore
from core.errors import ConfigError
from core.keystore import Keystore, open_keystore
from core.private import make_directory, private_files
from core.settings import Settings, env_name, masked_database_url

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keystore: Keystore
    blobs: BlobStore
    clock: Clock = field(default_factory=SystemClock)
    readers: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.readers = db.read_session_factory(self.engine)

    @classmethod
    def open(cls, settings: Settings, *, migrations: str | None, clock: Clock | None = None) -> Runtime:
        """Check every dependency before changing anything, then migrate the schema with the migrations at
        ``migrations`` (None: leave it as it is)."""
        with private_files():
            return cls._open(settings, migrations=migrations, clock=clock)

    @classmethod
    def _open(cls, settings: Settings, *, migrations: str | None, clock: Clock | None) -> Runtime:
        check_writable(settings.var_dir, env_name("var_dir"))
        blob_setting = env_name("blobs", "path") if settings.blobs.path else env_name("var_dir")
        check_writable(settings.blob_dir, blob_setting)
        engine = open_database(settings, migrations=None)
        try:
            blobs = open_blobs(settings, engine)
        except BaseException:
            engine.dispose()
            raise
        try:
            keystore = open_keystore(settings)
            if migrations is not None:
                upgrade_database(engine, settings, migrations)
        except BaseException:
            blobs.close()
            engine.dispose()
            raise
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.session_factory(engine),
            keystore=keystore,
            blobs=blobs,
            clock=clock or SystemClock(),
        )

    def close(self) -> None:
        self.keystore.close()
        self.blobs.close()
        self.engine.dispose()


def open_blobs(settings: Settings, engine: Engine) -> BlobStore:
    """The blob store the settings name. Blobs go in the database only on PostgreSQL: SQLite lets one
    transaction write at a time, and a blob is stored while the caller's own transaction holds that lock."""
    if settings.blobs.backend == "files":
        return FileBlobStore(settings.blob_dir)
    if engine.dialect.name != "postgresql":
        raise ConfigError(
            env_name("blobs", "backend"), f"blobs go in the database only on PostgreSQL ({_database_setting(settings)})"
        )
    own = db.create_db_engine(
        settings.database_url,
        pool_size=settings.blobs.pool_size,
        connect_timeout=settings.database.connect_timeout_seconds,
    )
    return DatabaseBlobStore(own, settings.blob_dir)


def check_writable(directory: Path, setting: str) -> None:
    try:
        make_directory(directory)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(setting, f"{directory} is not writable: {exc.strerror or exc}") from None


def _database_setting(settings: Settings) -> str:
    return env_name("database", "url") if settings.database.url else env_name("var_dir")


def open_database(settings: Settings, *, migrations: str | None) -> Engine:
    """An engine on a database that answers (and is migrated with ``migrations``, if given); ConfigError
    otherwise. A SQLite database made here is private (its journal files take its mode)."""
    with private_files():
        return _open_database(settings, migrations=migrations)


def _open_database(settings: Settings, *, migrations: str | None) -> Engine:
    url = settings.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        check_writable(Path(parsed.database).parent, _database_setting(settings))
    engine = db.create_db_engine(
        url, pool_size=settings.database.pool_size, connect_timeout=settings.database.connect_timeout_seconds
    )
    try:
        try:
            db.ping(engine)
        except (OperationalError, DBAPIError) as exc:
            raise _unusable(settings, exc) from None
        if migrations is not None:
            upgrade_database(engine, settings, migrations)
    except BaseException:
        engine.dispose()
        raise
    return engine


def upgrade_database(engine: Engine, settings: Settings, migrations: str) -> None:
    try:
        migrate.upgrade(engine, migrations)
    except (OperationalError, DBAPIError) as exc:
        raise _unusable(settings, exc) from None


def _unusable(settings: Settings, exc: DBAPIError) -> ConfigError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    url = masked_database_url(settings.database_url)
    return ConfigError(_database_setting(settings), f"cannot use the database at {url}: {reason}")
