"""Decisions per second through the HTTP API: two `sealgate serve` processes on one PostgreSQL database, a
local load generator, beside the same generator asking those servers for /healthz (the HTTP floor).

Every decision is a group leader approving level 1 of a residence-certificate request: the request row is
locked, the leader's authority and separation of duties checked, the decision stored, level 2 started with its
notifications, and the decision appended to the log, which the servers' integrator publishes meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ledger import _drop, _fresh_postgres
from bench.report import Section
from identity import directory
from identity.auth import principal_of
from sealgate.cli import demo
from sealgate.runtime import Runtime
from sealgate.settings import load_settings
from tests.cli.support import free_port
from tests.workflow import pdfs
from workflow import requests
from workflow.catalog import SealForm

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 16
MATTER = "residence.certificate"
FORM = {"address": "水南村一组 12 号", "since": "2020-01-01", "housing": "租住房屋", "purpose": "申领居住证"}


def _prepare(settings_env: dict[str, str], var: Path, count: int) -> list[int]:
    settings = load_settings(var_dir=var, database={"url": settings_env["SEALGATE_DATABASE__URL"]})
    runtime = Runtime.open(settings)
    try:
        with runtime.sessions() as session:
            demo.load(session)
        document = pdfs.clean("居住证明")
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
    finally:
        runtime.close()


async def _drive(
    urls: list[str], paths: list[str], body: dict[str, object] | None, headers: dict[str, str]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers) as client:

        async def worker(n: int) -> None:
            base = urls[n % len(urls)]
            while not queue.empty():
                path = queue.get_nowait()
                started = time.perf_counter()
                response = await (client.post(base + path, json=body) if body else client.get(base + path))
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
        return time.perf_counter() - started, latencies


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(quick: bool = False) -> Section:
    count = 600 if quick else 3000
    fresh = _fresh_postgres()
    if fresh is None:
        return Section("Approvals (`bench/approvals.py`)", "No PostgreSQL reachable: not measured.\n")
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
            ids = _prepare(env, var, count)
            ports = [free_port(), free_port()]
            for port in ports:
                servers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "sealgate", "serve", "--port", str(port)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            _wait(urls)
            token = httpx.post(
                urls[0] + "/api/v1/auth/token", data={"username": "sn.g1.leader", "password": "demo-sn-g1-leader"}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            floor_time, floor = asyncio.run(_drive(urls, ["/healthz"] * count, None, headers))
            decide_time, decided = asyncio.run(
                _drive(
                    urls, [f"/api/v1/requests/{i}/decisions" for i in ids], {"decision": "approve", "level": 1}, headers
                )
            )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        _drop(admin_url, url)
    rate = len(decided) / decide_time
    p50, p99 = _percentile(decided, 0.5), _percentile(decided, 0.99)
    verdict = "met" if rate >= 300 and p99 < 0.1 else "NOT met"
    body = "\n".join(
        [
            f"Two `sealgate serve` processes on PostgreSQL, {CONCURRENCY} concurrent connections from one local load "
            f"generator, {count:,} requests each. Goal: at least 300 decisions/s with p99 under 100 ms: {verdict}.\n",
            "| measurement | per second | p50 | p99 |",
            "|---|---:|---:|---:|",
            f"| GET /healthz (the HTTP floor, baseline) | {len(floor) / floor_time:,.0f} "
            f"| {_percentile(floor, 0.5) * 1e3:.1f} ms | {_percentile(floor, 0.99) * 1e3:.1f} ms |",
            f"| POST /api/v1/requests/{{id}}/decisions (approve) | {rate:,.0f} "
            f"| {p50 * 1e3:.1f} ms | {p99 * 1e3:.1f} ms |",
            "",
        ]
    )
    return Section("Approvals (`bench/approvals.py`)", body)


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
