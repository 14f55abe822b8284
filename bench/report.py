"""Measuring and reporting: rates as medians of alternating rounds, and the machine they ran on."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class Section:
    title: str
    body: str


def rate(work: Callable[[], object], seconds: float, threads: int = 1) -> float:
    """Calls per second of ``work`` from ``threads`` threads together for about ``seconds``."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def loop(slot: int) -> None:
        start.wait()
        n = 0
        while not stop.is_set():
            work()
            n += 1
        counts[slot] = n

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - began)


def median_rates(
    candidates: dict[str, tuple[Callable[[], object], int]], seconds: float, rounds: int
) -> dict[str, float]:
    """Rates of (work, threads) candidates, each measured once per round in turn, so that drift in the machine
    touches all of them alike; the median over rounds is reported."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, (work, threads) in candidates.items():
            samples[name].append(rate(work, seconds, threads))
    return {name: statistics.median(values) for name, values in samples.items()}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _debian(name: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=False, timeout=10
        )
        return out.stdout.strip() or "absent"
    except OSError:
        return "absent"


def machine() -> str:
    rows = [
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{_cpu()}, {os.cpu_count()} cores"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("SoftHSM2", _debian("softhsm2")),
        ("python-pkcs11", _package("python-pkcs11")),
        ("cryptography", _package("cryptography")),
        ("SQLAlchemy", _package("sqlalchemy")),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def document(sections: list[Section]) -> str:
    parts = [
        "# Benchmarks\n",
        "Written by `make bench` (`python -m bench`); every figure is the median of alternating rounds, and every",
        "benchmark runs its baseline in the same process and the same run.\n",
        "## Machine\n",
        machine(),
    ]
    for section in sections:
        parts += [f"## {section.title}\n", section.body]
    return "\n".join(parts)
