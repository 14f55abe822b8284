"""Database engine and sessions: SQLite (WAL) under ``var/`` by default, PostgreSQL in production.

SQLite is opened so that it behaves under concurrent writers: WAL, a busy timeout, foreign keys on, and every
transaction begun IMMEDIATE so that a reader never fails half-way when it turns writer. Sessions that only read
(``read_session_factory``) begin DEFERRED instead, and so never wait for a writer.

On PostgreSQL, psycopg prepares a statement once a connection has run it five times, and forgets every prepared
statement of the connection at a ROLLBACK. Read-only sessions run in autocommit there: at READ COMMITTED each
statement takes its own snapshot anyway, so they lose nothing and save the BEGIN, the ROLLBACK and the prepared
statements. The pool pings a connection only when it comes back from a long rest (``_ping_rested``), not at
every checkout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.orm import Session as Session
from sqlalchemy.types import TypeDecorator

from core import deferred

READ_ONLY = "sealgate_read_only"
_MEMO = "core.db.once_per_transaction"
T = TypeVar("T")
REST_BEFORE_PING = 5.0  # seconds in the pool after which a connection is pinged before use

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both engines (SQLite keeps no zone; it gets UTC back on the way out)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def create_db_engine(url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _tune_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"connect_timeout": max(1, int(connect_timeout))},
    )
    _ping_rested(engine)
    deferred.install(engine)
    return engine


def _ping_rested(engine: Engine) -> None:
    """Ping a connection at checkout only if it rested in the pool for REST_BEFORE_PING seconds.

    ``pool_pre_ping`` costs a round trip per transaction. A connection that dies while in steady use fails its
    one transaction instead, and SQLAlchemy then replaces every connection of the pool.
    """

    @event.listens_for(engine, "checkin")
    def _rest(_dbapi_conn: Any, record: Any) -> None:
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("rested_since", None)
        if since is None or time.monotonic() - since < REST_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the connection did not answer a ping") from exc


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that only read: on SQLite they take no write lock, on PostgreSQL no transaction."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return sessionmaker(engine.execution_options(**options), expire_on_commit=False)


def once_per_transaction(session: Session, key: Hashable, read: Callable[[], T]) -> T:
    """``read()`` the first time the session's transaction asks for ``key``, the same value after: a batch of
    requests executed in one transaction reads its seal's certificate once, as one request does. The next
    transaction reads again. Outside a transaction, every call reads."""
    transaction = session.get_transaction()
    if transaction is None:
        return read()
    held = session.info.get(_MEMO)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[_MEMO] = held
    memo: dict[Hashable, Any] = held[1]
    if key not in memo:
        memo[key] = read()
    return cast(T, memo[key])


def advisory_key(*name: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for a name given in parts."""
    return int.from_bytes(hashlib.sha256("\0".join(name).encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Run the block while holding a lock that every process on this database respects: a transaction advisory
    lock on PostgreSQL (keyed by the schema too), the database's write lock on SQLite (BEGIN IMMEDIATE)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            schema = conn.scalar(select(func.current_schema())) or "public"
            conn.execute(select(func.pg_advisory_xact_lock(advisory_key("sealgate", name, schema))))
        else:
            conn.execute(text("SELECT 1"))  # the first statement begins the transaction, IMMEDIATE
        yield
        conn.rollback()


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
