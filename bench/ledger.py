"""The log's numbers, each beside a baseline measured in the same run.

1. Sustained append throughput on PostgreSQL, 32 writers committing one entry per transaction and the
   integrator thread with `sealgate serve`'s settings, beside a naive log that sequences every entry in its own
   transaction (lock the tree, append the leaf, store the new root) and the floor of the same writers committing
   one plain row each. The writers are threads of two processes, as two `sealgate serve` processes run
   decisions on the threads of their pools; once more as 32 processes of their own, a harsher shape than the
   service's, beside their own floor. Then the log's share of an approval decision (``bench.log_share``).
2. Inclusion-proof latency at 1,000,000 entries through the stored tiles, beside the same proof from a tree held
   whole in memory.
3. Audit replay rate from the database, beside hashing the same entries into a tree in memory.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench import MIGRATIONS
from bench.report import Section
from core import db, deferred
from core.runtime import Runtime
from core.settings import load_settings, normalise_database_url
from ledger import integrate
from ledger.append import append_many
from ledger.audit import audit_database
from ledger.entry import Event, encoded
from ledger.merkle import CompactRange, MemoryTree, inclusion_proof, leaf_hash
from ledger.models import Checkpoint, Entry
from ledger.note import parse_vkey
from ledger.service import LogService

PG_ENV = "SEALGATE_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
WRITERS = 32
SERVE_PROCESSES = 2  # as bench/flow runs the service
GOAL_APPEND = 2_000  # entries/s: the national peak of the design
ORIGIN = "bench.sealgate/log"
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
Gate = tuple[Any, Any]  # (queue the writer reports ready on, event that releases all writers)
Sessions = sessionmaker[Session]


def _event(writer: int, n: int) -> Event:
    """A stamp receipt; ten events share a subject, as the events of one seal request do."""
    data = {"n": n, "w": writer, "document": "9f2c" * 16, "uses": 1}
    return Event("bench.stamped", f"request:{writer}:{n // 10}", f"machine:{writer}", data, NOW)


def _ready(gate: Gate) -> None:
    ready, go = gate
    ready.put(1)
    go.wait()


def _done(gate: Gate) -> None:
    """Report the moment the writer's last commit returned (the monotonic clock is the machine's)."""
    gate[0].put(time.perf_counter())


def ours_writer(sessions: Sessions, writer: int, count: int, per_transaction: int) -> None:
    for start in range(0, count, per_transaction):
        with sessions() as session:
            events = [
                _event(writer + 100 * per_transaction, n) for n in range(start, min(count, start + per_transaction))
            ]
            append_many(session, events, fresh=True)  # new event ids, as a decision's
            session.commit()


NAIVE_DDL = (
    "CREATE TABLE naive_entries (idx BIGINT PRIMARY KEY, body BYTEA NOT NULL, leaf BYTEA NOT NULL)",
    "CREATE TABLE naive_tree (id INT PRIMARY KEY, size BIGINT NOT NULL, compact BYTEA NOT NULL, root BYTEA NOT NULL)",
    "INSERT INTO naive_tree VALUES (1, 0, '', '')",
    "CREATE TABLE floor_rows (writer INT NOT NULL, n INT NOT NULL)",
)


_FLOOR = Table("floor_rows", MetaData(), Column("writer", Integer), Column("n", Integer))
_FLOOR_INSERT = insert(_FLOOR)


def floor_writer(sessions: Sessions, writer: int, count: int) -> None:
    """The floor: the same sessions committing one row each, with no log, the insert deferred to the COMMIT
    (``core.deferred``): one round trip per transaction, the least a write transaction costs."""
    for n in range(count):
        with sessions() as session:
            deferred.write(session.connection(), _FLOOR_INSERT, {"writer": writer, "n": n})
            session.commit()


def naive_writer(sessions: Sessions, writer: int, count: int) -> None:
    """A log without a queue: each entry locks the tree, takes the next index and stores the new root."""
    for n in range(count):
        with sessions() as session:
            conn = session.connection()
            entry = encoded(_event(writer, n), None)  # the same entries as sealgate's, without the prev chain
            body, leaf = entry.body, entry.leaf_hash
            size, compact = conn.execute(text("SELECT size, compact FROM naive_tree WHERE id = 1 FOR UPDATE")).one()
            tree = CompactRange(size, [compact[i : i + 32] for i in range(0, len(compact), 32)])
            tree.append(leaf)
            conn.execute(text("INSERT INTO naive_entries VALUES (:i, :b, :l)"), {"i": size, "b": body, "l": leaf})
            conn.execute(
                text("UPDATE naive_tree SET size = :s, compact = :c, root = :r WHERE id = 1"),
                {"s": tree.size, "c": b"".join(tree.hashes), "r": tree.root()},
            )
            session.commit()


def _writers(gate: Gate, target: Callable[..., None], url: str, writers: list[int], *args: object) -> None:
    """One process of writers: a thread each on one engine, as a `sealgate serve` process runs decisions on the
    threads of its pool. Reports ready once connected, runs them when released, reports when the last is done."""
    engine = db.create_db_engine(url, pool_size=len(writers))
    sessions = db.session_factory(engine)
    db.ping(engine)
    failed: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            target(sessions, writer, *args)
        except BaseException as exc:  # the process reports it with its exit code
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    _ready(gate)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _done(gate)
    engine.dispose()
    if failed:
        raise failed[0]


def _start(
    target: Callable[..., None], url: str, args: tuple[object, ...], processes: int
) -> tuple[list[BaseProcess], float, Any]:
    """Start ``processes`` processes sharing the ``WRITERS`` writers as threads, wait until each is connected
    and ready, release them together; returns the processes, the moment they were released (start-up is not
    part of the measurement) and the queue they report on."""
    spawn = multiprocessing.get_context("spawn")
    ready, go = spawn.Queue(), spawn.Event()
    procs: list[BaseProcess] = [
        spawn.Process(target=_writers, args=((ready, go), target, url, list(range(p, WRITERS, processes)), *args))
        for p in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    return procs, time.perf_counter(), ready


def _fresh_postgres() -> tuple[str, str] | None:
    admin_url = normalise_database_url(os.environ.get(PG_ENV, PG_DEFAULT))
    name = f"sealgate_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
    except Exception as exc:  # no PostgreSQL here: the section says so
        print(f"bench: no PostgreSQL at {admin_url}: {exc}")
        return None
    return admin_url, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin_url: str, url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)"))
    admin.dispose()


def _runtime(tmp: Path, url: str, **ledger: int) -> Runtime:
    settings = load_settings(var_dir=tmp, database={"url": url}, ledger={"origin": ORIGIN, **ledger})
    return Runtime.open(settings, migrations=MIGRATIONS)


def _released(target: Callable[..., None], url: str, args: tuple[object, ...], processes: int) -> float:
    """Run writers to the end; the seconds from their release to the last one's last commit."""
    procs, started, ready = _start(target, url, args, processes)
    finished = [ready.get(timeout=600) for _ in procs]
    _joined(procs)
    return float(max(finished)) - started


