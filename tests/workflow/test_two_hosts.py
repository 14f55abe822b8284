"""Several hosts: `sealgate serve` processes with a `var/` each, sharing only the PostgreSQL database (which keeps
the blobs too) and one SoftHSM2 token directory standing in for a network HSM, serve one demo. A request submitted
and approved on one process is sealed by another and downloads, byte for byte, from both; a process killed while
it seals leaves every request sealed exactly once, finished by the next process without anyone retrying it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, union

from bench.flow import APPROVERS, SUBSIDY, _check, _environments, _token
from bench.ledger import _drop, _fresh_postgres
from bench.ports import free_port
from core.keystore.devtoken import find_softhsm_module
from ledger.models import Entry, PendingEntry
from signer.models import Sealing
from tests.conftest import PG_ENV
from workflow.history import subject
from workflow.models import SealRequest

# Several service processes at once: never beside the other timed tests.
pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.xdist_group("timed")]  # db: the PostgreSQL pass runs it

BATCH = 12  # requests given their final approval at once; the process sealing them is killed after the first
AFTER_KILL = 60.0  # seconds from the kill for the next process to start and complete what was left


@dataclass
class Cluster:
    """The demo on a database of its own; ``env(n)`` is the environment of host n (host 0 made the token)."""

    root: Path
    url: str
    engine: Engine
    hosts: list[dict[str, str]]

    def env(self, n: int, **settings: str) -> dict[str, str]:
        base = self.hosts[min(n, 1)]
        return {**base, "SEALGATE_VAR_DIR": str(self.root / f"var{n}"), **settings}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"several hosts share a PostgreSQL database: set {PG_ENV}")
    if find_softhsm_module() is None:
        pytest.skip("SoftHSM2 is not installed")
    fresh = _fresh_postgres()
    assert fresh is not None, f"cannot make a database beside {os.environ[PG_ENV]}"
    admin_url, url = fresh
    root = tmp_path_factory.mktemp("hosts")
    hosts = []
    for environment in _environments(root, url):  # the flow benchmark's hosts, with the blobs in the database
        environment.pop("SEALGATE_BLOBS__PATH", None)  # no directory shared: each var/blobs is a cache
        hosts.append(
            {
                **environment,
                "SEALGATE_BLOBS__BACKEND": "database",
                "SEALGATE_LOG_LEVEL": "INFO",
                "PYTHONFAULTHANDLER": "1",  # a crash prints every thread's stack into the host's log
            }
        )
    engine = create_engine(url)
    try:
        for command in (("ca", "init"), ("demo",)):
            done = subprocess.run(
                [sys.executable, "-m", "sealgate", *command], env=hosts[0], capture_output=True, text=True, timeout=180
            )
            assert done.returncode == 0, done.stdout + done.stderr
        yield Cluster(root, url, engine, hosts)
    finally:
        engine.dispose()
        _drop(admin_url, url)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    client: httpx.Client
    log: Path


@contextmanager
def serving(cluster: Cluster, n: int, **settings: str) -> Iterator[Server]:
    """Host n's `sealgate serve`, once it is ready; stopped (if it still runs) at the end."""
    port = free_port()
    log = cluster.root / f"serve{n}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sealgate", "serve", "--port", str(port)],
            env=cluster.env(n, **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"host {n} exited with {process.returncode}: {log.read_text()}"
            try:
                if client.get("/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"host {n} did not become ready: {log.read_text()}"
            time.sleep(0.2)
        yield Server(process, client, log)
    finally:
        client.close()
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def _post(server: Server, path: str, who: dict[str, str], body: dict[str, object]) -> dict[str, object]:
    answer = server.client.post(path, json=body, headers=who)
    assert answer.status_code in (200, 201), f"POST {path}: {answer.status_code} {answer.text[:500]}"
    found: dict[str, object] = answer.json()
    return found


def _submit_and_approve(server: Server, tokens: dict[str, dict[str, str]], count: int, levels: int) -> list[int]:
    ids = [int(str(_post(server, "/api/v1/requests", tokens["sn.resident"], SUBSIDY)["id"])) for _ in range(count)]
    for level, who in enumerate(APPROVERS[:levels], start=1):
        _approve(server, tokens, ids, level, who)
    return ids


def _approve(server: Server, tokens: dict[str, dict[str, str]], ids: list[int], level: int, who: str) -> None:
    body: dict[str, object] = {"decision": "approve", "level": level}
    for request_id in ids:
        _post(server, f"/api/v1/requests/{request_id}/decisions", tokens[who], body)


def _states(engine: Engine, ids: list[int]) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(SealRequest.id, SealRequest.state).where(SealRequest.id.in_(ids)))
        return {row.id: str(row.state) for row in rows}


def _failures(engine: Engine, ids: list[int]) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(SealRequest.id, SealRequest.failure).where(SealRequest.id.in_(ids), SealRequest.state == "failed")
        )
        return {row.id: row.failure for row in rows}


