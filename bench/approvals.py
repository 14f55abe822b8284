"""Decisions per second through the HTTP API: two `sealgate serve` processes on one PostgreSQL database, driven
by wrk (one process per server, a Lua script walking the prepared requests), beside the same wrk asking those
servers for /healthz: the floor an HTTP request costs there.

Every decision is a group leader approving level 1 of a residence-certificate request: the principal behind
the token resolved, the request row locked, the leader's authority and separation of duties checked, the
decision stored, level 2 opened with its notifications, and the decision appended to the log, which the
servers' integrator publishes meanwhile.

Four connections per server keep both servers busy; more only queue in front of the same two cores (the
machine also runs PostgreSQL and wrk) and lengthen the tail. After 2 s of decisions that warm the servers up
(their connection pools, compiled and prepared statements), the floor and the decisions alternate for three
rounds; the rates are the medians, the p50 the median and the p99 the worst of the rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import documents
from bench.ledger import _drop, _fresh_postgres
from bench.ports import free_port
from bench.report import Section
from core.runtime import Runtime
from core.settings import load_settings
from identity import directory
from identity.auth import principal_of
from workflow import requests, review
from workflow.catalog import SealForm

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 4  # per server
MATTER = "residence.certificate"
FORM = {"address": "水南村一组 12 号", "since": "2020-01-01", "housing": "租住房屋", "purpose": "申领居住证"}
GOAL_RATE, GOAL_P99 = 300, 0.100

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
_DECIDE = """
local next_id, last = {first}, {last}
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"decision": "approve", "level": 1}}'
request = function()
  local id = next_id
  next_id = next_id + 1
  if id > last then
    io.write("EXHAUSTED\\n")
  end
  return wrk.format(nil, "/api/v1/requests/" .. id .. "/decisions")
end
"""


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    failed: int
    p50: float
    p99: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Rounds:
    """The median rate and p50 of some rounds, with the worst p99 and every failure."""

    runs: list[Run]

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50 for r in self.runs)

    @property
    def p99(self) -> float:
        return max(r.p99 for r in self.runs)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs)


def _prepare(database_url: str, var: Path, count: int) -> list[int]:
    runtime = demo_runtime(database_url, var)
    try:
        return submitted(runtime, count)
    finally:
        runtime.close()


def demo_runtime(database_url: str, var: Path) -> Runtime:
    """A runtime on a database the ``sealgate demo`` command has migrated and filled (bench may not import the
    top, so it runs it)."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
        "SEALGATE_VAR_DIR": str(var),
        "SEALGATE_DATABASE__URL": database_url,
    }
    subprocess.run([sys.executable, "-m", "sealgate", "demo"], env=environment, check=True, capture_output=True)
    return Runtime.open(load_settings(var_dir=var, database={"url": database_url}), migrations=None)


def submitted(runtime: Runtime, count: int) -> list[int]:
    """``count`` residence-certificate requests of the demo's resident, submitted and waiting for level 1."""
    document = documents.one_page()
    ids = []
    with runtime.sessions() as session:
        who = principal_of(session, directory.user(session, "sn.resident"), runtime.clock.now())
        for _ in range(count):
            submission = requests.Submission(
                matter=MATTER,
                organisation="yazhou.shuinan",
                seal="village_official",
                seal_form=SealForm.ELECTRONIC,
                copies=1,
                place="水南村委会",
                purpose="申领居住证",
                form=FORM,
                document=document,
            )
            made = requests.submit(
                session, who, submission, blobs=runtime.blobs, max_bytes=1 << 20, now=runtime.clock.now()
            )
            ids.append(made.id)
        session.commit()
    return ids