def _joined(procs: list[BaseProcess]) -> None:
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a writer failed with exit code {p.exitcode}")


def _integrated(
    runtime: Runtime, url: str, service: LogService, per_transaction: int, count: int, processes: int
) -> float:
    """Entries per second from the writers' release until the last of them is in the tree."""
    target = _size(runtime) + WRITERS * count
    thread, stop = service.integrator.start()
    try:
        procs, started, _ = _start(ours_writer, url, (count, per_transaction), processes)
        while _size(runtime) < target:
            if any(p.exitcode for p in procs):  # a writer failed: its entries will never come
                _joined(procs)
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        _joined(procs)
    finally:
        stop.set()
        thread.join()
    return WRITERS * count / elapsed


def _shape(processes: int) -> str:
    if processes == WRITERS:
        return f"{WRITERS} writers, each a process of its own (not the service's shape)"
    return f"{WRITERS} writers, threads of {processes} processes as in `sealgate serve`"


def append_throughput(quick: bool) -> list[str]:
    fresh = _fresh_postgres()
    if fresh is None:
        return ["| append throughput | no PostgreSQL reachable; set " + PG_ENV + " | | |"]
    admin_url, url = fresh
    per_writer = 100 if quick else 200
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = _runtime(Path(tmp), url)  # the integrator's settings are those `sealgate serve` ships with
            service = LogService.open(runtime)
            with runtime.engine.begin() as conn:
                for ddl in NAIVE_DDL:
                    conn.execute(text(ddl))
            floor = WRITERS * per_writer / _released(floor_writer, url, (per_writer,), SERVE_PROCESSES)
            rows.append(
                f"| floor: {_shape(SERVE_PROCESSES)}, one plain row per transaction, sent with the COMMIT in one "
                f"round trip, no log | {floor:,.0f} transactions/s | |"
            )
            naive = WRITERS * per_writer / _released(naive_writer, url, (per_writer,), SERVE_PROCESSES)
            rows.append(
                f"| naive log: {_shape(SERVE_PROCESSES)}, 1 entry per transaction, each locking the tree, appending "
                f"the leaf and storing the new root | {naive:,.0f} entries/s | baseline |"
            )
            count = 150 if quick else 400
            rate = _integrated(runtime, url, service, 1, count, SERVE_PROCESSES)
            verdict = "met" if rate >= GOAL_APPEND else f"NOT met, {rate / GOAL_APPEND - 1:+.0%}"
            rows.append(
                f"| sealgate: {_shape(SERVE_PROCESSES)}, 1 entry per transaction, committed until integrated into "
                f"the tree by the integrator thread of `sealgate serve` (goal {GOAL_APPEND:,}/s: {verdict}) "
                f"| {rate:,.0f} entries/s | {rate / naive:.1f}x |"
            )
            floor = WRITERS * per_writer / _released(floor_writer, url, (per_writer,), WRITERS)
            rate = _integrated(runtime, url, service, 1, count, WRITERS)
            rows.append(
                f"| sealgate: {_shape(WRITERS)}, 1 entry per transaction, until integrated; their floor, the same "
                f"processes committing a plain row each: {floor:,.0f} transactions/s | {rate:,.0f} entries/s "
                f"| {rate / naive:.1f}x |"
            )
            rate = _integrated(runtime, url, service, 50, 1_000 if quick else 2_000, SERVE_PROCESSES)
            rows.append(
                f"| sealgate: {_shape(SERVE_PROCESSES)}, 50 entries per transaction (batching, not a decision's "
                f"shape), until integrated | {rate:,.0f} entries/s | {rate / naive:.1f}x |"
            )
            runtime.close()
    finally:
        _drop(admin_url, url)
    return rows


