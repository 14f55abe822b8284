"""The paper half end to end, as it runs: `sealgate serve`, `sealgate device-sim` on a pseudo-terminal and
`sealgate terminal` between them, each a process of its own, on the demo data. A physical request is approved,
authorised, stamped at the machine, and every stamp lands in the log with its photo, provably; over a noisy line,
with the service away, and with the power lost in the middle of a stamp."""

from __future__ import annotations

import base64
import hashlib
import json
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from bench.machines import physical_request
from bench.ports import free_port
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import open_checkpoint, parse_vkey
from sealgate.cli import demo
from tests.cli.support import SEALGATE, environment, run, serving
from tests.workflow import pdfs

# Three processes each: never beside the verifier's timed corpus test (same group, same worker, one at a time).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("timed")]

MACHINE = "shuinan-1"
PIN = "123456"
PASSWORDS = {p["username"]: p["password"] for p in demo.dataset()["users"]}


@dataclass
class Site:
    root: Path
    code: str
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def serving(self) -> Iterator[str]:
        with serving(self.root, self.root / "serve.log", SEALGATE_PORT=str(self.port)) as base:
            yield base


@pytest.fixture
def site(tmp_path: Path) -> Site:
    for command in (("db", "upgrade"), ("demo",), ("ca", "init")):
        done = run(tmp_path, *command)
        assert done.returncode == 0, done.stdout + done.stderr
        if command == ("demo",):
            code = next(line.split()[1] for line in done.stdout.splitlines() if line.strip().startswith(MACHINE))
    return Site(tmp_path, code, free_port())


