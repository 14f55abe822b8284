"""Servers started together on the development token: all of them open it, and there is one token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4


def start_together(var_dir: Path) -> list[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_") and k != "SOFTHSM2_CONF"},
        "SEALGATE_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(ROOT),
    }
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.keystore.opener", str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    return [proc.communicate(timeout=60)[0].strip() for proc in procs]


def test_first_start_makes_one_token_and_later_starts_open_it(tmp_path: Path) -> None:
    for _ in range(4):
        assert start_together(tmp_path) == ["opened"] * PROCESSES
    tokens = [p for p in (tmp_path / "softhsm" / "tokens").iterdir() if p.is_dir()]
    assert len(tokens) == 1
