"""The emulator's serving loop: a Machine behind a Link on a pseudo-terminal, with line faults, a seal that can lose
power mid-stamp, and a case that can be opened (SIGUSR1)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from physical_seal.device.camera import Camera
from physical_seal.device.machine import Machine
from physical_seal.device.pty import FdPort, NoisyPort, open_pty
from physical_seal.device.store import Store
from physical_seal.protocol.link import Faults, Link, LinkDown
from physical_seal.protocol.messages import Malformed, is_response, refusal

POWER_LOSS_EXIT = 137  # what a shell reports for a process killed outright


@dataclass
class Options:
    machine: str
    state: Path
    position: tuple[int, int]
    custodians: Mapping[str, str] = field(default_factory=dict)
    sheets: Path | None = None
    faults: Faults | None = None
    power_loss_at: int | None = None
    clock_drift: float = 0.0
    reset_tamper: bool = False


@dataclass
class _Signals:
    stop: bool = False
    tamper: bool = False

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def on_tamper(self, signum: int, frame: FrameType | None) -> None:
        # Only noted here: the alarm is written between requests, never inside another request's transaction.
        self.tamper = True


class _Seal:
    """The seal's actuator; with ``power_loss_at`` the N-th press of this process never finishes."""

    def __init__(self, power_loss_at: int | None) -> None:
        self._power_loss_at = power_loss_at
        self._presses = 0

    def press(self) -> None:
        self._presses += 1
        if self._presses == self._power_loss_at:
            os._exit(POWER_LOSS_EXIT)


def serve(options: Options) -> None:
    """Print the device path as the first line of stdout, then answer requests until SIGTERM or SIGINT."""
    store = Store(options.state, options.machine)
    machine = Machine(
        store,
        clock=lambda: time.time() + options.clock_drift,
        position=options.position,
        custodians=options.custodians,
        camera=Camera(options.machine, options.sheets),
        press=_Seal(options.power_loss_at).press,
    )
    if options.reset_tamper:
        machine.reset_tamper()
    signals = _Signals()
    signal.signal(signal.SIGTERM, signals.on_stop)
    signal.signal(signal.SIGINT, signals.on_stop)
    signal.signal(signal.SIGUSR1, signals.on_tamper)
    master, path = open_pty()
    port = FdPort(master) if options.faults is None else NoisyPort(master, options.faults)
    link = Link(port, faults=options.faults)
    print(path, flush=True)
    try:
        while not signals.stop:
            if signals.tamper:
                signals.tamper = False
                machine.tamper()
            try:
                message = link.receive(0.5)
            except Malformed as exc:
                print(f"device-sim: a malformed request: {exc}", file=sys.stderr, flush=True)
                if exc.rid is None or exc.kind is None or is_response(exc.kind):
                    continue  # no number to answer to: the terminal gives up on it after its response timeout
                kind, response = exc.kind, refusal(exc.rid, "malformed", str(exc)[:200])
            else:
                if message is None or is_response(message.kind):
                    continue
                kind, response = message.kind, machine.handle(message.kind, message.fields)
            try:
                link.send(kind + 1, response)
            except LinkDown as exc:
                print(f"device-sim: {exc}", file=sys.stderr, flush=True)
    finally:
        store.close()
        os.close(master)