def _size(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return integrate.current(session).size


def proof_latency(quick: bool) -> list[str]:
    size = 200_000 if quick else 1_000_000
    rng = random.Random(1)
    leaves = [rng.randbytes(32) for _ in range(size)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runtime = _runtime(Path(tmp), f"sqlite:///{tmp}/proofs.db", batch_size=10_000)
        service = LogService.open(runtime)
        with runtime.sessions() as session:
            for start in range(0, size, 50_000):
                state, tree = integrate.load(session, for_update=True)
                integrate.integrate(session, state, tree, leaves[start : start + 50_000])
                session.commit()
            root = integrate.current(session).root
            session.add(Checkpoint(size=size, root=root, note="", signed_at=NOW, published=True))
            session.commit()
        memory = MemoryTree(leaves)
        indices = [rng.randrange(size) for _ in range(2_000 if quick else 10_000)]
        stored, in_memory = [], []
        for index in indices:
            t0 = time.perf_counter()
            with runtime.readers() as session:
                service.reader.inclusion(session, index, size)
            t1 = time.perf_counter()
            inclusion_proof(index, size, memory)
            t2 = time.perf_counter()
            stored.append(t1 - t0)
            in_memory.append(t2 - t1)
        runtime.close()
    for name, samples in (
        ("tree in memory (baseline)", in_memory),
        ("stored tiles, SQLite, one session per proof", stored),
    ):
        p50, p99 = _percentiles(samples)
        rows.append(
            f"| inclusion proof at {size:,} entries, {name} | p50 {p50 * 1e3:.3f} ms | p99 {p99 * 1e3:.3f} ms |"
        )
    return rows


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def audit_rate(quick: bool) -> list[str]:
    size = 50_000 if quick else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        runtime = _runtime(Path(tmp), f"sqlite:///{tmp}/audit.db", batch_size=10_000)
        service = LogService.open(runtime)
        with runtime.sessions() as session:
            for start in range(0, size, 10_000):
                append_many(session, [_event(start // 10_000, n) for n in range(start, start + 10_000)])
                session.commit()
        service.integrator.run_until_idle(timeout=600)
        with runtime.sessions() as session:
            bodies = list(session.scalars(Entry.__table__.select().with_only_columns(Entry.body).order_by(Entry.idx)))
            t0 = time.perf_counter()
            tree = CompactRange()
            for body in bodies:
                tree.append(leaf_hash(body))
            tree.root()
            baseline = size / (time.perf_counter() - t0)
            report = audit_database(session, ORIGIN, [parse_vkey(service.vkey)])
        runtime.close()
    assert report.ok, report.problems
    return [
        f"| audit replay of {size:,} entries, hashing in memory (baseline) | {baseline:,.0f} entries/s | |",
        f"| audit replay from the database: leaves, roots, tiles, prev chains | {report.rate:,.0f} entries/s "
        f"| {report.rate / baseline:.2f}x of baseline |",
    ]


def run(quick: bool = False) -> Section:
    from bench import log_share  # it imports this module's helpers

    rows = [*append_throughput(quick), *log_share.rows(quick), *proof_latency(quick), *audit_rate(quick)]
    body = "\n".join(
        [
            f"Goals: with {WRITERS} concurrent writers on PostgreSQL, one entry per transaction, at least "
            f"{GOAL_APPEND:,} entries/s integrated; the log at most 10% of the cost of an approval decision;",
            "inclusion proof p99 under 2 ms at 1,000,000 entries; audit replay at least 50,000 entries/s. Writers",
            "are threads of two processes, as in two `sealgate serve` processes, released together once every one",
            "is connected; the log's rows end when the last entry is in the tree.\n",
            "| measurement | result | against baseline |",
            "|---|---:|---:|",
            *rows,
            "",
        ]
    )
    return Section("Log (`bench/ledger.py`)", body)