@contextmanager
def machine(site: Site, *options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The emulated seal machine, and the path of its serial port."""
    with (site.root / "machine.log").open("a") as log:
        command = ["device-sim", "--machine", MACHINE, "--state", str(site.root / "machine")]
        options = ("--custodian", f"sn.custodian1:{PIN}", "--position", "18.3660,109.1620", *options)
        proc = subprocess.Popen(
            [*SEALGATE, *command, *options],
            cwd=site.root,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert proc.stdout is not None
            yield proc, proc.stdout.readline().strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


class Terminal:
    """`sealgate terminal` driven as a custodian drives it: a command on its stdin, one line of JSON back."""

    def __init__(self, site: Site, port: str, *, enrol: bool) -> None:
        args = ["--port", port, "--server", site.base, "--machine", MACHINE, "--state", str(site.root / "terminal")]
        self.log = (site.root / "terminal.log").open("a")
        self.proc = subprocess.Popen(
            [*SEALGATE, "terminal", *args, "--poll", "0.5", *(("--enrol", site.code) if enrol else ())],
            cwd=site.root,
            env=environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def __call__(self, line: str, timeout: float = 60) -> dict[str, Any]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer = _line(stdout, timeout, line)
        if answer is None:  # the terminal exited: what it said on the way out is the failure's reason
            self.log.flush()
            said = Path(self.log.name).read_text(errors="replace")[-4000:]
            raise AssertionError(f"the terminal exited ({self.proc.wait(timeout=30)}) on {line!r}:\n{said}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self("quit")
            self.proc.wait(timeout=30)
        self.log.close()


def _line(stdout: IO[str], timeout: float, asked: str) -> dict[str, Any] | None:
    """The answer to ``asked``; None at the end of the output."""
    if not select.select([stdout], [], [], timeout)[0]:
        raise AssertionError(f"the terminal did not answer {asked!r} within {timeout} s")
    line = stdout.readline()
    if not line:
        return None
    answer: dict[str, Any] = json.loads(line)
    return answer


@contextmanager
def terminal(site: Site, port: str, *, enrol: bool = False) -> Iterator[Terminal]:
    agent = Terminal(site, port, enrol=enrol)
    try:
        yield agent
    finally:
        agent.close()


def login(base: str, username: str) -> dict[str, str]:
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORDS[username]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def authorised(base: str, copies: int, document: bytes) -> tuple[int, bytes]:
    """A physical request of 水南村 for ``copies`` uses, approved by its chain, once its machine is authorised; and
    the sheet to print and stamp (the document with its record's QR code)."""
    body = physical_request("yazhou.shuinan", copies)
    files = {"document": ("agreement.pdf", document, "application/pdf")}
    data = {"request": json.dumps(body, ensure_ascii=False)}
    submitted = httpx.post(f"{base}/api/v1/requests", headers=login(base, "sn.staff"), files=files, data=data)
    assert submitted.status_code == 201, submitted.text
    rid: int = submitted.json()["id"]
    for who, level in (("sn.secretary", 1), ("sn.sealadmin", 2)):
        decision = {"decision": "approve", "level": level}
        decided = httpx.post(f"{base}/api/v1/requests/{rid}/decisions", headers=login(base, who), json=decision)
        assert decided.status_code == 200, decided.text
    assert until(lambda: request(base, rid)["state"] == "authorised"), request(base, rid)["state"]
    sheet = httpx.get(f"{base}/api/v1/requests/{rid}/sheet", headers=login(base, "sn.custodian1"))
    assert sheet.status_code == 200, sheet.text
    return rid, sheet.content


def request(base: str, rid: int) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{base}/api/v1/requests/{rid}", headers=login(base, "sn.staff")).json()
    return found


def until(check: Any, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return bool(check())


def loaded(agent: Terminal) -> str:
    """The id of the one authorisation the machine holds, once the terminal has loaded it."""
    assert until(lambda: agent("sync")["service"] and agent("status")["auths"])
    [held] = agent("status")["auths"]
    held_id: str = held["id"]
    return held_id


def log_entries(base: str, of_type: str) -> list[tuple[int, dict[str, Any], bytes]]:
    """Every logged entry of a type, once the integrator has caught up with everything queued."""
    size = 0
    entries: list[tuple[int, dict[str, Any], bytes]] = []
    time.sleep(1)  # the integrator runs every 0.2 s idle
    size = int(httpx.get(f"{base}/log/checkpoint").text.splitlines()[1])
    for index in range(size):
        entry = httpx.get(f"{base}/api/v1/log/entries/{index}").json()
        if entry["entry"]["type"] == of_type:
            entries.append((index, entry["entry"], base64.b64decode(entry["raw"])))
    return entries


def test_three_stamps_under_a_three_use_authorisation_and_a_fourth_refused(site: Site) -> None:
    document = pdfs.clean("劳务协议")
    sheet = site.root / "agreement.pdf"
    with site.serving() as base, machine(site) as (_, port), terminal(site, port, enrol=True) as agent:
        rid, printed = authorised(base, 3, document)
        sheet.write_bytes(printed)
        held = loaded(agent)
        assert agent(f"login sn.custodian1 {PIN}")["ok"]
        stamps = [agent(f"stamp {held} {sheet}") for _ in range(3)]
        assert [(s["ok"], s["use"]) for s in stamps] == [(True, 1), (True, 2), (True, 3)]
        fourth = agent(f"stamp {held} {sheet}")
        assert (fourth["ok"], fourth["error"]) == (False, "uses-exceeded")
        assert until(lambda: agent("sync")["pending"] == 0 and request(base, rid)["state"] == "completed")
        alarms = httpx.get(f"{base}/api/v1/alarms", headers=login(base, "sn.sealadmin")).json()
        assert [a["code"] for a in alarms] == ["uses-exceeded"]

        logged = log_entries(base, "machine.stamp")
        assert [e["data"]["use"] for _, e, _ in logged] == [1, 2, 3]
        vkey = parse_vkey(httpx.get(f"{base}/api/v1/log/key").json()["vkey"])
        checkpoint, _ = open_checkpoint(httpx.get(f"{base}/log/checkpoint").text, "127.0.0.1:8000/log", [vkey])
        for index, _, raw in logged:
            proof = httpx.get(
                f"{base}/api/v1/log/proofs/inclusion", params={"index": index, "size": checkpoint.size}
            ).json()
            hashes = [base64.b64decode(p) for p in proof["proof"]]
            verify_inclusion(leaf_hash(raw), index, checkpoint.size, hashes, checkpoint.root)

        record = request(base, rid)["record"]
        page = httpx.get(f"{base}{record}?lang=en").text
        stamped = page[page.index("<h3>Stamps</h3>") :]
        for index, entry, _ in logged:
            assert f"use {entry['data']['use']} ·" in stamped
            assert f'href="/api/v1/log/entries/{index}"' in stamped
            photo = httpx.get(f"{base}{record}/photos/{entry['data']['photo']}")
            assert photo.status_code == 200
            assert photo.content.startswith(b"\x89PNG")
            assert hashlib.sha256(photo.content).hexdigest() == entry["data"]["photo"]


def test_a_noisy_line_loses_no_stamp_and_doubles_none(site: Site) -> None:
    document = pdfs.clean("一百份")
    noisy = ("--drop", "0.05", "--corrupt", "0.05", "--seed", "17")  # one frame in ten, each way
    with site.serving() as base, machine(site, *noisy) as (_, port), terminal(site, port, enrol=True) as agent:
        rid, printed = authorised(base, 100, document)
        held = loaded(agent)
        assert agent(f"login sn.custodian1 {PIN}")["ok"]
        digest = hashlib.sha256(printed).hexdigest()
        stamps = [agent(f"stamp {held} {digest}") for _ in range(100)]
        assert [s.get("use") for s in stamps] == list(range(1, 101))
        assert until(lambda: agent("sync")["pending"] == 0 and request(base, rid)["state"] == "completed", 120)
        logged = log_entries(base, "machine.stamp")
        assert sorted(e["data"]["counter"] for _, e, _ in logged) == list(range(1, 101))
        assert httpx.get(f"{base}/api/v1/alarms", headers=login(base, "sn.sealadmin")).json() == []


def test_stamps_made_while_the_service_is_away_arrive_in_order_and_a_power_loss_is_alarmed(site: Site) -> None:
    document = pdfs.clean("二十份")
    with machine(site) as (_, port), terminal(site, port, enrol=True) as agent:
        with site.serving() as base:
            rid, printed = authorised(base, 22, document)
            digest = hashlib.sha256(printed).hexdigest()
            held = loaded(agent)
            assert agent(f"login sn.custodian1 {PIN}")["ok"]
        offline = [agent(f"stamp {held} {digest}") for _ in range(20)]
        assert all(s["ok"] for s in offline)
        waiting = agent("sync")
        assert (waiting["service"], waiting["pending"]) == (False, 20)
        with site.serving() as base:
            assert until(lambda: agent("sync")["pending"] == 0)
            logged = log_entries(base, "machine.stamp")
            assert [e["data"]["counter"] for _, e, _ in logged] == list(range(1, 21))  # in the log in order
            assert request(base, rid)["state"] == "executing"

    with site.serving() as base:
        with machine(site, "--power-loss-at", "1") as (dying, port), terminal(site, port) as agent:
            assert agent(f"login sn.custodian1 {PIN}")["ok"]
            lost = agent(f"stamp {held} {digest}")
            assert not lost["ok"]
            assert dying.wait(timeout=30) == 137
        with machine(site) as (_, port), terminal(site, port) as agent:
            assert agent(f"login sn.custodian1 {PIN}")["ok"]
            last = agent(f"stamp {held} {digest}")
            assert (last["ok"], last["counter"], last["use"]) == (True, 22, 22)
            assert until(lambda: agent("sync")["pending"] == 0 and request(base, rid)["state"] == "completed")
        alarms = httpx.get(f"{base}/api/v1/alarms", headers=login(base, "sn.sealadmin")).json()
        assert [a["code"] for a in alarms] == ["power-loss"]  # the 21st: maybe pressed, never reported as a stamp
        counters = [e["data"]["counter"] for _, e, _ in log_entries(base, "machine.stamp")]
        assert counters == [*range(1, 21), 22]
