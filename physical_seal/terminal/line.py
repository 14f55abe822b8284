"""The terminal's serial port, which outlives the machine going away: a port that fails (the machine lost power, a
cable was pulled, a USB adapter re-enumerated) reads nothing and loses what is written, as a dead line does, and
is opened again at its next use, so the link recovers by itself when the machine comes back."""

from __future__ import annotations

import contextlib
import time

import serial


class SerialLine:
    def __init__(self, path: str, baud: int, timeout: float = 0.1) -> None:
        self._path, self._baud = path, baud
        self.timeout: float | None = timeout
        self._port: serial.Serial | None = serial.Serial(path, baud, timeout=timeout)  # a wrong path fails now

    def _open(self) -> serial.Serial | None:
        if self._port is None:
            try:
                self._port = serial.Serial(self._path, self._baud, timeout=self.timeout)
            except (serial.SerialException, OSError):
                return None
        if self._port.timeout != self.timeout:
            self._port.timeout = self.timeout
        return self._port

    def _lost(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    @property
    def in_waiting(self) -> int:
        port = self._open()
        try:
            return int(port.in_waiting) if port is not None else 0
        except (serial.SerialException, OSError):
            self._lost()
            return 0

    def read(self, size: int = 1) -> bytes:
        port = self._open()
        if port is None:
            time.sleep(self.timeout or 0.1)
            return b""
        try:
            return bytes(port.read(size))
        except (serial.SerialException, OSError):
            self._lost()
            return b""

    def write(self, data: bytes, /) -> int:
        port = self._open()
        try:
            return int(port.write(data) or 0) if port is not None else 0
        except (serial.SerialException, OSError):
            self._lost()
            return 0

    def flush(self) -> None:
        port = self._open()
        try:
            if port is not None:
                port.flush()
        except (serial.SerialException, OSError):
            self._lost()

    def close(self) -> None:
        self._lost()
