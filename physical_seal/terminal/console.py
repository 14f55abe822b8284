"""The custodian's console: commands on stdin, one JSON line per command on stdout, passes in between.

Stdin is read by a thread into a queue so a pass is never blocked by a silent console; every command and pass
runs in the calling thread, which alone touches the serial port.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import queue
import re
import shlex
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from physical_seal.protocol.link import LinkDown, Refused
from physical_seal.terminal.agent import Agent

log = logging.getLogger(__name__)

_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_USAGE = {
    "login": "login USER PIN",
    "logout": "logout",
    "stamp": "stamp AUTH_ID DOC",
    "close": "close AUTH_ID",
    "status": "status",
    "sync": "sync",
    "quit": "quit",
}


class _Usage(Exception):
    pass


def document_digest(doc: str) -> bytes:
    """DOC is 64 hex digits, or the path of the sheet's PDF whose SHA-256 the machine is given."""
    if _HEX_DIGEST.match(doc):
        return bytes.fromhex(doc)
    try:
        return hashlib.sha256(Path(doc).read_bytes()).digest()
    except OSError as exc:
        raise _Usage(f"cannot read {doc}: {exc.strerror}") from None


def execute(agent: Agent, line: str) -> dict[str, Any]:
    """Run one command line; the answer says `ok` and, when not, an `error` code and a `message`."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return {"command": None, "ok": False, "error": "usage", "message": str(exc)}
    name, args = words[0], words[1:]
    reply: dict[str, Any] = {"command": name}
    try:
        reply.update(ok=True, **_run(agent, name, args))
    except _Usage as exc:
        reply.update(ok=False, error="usage", message=str(exc) or f"usage: {_USAGE.get(name, ', '.join(_USAGE))}")
    except Refused as exc:
        reply.update(ok=False, error=exc.code, message=exc.message)
    except LinkDown as exc:
        reply.update(ok=False, error="link-down", message=str(exc))
    return reply


def _run(agent: Agent, name: str, args: list[str]) -> dict[str, Any]:
    arity = {"login": 2, "stamp": 2, "close": 1}.get(name, 0)
    if name not in _USAGE or len(args) != arity:
        raise _Usage
    if name == "login":
        return {"custodian": agent.login(args[0], args[1])["custodian"]}
    if name == "logout":
        agent.logout()
        return {}
    if name == "stamp":
        event = agent.stamp(args[0], document_digest(args[1]))
        return {"counter": event.counter, "use": event.use}
    if name == "close":
        return {"counter": agent.close(args[0]).counter}
    if name == "status":
        status = agent.status()
        auths = [{"id": a, "uses_left": u, "exp": e} for a, u, e in status["auths"]]
        return {**status, "auths": auths, "journal": dataclasses.asdict(agent.journal.counts())}
    if name == "sync":
        return dataclasses.asdict(agent.sync())
    return {}  # quit


def _read_lines(lines: Iterable[str], inbox: queue.Queue[str | None]) -> None:
    for line in lines:
        if line.strip():
            inbox.put(line.strip())
    inbox.put(None)


def run(agent: Agent, commands: TextIO, out: TextIO, *, poll: float = 2.0) -> None:
    """Serve commands and pass every `poll` seconds until `quit`, end of input or SIGTERM."""
    inbox: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(commands, inbox), name="console", daemon=True).start()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    next_pass = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_pass:
            agent.sync()
            next_pass = time.monotonic() + poll
        try:
            line = inbox.get(timeout=max(0.0, min(0.2, next_pass - time.monotonic())))
        except queue.Empty:
            continue
        if line is None:
            break
        reply = execute(agent, line)
        out.write(json.dumps(reply) + "\n")
        out.flush()
        if reply["command"] == "quit":
            break
        if reply["command"] in ("stamp", "close"):
            agent.sync()  # so the event goes up at once
            next_pass = time.monotonic() + poll
    log.info("terminal stopped")
