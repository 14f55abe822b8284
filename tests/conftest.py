"""Shared fixtures: one development SoftHSM2 token per test process, and the database under test.

The database is SQLite unless SEALGATE_TEST_DATABASE_URL names a PostgreSQL database; then each test process
gets its own schema in it, dropped at the end. Tests that use the database are marked ``db`` automatically,
which is how CI picks them for the PostgreSQL run.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from core import db, migrate
from core.blobs import FileBlobStore
from core.clock import ManualClock
from core.keystore import Keystore, open_keystore
from core.runtime import Runtime
from core.settings import Settings, load_settings, normalise_database_url
from ledger.service import LogService
from sealgate import MIGRATIONS
from sealgate.schema import metadata
from workflow import catalogs

PG_ENV = "SEALGATE_TEST_DATABASE_URL"
ORIGIN = "sealgate.test/log"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"engine", "unmigrated"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set themselves."""
    for name in list(os.environ):
        if name.startswith("SEALGATE_") and name != PG_ENV:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("token")


@pytest.fixture(scope="session")
def keystore(token_dir: Path) -> Iterator[Keystore]:
    ks = open_keystore(Settings(var_dir=token_dir))
    yield ks
    ks.close()


def _postgres_schema_url(base: str, schema: str) -> str:
    url = make_url(normalise_database_url(base))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_database_url(base))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(database_url: str) -> Iterator[Engine]:
    engine = db.create_db_engine(database_url)
    migrate.upgrade(engine, MIGRATIONS)
    yield engine
    engine.dispose()


def empty(engine: Engine) -> None:
    """Every table emptied, as each test leaves the database, and the catalogues parsed from it forgotten: the
    next test's catalogue versions start again from the same ids."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    catalogs.forget()


@contextmanager
def heard(engine: Engine, name: str, pick: Callable[..., object]) -> Iterator[list[Any]]:
    """What ``pick`` takes from the arguments of each ``name`` event the engine fires while the block runs."""
    seen: list[Any] = []

    def note(*args: Any) -> None:
        seen.append(pick(*args))

    event.listen(engine, name, note)
    try:
        yield seen
    finally:
        event.remove(engine, name, note)


def rollbacks(engine: Engine) -> AbstractContextManager[list[Any]]:
    """The connections that rolled a transaction back while the block ran: on PostgreSQL, psycopg forgets every
    statement a connection prepared at a ROLLBACK, so paths that run often end in COMMIT."""
    return heard(engine, "rollback", lambda conn: conn)


@pytest.fixture
def engine(migrated: Engine) -> Iterator[Engine]:
    """The migrated database, emptied after the test."""
    yield migrated
    empty(migrated)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, token_dir: Path) -> Settings:
    return load_settings(var_dir=tmp_path / "var", database={"url": database_url})


@pytest.fixture
def runtime(settings: Settings, engine: Engine, keystore: Keystore, clock: ManualClock) -> Runtime:
    """A runtime on the shared token and the test database; the fixtures own and close both."""
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=db.session_factory(engine),
        keystore=keystore,
        blobs=FileBlobStore(settings.blob_dir),
        clock=clock,
    )


@pytest.fixture
def log(runtime: Runtime) -> LogService:
    """The log of the test runtime, under a fixed origin; integrate with ``log.integrator.run_until_idle()``."""
    runtime.settings.ledger.origin = ORIGIN
    return LogService.open(runtime)


@pytest.fixture
def unmigrated(tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the kind under test: a SQLite file, or a schema of its own in the PostgreSQL one."""
    base = os.environ.get(PG_ENV)
    if not base:
        engine = db.create_db_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_database_url(base))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = db.create_db_engine(_postgres_schema_url(base, schema))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
