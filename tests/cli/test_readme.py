"""The README's commands run as written.

Every ```sh block of README.md runs, in order, each in a fresh ``bash -euo pipefail``, in a directory of its own that
stands for the checkout (its ``var/`` is the service's), against the demo served on http://127.0.0.1:8000, the
address the README writes; so port 8000 must be free, and the test is skipped when it is not.

The first block (``make run``, ``make test``) is not run as such: the test does what ``make run`` does
(``sealgate db upgrade``, ``sealgate ca init --if-missing``, ``sealgate demo``, ``sealgate serve``), and ``make test``
is this very test suite. Here curl fails on an HTTP error (a ``.curlrc`` with ``fail-with-body``), so a refused call
fails its block instead of handing ``null`` on to jq. What a block leaves running in the background (the emulated
machine, the witness) is stopped at the end, with the block's process group.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.cli.support import environment, run, serving

README = Path(__file__).resolve().parents[2] / "README.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BASE = "http://127.0.0.1:8000"
BLOCK_SECONDS = 120.0  # one block's bound: the slowest took a minute on a machine loaded eight times over
BUDGET = 420.0  # every block's together: under 2 min at ordinary load, 5 min on that machine


def sh_blocks() -> list[str]:
    return SH_BLOCK.findall(README.read_text("utf-8"))


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def token(username: str) -> dict[str, str]:
    password = "demo-" + username.replace(".", "-")
    answer = httpx.post(f"{BASE}/api/v1/auth/token", data={"username": username, "password": password})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def state_of(root: Path, saved: str, username: str) -> str:
    """The state now of the request whose submission a block saved in ``saved``."""
    request_id = json.loads((root / saved).read_text())["id"]
    found = httpx.get(f"{BASE}/api/v1/requests/{request_id}", headers=token(username))
    assert found.status_code == 200, found.text
    state: str = found.json()["state"]
    return state


def test_the_first_block_is_make_run_then_make_test() -> None:
    first = sh_blocks()[0]
    assert [line.split("#")[0].strip() for line in first.splitlines()] == ["make run", "make test"]


def run_block(number: int, block: str, cwd: Path, env: dict[str, str], timeout: float, groups: list[int]) -> str:
    """Run one block to its end; return what it printed. Its process group is added to ``groups``."""
    log = cwd.parent / f"block-{number}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        groups.append(proc.pid)
        try:
            code = proc.wait(timeout=max(1.0, min(timeout, BLOCK_SECONDS)))
        except subprocess.TimeoutExpired:
            pytest.fail(f"README block {number} ran out of time:\n{block}\n--- it printed:\n{log.read_text()}")
    printed = log.read_text()
    assert code == 0, f"README block {number} exited {code}:\n{block}\n--- it printed:\n{printed}"
    return printed


@pytest.mark.slow
@pytest.mark.xdist_group("timed")  # a machine, a terminal and a witness beside the service: not beside timed tests
def test_every_sh_block_of_the_readme_runs_in_order_against_the_demo(tmp_path: Path) -> None:
    if port_taken(8000):
        pytest.skip("port 8000 is taken, and the README's commands speak to http://127.0.0.1:8000")
    missing = [tool for tool in ("bash", "curl", "jq", "openssl") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the README's commands need {', '.join(missing)}")
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "sealgate").exists(), "the sealgate command is installed beside this Python"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".curlrc").write_text("fail-with-body\nshow-error\n")
    root = tmp_path / "checkout"
    root.mkdir()
    for command in (("db", "upgrade"), ("ca", "init", "--if-missing"), ("demo",)):
        done = run(root, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    env = environment(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", HOME=str(home), CURL_HOME=str(home))
    blocks = sh_blocks()
    printed: dict[int, str] = {}
    groups: list[int] = []
    with serving(root, tmp_path / "serve.log", SEALGATE_PORT="8000"):
        deadline = time.monotonic() + BUDGET
        try:
            for number, block in enumerate(blocks[1:], start=2):
                printed[number] = run_block(number, block, root, env, deadline - time.monotonic(), groups)
            assert state_of(root, "var/request.json", "sn.resident") == "completed"  # sealed
            assert state_of(root, "var/letter.json", "sn.staff") == "completed"  # its two stamps made
            machine = httpx.get(f"{BASE}/api/v1/machines/shuinan-1", headers=token("sn.sealadmin")).json()
            assert (machine["status"], machine["last_counter"]) == ("active", 2)
        finally:
            for group in groups:
                with suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGTERM)
    assert (root / "var" / "sealed.pdf").read_bytes().startswith(b"%PDF-")
    assert "BEGIN CERTIFICATE" in (root / "var" / "seal.pem").read_text()
    [verified] = [out for number, out in printed.items() if "/api/v1/verify" in blocks[number - 1]]
    assert '"TOTAL-PASSED"' in verified.splitlines(), verified  # the service's answer
    assert '{"indication":"TOTAL-PASSED","receipt":{"verified":true,' in verified, verified  # offline, and logged
