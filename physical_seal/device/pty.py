"""A pseudo-terminal standing in for the machine's serial port, so a terminal opens the emulator as a device."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import time
import tty

from physical_seal.protocol.link import Faults

WRITE_WAIT = 1.0  # seconds a write waits for a reader before its bytes are lost, as on a line nobody listens to


def open_pty() -> tuple[int, str]:
    """The master end and the path of the slave end, raw like a serial line (no echo, no line editing).

    The slave stays open in this process, so the master keeps working while terminals come and go.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, os.ttyname(slave)


class FdPort:
    """The port interface of the protocol's Link over a file descriptor: ``read`` honours ``timeout``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.timeout: float | None = None

    @property
    def in_waiting(self) -> int:
        """Bytes that can be read without waiting, so a Link reads a frame in one call instead of byte by byte."""
        buffer = fcntl.ioctl(self.fd, termios.FIONREAD, struct.pack("i", 0))
        waiting: int = struct.unpack("i", buffer)[0]
        return waiting

    def read(self, size: int = 1) -> bytes:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        out = bytearray()
        while len(out) < size:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.fd], [], [], wait)[0]:
                break
            try:
                out += os.read(self.fd, size - len(out))
            except BlockingIOError:
                continue
        return bytes(out)

    def write(self, data: bytes, /) -> int:
        view = memoryview(data)
        while view:
            if not select.select([], [self.fd], [], WRITE_WAIT)[1]:
                break
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                continue
        return len(data)

    def flush(self) -> None:
        """Writes go straight to the descriptor."""


class NoisyPort(FdPort):
    """The same port with the line's faults on what arrives too, frame by frame (a frame ends at its zero byte),
    so that both directions of the emulated line lose and garble frames, not only what the machine sends."""

    def __init__(self, fd: int, faults: Faults) -> None:
        super().__init__(fd)
        self._faults = faults
        self._partial = bytearray()
        self._ready = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self._ready) + super().in_waiting

    def read(self, size: int = 1) -> bytes:
        if not self._ready:
            self._take(super().read(max(size, super().in_waiting)))
        out, self._ready = bytes(self._ready[:size]), self._ready[size:]
        return out

    def _take(self, data: bytes) -> None:
        self._partial += data
        while (end := self._partial.find(0)) >= 0:
            frame, self._partial = bytes(self._partial[: end + 1]), self._partial[end + 1 :]
            for arrived in self._faults.apply(frame) if len(frame) > 1 else [frame]:
                self._ready += arrived
