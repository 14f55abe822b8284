"""One integrator at a time, and a log that survives its integrator being killed over and over under load."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from core.keystore import Keystore
from core.runtime import Runtime
from ledger import integrate
from ledger.audit import audit_database
from ledger.integrator import Integrator, NotLeader
from ledger.models import Entry, PendingEntry
from ledger.note import parse_vkey
from ledger.service import LogService
from tests.conftest import rollbacks
from tests.ledger.support import ORIGIN, append_committed, events

ROOT = Path(__file__).resolve().parents[2]


def test_one_integrator_leads_and_a_standby_takes_over(runtime: Runtime, log: LogService) -> None:
    standby = Integrator(runtime.engine, log.publisher, runtime.clock)
    leading = threading.Event()
    release = threading.Event()

    def lead() -> None:
        with log.integrator.leadership(lambda: True):
            leading.set()
            release.wait(30)

    leader = threading.Thread(target=lead)
    leader.start()
    assert leading.wait(10)
    attempts: list[int] = []

    def try_three_times() -> bool:
        attempts.append(1)
        return len(attempts) < 3

    with pytest.raises(NotLeader), standby.leadership(try_three_times):
        pass
    assert len(attempts) == 3
    release.set()
    leader.join()
    append_committed(runtime, events(5))
    assert standby.run_until_idle(timeout=10).size == 5


@pytest.mark.slow
def test_eight_writers_and_an_integrator_killed_twenty_times(
    runtime: Runtime, log: LogService, database_url: str, token_dir: Path, tmp_path: Path
) -> None:
    writers = 8
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
        "SEALGATE_VAR_DIR": str(token_dir),
        "SEALGATE_DATABASE__URL": database_url,
        "SEALGATE_LEDGER__ORIGIN": ORIGIN,
        "SEALGATE_LEDGER__BATCH_SIZE": "700",
        "SEALGATE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    # Writers write until the twenty kills are over, however long the integrator's start-ups take on a loaded
    # machine; pausing between transactions, each adds about forty events a second.
    stop = tmp_path / "stop"
    writer_procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.writer", database_url, str(w), "0.6", str(stop)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    rng = random.Random(7)
    progress_at_kill = []
    for _ in range(20):
        before = tree_size(runtime)
        integrator = subprocess.Popen(
            [sys.executable, "-m", "sealgate", "log", "integrate"], env=env, stderr=subprocess.DEVNULL
        )
        # Kill it only once it is working, at a random moment of a cycle.
        deadline = time.monotonic() + 60
        while tree_size(runtime) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        integrator.send_signal(signal.SIGKILL)
        integrator.wait()
        progress_at_kill.append(tree_size(runtime) - before)
    still_writing = [proc.poll() is None for proc in writer_procs]
    stop.touch()
    written = [int(proc.communicate(timeout=600)[0]) for proc in writer_procs]
    assert [proc.returncode for proc in writer_procs] == [0] * writers
    total = sum(written)
    log.integrator.run_until_idle(timeout=120)

    with runtime.sessions() as session:
        count, low, high, distinct = session.execute(
            select(func.count(), func.min(Entry.idx), func.max(Entry.idx), func.count(Entry.event_id.distinct()))
        ).one()
        assert (count, low, high, distinct) == (total, 0, total - 1, total)
        assert session.scalar(select(func.count()).select_from(PendingEntry)) == 0
        expected = {f"w{w}-{n}" for w, n_written in enumerate(written) for n in range(n_written)}
        assert set(session.scalars(select(Entry.event_id))) == expected
        report = audit_database(session, ORIGIN, [parse_vkey(log.vkey)])
    assert report.ok, report.problems
    assert report.size == total
    assert report.checkpoints >= 20
    # Every incarnation integrated something before it was killed, under the load of every writer.
    assert all(step > 0 for step in progress_at_kill), f"{progress_at_kill}"
    assert all(still_writing), f"{still_writing}"


def tree_size(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return integrate.current(session).size


def test_processes_starting_together_make_one_key(
    engine: Engine, keystore: Keystore, database_url: str, token_dir: Path
) -> None:
    """Servers started at once on a new token must agree on one log key, not make one each."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
        "SEALGATE_VAR_DIR": str(token_dir),
        "PYTHONPATH": str(ROOT),
    }
    for round_ in range(3):
        label = f"race-{os.getpid()}-{round_}-{time.time_ns()}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.ledger.keymaker", database_url, label],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        assert all(proc.stdout is not None and proc.stdout.readline().strip() == "ready" for proc in procs)
        for proc in procs:  # all are told before any is waited for
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        publics = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert all(proc.returncode == 0 for proc in procs)
        assert len(publics) == 1
        assert keystore.labels().count(label) == 1


def test_an_idle_cycle_ends_its_transactions_in_commit(runtime: Runtime, log: LogService) -> None:
    """The integrator cycles several times a second with nothing to do."""
    append_committed(runtime, events(3))
    assert log.integrator.run_until_idle(timeout=10).size == 3
    with rollbacks(runtime.engine) as seen:
        idle = log.integrator.cycle(None)
    assert (idle.integrated, idle.signed) == (0, False)
    assert seen == []