def _wrk(scripts: list[tuple[str, str]], seconds: int) -> Run:
    """Run one wrk per (base URL, Lua script) at once; their counts add up, latencies are the worst of them."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for n, (base, script) in enumerate(scripts):
            path = Path(tmp) / f"{n}.lua"
            path.write_text(script + _DONE)
            command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(path), base]
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        outputs = [proc.communicate()[0] for proc in procs]
    if any("EXHAUSTED" in out for out in outputs):
        raise RuntimeError("the prepared requests ran out before the run ended: prepare more")
    results = []
    for out in outputs:
        line = next((line for line in out.splitlines() if line.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk did not report: {out[-500:]}")
        results.append([int(v) for v in line.split()[1:]])
    return Run(
        requests=sum(r[0] for r in results),
        seconds=max(r[1] for r in results) / 1e6,
        failed=sum(r[2] + r[3] for r in results),
        p50=max(r[4] for r in results) / 1e6,
        p99=max(r[5] for r in results) / 1e6,
    )


def run(quick: bool = False) -> Section:
    title = "Approvals (`bench/approvals.py`)"
    if shutil.which("wrk") is None:
        return Section(title, "wrk is not installed (`make bench` installs it): not measured.\n")
    fresh = _fresh_postgres()
    if fresh is None:
        return Section(title, "No PostgreSQL reachable: not measured.\n")
    rounds, seconds = (1, 4) if quick else (3, 5)
    per_server = 1000 if quick else 3000  # requests per server and round, more than it decides in the round
    admin_url, url = fresh
    servers: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp) / "var"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
                "SEALGATE_VAR_DIR": str(var),
                "SEALGATE_DATABASE__URL": url,
                "SEALGATE_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
            }
            ids = _prepare(url, var, (rounds + 1) * 2 * per_server)
            ports = [free_port(), free_port()]
            for port in ports:
                command = [sys.executable, "-m", "sealgate", "serve", "--port", str(port)]
                servers.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            _wait(bases)
            login = {"username": "sn.g1.leader", "password": "demo-sn-g1-leader"}
            token = httpx.post(bases[0] + "/api/v1/auth/token", data=login).json()["access_token"]
            floors, decisions = [], []
            for r in range(rounds + 1):
                mine = [ids[(2 * r + n) * per_server : (2 * r + n + 1) * per_server] for n in range(len(bases))]
                scripts = [
                    (base, _DECIDE.format(first=mine[n][0], last=mine[n][-1], token=token))
                    for n, base in enumerate(bases)
                ]
                if r == 0:
                    _wrk(scripts, 2)  # the warm-up
                    continue
                floors.append(_wrk([(base, 'wrk.path = "/healthz"\n') for base in bases], 2))
                decisions.append(_wrk(scripts, seconds))
            floor, decided = Rounds(floors), Rounds(decisions)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        _drop(admin_url, url)
    if decided.failed:
        raise RuntimeError(f"{decided.failed} decisions failed")
    met = decided.rate >= GOAL_RATE and decided.p99 < GOAL_P99
    rates = ", ".join(f"{run.rate:,.0f}" for run in decided.runs)
    body = "\n".join(
        [
            f"Two `sealgate serve` processes on PostgreSQL, all on this machine; wrk with {CONNECTIONS} connections "
            f"to each server; {rounds} rounds of 2 s of /healthz and {seconds} s of decisions. Goal: at least "
            f"{GOAL_RATE} decisions/s with p99 under {GOAL_P99 * 1e3:.0f} ms: {'met' if met else 'NOT met'}.\n",
            "| measurement | per second | p50 | p99 |",
            "|---|---:|---:|---:|",
            f"| GET /healthz (the HTTP floor, baseline) | {floor.rate:,.0f} | {floor.p50 * 1e3:.1f} ms "
            f"| {floor.p99 * 1e3:.1f} ms |",
            f"| POST /api/v1/requests/{{id}}/decisions (approve) | {decided.rate:,.0f} | {decided.p50 * 1e3:.1f} ms "
            f"| {decided.p99 * 1e3:.1f} ms |",
            "",
            f"A decision costs {floor.rate / decided.rate:.1f} times an empty request; "
            f"{decided.requests:,} decisions in all; decisions/s by round: {rates}.\n",
        ]
    )
    return Section(title, body)


def _wait(urls: list[str]) -> None:
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            time.sleep(0.2)


def level_one_decisions(runtime: Runtime, queue: Iterator[int], burst: int) -> Callable[[], None]:
    """A burst of ``burst`` level-1 approvals by 水南村 group 1's leader, each in its own transaction, of the
    requests ``queue`` yields: the decision as the service makes it, without HTTP."""
    with runtime.sessions() as session:
        leader = directory.user(session, "sn.g1.leader")
        actor = review.Actor(leader.id, leader.username)

    def decide_burst() -> None:
        for _ in range(burst):
            with runtime.sessions() as session:
                review.decide(
                    session,
                    next(queue),
                    actor,
                    level=1,
                    verdict=review.Verdict.APPROVE,
                    comment="",
                    to_level=None,
                    now=runtime.clock.now(),
                )
                session.commit()

    return decide_burst
