"""The integrator: the one process per log that sequences, integrates and publishes.

Leadership is a PostgreSQL session advisory lock held on the connection that does all the work (if the
connection dies, so do the lock and the work), or an exclusive file lock beside a SQLite database. A standby
keeps trying and takes over within its poll interval. Each cycle is two transactions: sequence + integrate
(entries, tiles, tree state together), then sign + publish; killed anywhere, a restart redoes or finishes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import Clock
from core.db import advisory_key
from core.errors import Conflict
from ledger import integrate
from ledger.publish import Publisher
from ledger.sequence import sequence

log = logging.getLogger(__name__)


class NotLeader(Conflict):
    """Another integrator holds the log, and this one stopped waiting for it."""

    problem = "not-leader"


@dataclass(frozen=True)
class Cycle:
    integrated: int
    size: int
    signed: bool


def lock_key(origin: str, schema: str) -> int:
    """A signed 64-bit advisory-lock key for one log in one schema."""
    return advisory_key("sealgate-ledger", origin, schema)


class Integrator:
    def __init__(
        self,
        engine: Engine,
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 5000,
        idle_seconds: float = 0.2,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds

    @contextmanager
    def leadership(self, wait: Callable[[], bool]) -> Iterator[Connection | None]:
        """Hold the log's lock while the block runs; ``wait()`` is called between attempts and returning
        False gives up. Yields the connection to work on (PostgreSQL) or None (SQLite: any connection)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                schema = conn.scalar(select(func.current_schema())) or "public"
                key = lock_key(self.publisher.origin, schema)
                conn.commit()
                while not conn.scalar(select(func.pg_try_advisory_lock(key))):
                    conn.commit()
                    if not wait():
                        raise NotLeader("another integrator holds the log")
                conn.commit()
                try:
                    yield conn
                finally:
                    _unlock(conn, key)
        else:
            lock = FileLock(str(_lock_path(self.engine)))
            while True:
                try:
                    lock.acquire(timeout=0)
                    break
                except Timeout:
                    if not wait():
                        raise NotLeader("another integrator holds the log") from None
            try:
                yield None
            finally:
                lock.release()

    def cycle(self, bind: Connection | None) -> Cycle:
        """One batch: sequence and integrate (one transaction), then sign and cosign (each committing)."""
        with Session(bind=bind or self.engine, expire_on_commit=False) as session:
            state, tree = integrate.load(session, for_update=True)
            batch = sequence(session, state.size, self.batch_size)
            integrate.integrate(session, state, tree, batch.leaves)
            session.commit()
            signed = self.publisher.sign(session, self.clock.now()) is not None
            if self.publisher.witnesses:
                self.publisher.cosign(session)
            return Cycle(len(batch.leaves), state.size, signed)

    def run(self, stop: threading.Event) -> None:
        """Lead when possible and integrate until ``stop`` is set; a failed cycle is logged and retried."""
        while not stop.is_set():
            try:
                with self.leadership(lambda: not stop.wait(self.idle_seconds * 5)) as bind:
                    log.info("integrating log %s", self.publisher.origin)
                    while not stop.is_set():
                        done = self.cycle(bind)
                        if done.integrated < self.batch_size:
                            stop.wait(self.idle_seconds)
            except NotLeader:
                return
            except Exception:
                log.exception("integration of log %s failed; retrying", self.publisher.origin)
                stop.wait(1.0)

    def run_until_idle(self, timeout: float = 30.0) -> Cycle:
        """Integrate everything pending now (for tests, the CLI and benchmarks)."""
        deadline = time.monotonic() + timeout
        with self.leadership(lambda: time.monotonic() < deadline) as bind:
            while True:
                done = self.cycle(bind)
                if done.integrated == 0 and not done.signed:
                    return done

    def start(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="ledger-integrator", daemon=True)
        thread.start()
        return thread, stop


def _unlock(conn: Connection, key: int) -> None:
    """Release the lock; if the connection cannot, close it rather than pool it with the lock still held."""
    try:
        conn.rollback()
        conn.execute(select(func.pg_advisory_unlock(key)))
        conn.commit()
    except DBAPIError:
        conn.invalidate()


def _lock_path(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        raise ValueError("the integrator needs a file database or PostgreSQL")
    return Path(database).with_suffix(".integrator.lock")