def _completed(engine: Engine, ids: list[int]) -> int:
    return sum(state == "completed" for state in _states(engine, ids).values())


def _wait_completed(engine: Engine, ids: list[int], seconds: float, servers: list[Server]) -> float:
    """Seconds until every request is completed; fails past ``seconds`` or at a request that failed."""
    started = time.monotonic()
    while True:
        states = _states(engine, ids)
        assert "failed" not in states.values(), f"{_failures(engine, ids)}\n" + "\n".join(
            s.log.read_text()[-5000:] for s in servers
        )
        if all(state == "completed" for state in states.values()):
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"not completed in {seconds:.0f} s: {states}\n" + "\n".join(
            s.log.read_text()[-5000:] for s in servers
        )
        time.sleep(0.2)


def _sealed_once(engine: Engine, ids: list[int]) -> None:
    """One sealing and one ``seal.applied`` log entry per request (the entry queued or sequenced, not both)."""
    subjects = {subject(i) for i in ids}
    applied = union(
        select(Entry.event_id, Entry.subject).where(Entry.type == "seal.applied"),
        select(PendingEntry.event_id, PendingEntry.subject).where(PendingEntry.type == "seal.applied"),
    ).subquery()
    with engine.connect() as conn:
        sealings: dict[str, int] = dict(
            conn.execute(
                select(Sealing.subject, func.count()).where(Sealing.subject.in_(subjects)).group_by(Sealing.subject)
            ).all()
        )
        entries: dict[str, int] = dict(
            conn.execute(
                select(applied.c.subject, func.count())
                .where(applied.c.subject.in_(subjects))
                .group_by(applied.c.subject)
            ).all()
        )
    assert sealings == dict.fromkeys(subjects, 1)
    assert entries == dict.fromkeys(subjects, 1)


def test_a_request_made_on_one_host_is_sealed_by_the_other_and_served_by_both(cluster: Cluster) -> None:
    with serving(cluster, 0, SEALGATE_WORKFLOW__WORKERS="false") as a, serving(cluster, 1) as b:
        tokens = {name: _token(a.client, name) for name in ("sn.resident", *APPROVERS)}
        [request_id] = _submit_and_approve(a, tokens, 1, len(APPROVERS))  # on a, which seals nothing itself
        _wait_completed(cluster.engine, [request_id], 60, [a, b])
        path = f"/api/v1/requests/{request_id}/document"
        [sealed_a, sealed_b] = [s.client.get(path, headers=tokens["sn.resident"]) for s in (a, b)]
        assert sealed_a.status_code == sealed_b.status_code == 200, sealed_a.text
        assert sealed_a.content == sealed_b.content
        _check(sealed_a.content)  # B-LTA: timestamped signature, DSS with OCSP and CRLs, document timestamp
        digest = hashlib.sha256(sealed_a.content).hexdigest()
        assert (cluster.root / "var0" / "blobs" / digest[:2] / digest[2:4] / digest).is_file()  # a fetched it
        report = a.client.post("/api/v1/verify", content=sealed_a.content, headers={"Content-Type": "application/pdf"})
        assert report.status_code == 200, report.text
        assert report.json()["indication"] == "TOTAL-PASSED"
    _sealed_once(cluster.engine, [request_id])


def test_a_process_killed_while_sealing_leaves_each_request_sealed_once(cluster: Cluster) -> None:
    with serving(cluster, 0, SEALGATE_WORKFLOW__WORKERS="false") as a:
        tokens = {name: _token(a.client, name) for name in ("sn.resident", *APPROVERS)}
        ids = _submit_and_approve(a, tokens, BATCH, len(APPROVERS) - 1)
        with serving(cluster, 1) as b:
            _approve(a, tokens, ids, len(APPROVERS), APPROVERS[-1])  # b seals them, one after another
            deadline = time.monotonic() + 120
            while _completed(cluster.engine, ids) == 0:
                assert time.monotonic() < deadline, b.log.read_text()[-5000:]
                time.sleep(0.05)
            b.process.kill()
            killed = time.monotonic()
            b.process.wait(timeout=30)
        left = BATCH - _completed(cluster.engine, ids)
        assert left > 0, f"b completed all {BATCH} before it was killed"
        assert set(_states(cluster.engine, ids).values()) <= {"approved", "completed"}  # nothing left executing
        with serving(cluster, 2) as c:  # another host, on the same token
            _wait_completed(cluster.engine, ids, AFTER_KILL - (time.monotonic() - killed), [c])
    took = time.monotonic() - killed
    print(f"{left} of {BATCH} requests left by the killed process, all completed {took:.1f} s after the kill")
    assert _states(cluster.engine, ids) == dict.fromkeys(ids, "completed")
    _sealed_once(cluster.engine, ids)
