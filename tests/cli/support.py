"""Running the ``sealgate`` command as a user would: a fresh process, its own directory and environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.ports import free_port

SEALGATE = [sys.executable, "-m", "sealgate"]


def environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")}
    env.update(settings)
    return env


def run(cwd: Path, *args: str, stdin: str | None = None, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEALGATE, *args],
        cwd=cwd,
        env=environment(**settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serving(cwd: Path, log: Path, *command: str, **settings: str) -> Iterator[str]:
    """Start ``sealgate serve`` (or another serving command) and yield its base URL once /healthz answers; on the
    port ``SEALGATE_PORT`` names, or a free one."""
    port = int(settings.get("SEALGATE_PORT") or free_port())
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*SEALGATE, *(command or ("serve",)), "--port", str(port)],
            cwd=cwd,
            env=environment(**settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"sealgate serve exited with {proc.returncode}: {log.read_text()}")
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"sealgate serve did not come up: {log.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
