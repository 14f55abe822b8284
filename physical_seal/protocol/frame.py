"""Framing of docs/protocol.md §3: header, payload and CRC-32, COBS-encoded and ended by one zero byte."""

import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

VERSION = 1
MAX_PAYLOAD = 4096
_HEADER = struct.Struct(">BBHH")
_CRC = struct.Struct(">I")
_OVERHEAD = _HEADER.size + _CRC.size
MAX_FRAME = _OVERHEAD + MAX_PAYLOAD
# COBS adds one code byte per started run of 254 bytes: the largest body a valid frame can take on the wire.
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 1


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """A frame the receiver discards and answers with a NAK; `reason` is for logs and tests."""

    reason: str  # "cobs", "length", "crc", "version" or "too-large"


def encode(type: int, seq: int, payload: bytes) -> bytes:
    """The bytes on the wire for one frame, delimiter included."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes, at most {MAX_PAYLOAD}")
    raw = _HEADER.pack(VERSION, type, seq, len(payload)) + payload
    body: bytes = cobs.encode(raw + _CRC.pack(zlib.crc32(raw)))
    return body + b"\x00"


def decode(body: bytes) -> Frame | BadFrame:
    """One COBS-encoded body, without its delimiter; checks in the order §3 lists them."""
    try:
        raw: bytes = cobs.decode(body)
    except cobs.DecodeError:
        return BadFrame("cobs")
    if len(raw) > MAX_FRAME:
        return BadFrame("too-large")
    if len(raw) < _OVERHEAD:
        return BadFrame("length")
    version, type_, seq, length = _HEADER.unpack_from(raw)
    if length > MAX_PAYLOAD:
        return BadFrame("too-large")
    if length != len(raw) - _OVERHEAD:
        return BadFrame("length")
    (crc,) = _CRC.unpack_from(raw, len(raw) - _CRC.size)
    if crc != zlib.crc32(raw[: -_CRC.size]):
        return BadFrame("crc")
    if version != VERSION:
        return BadFrame("version")
    return Frame(type_, seq, raw[_HEADER.size : -_CRC.size])


class Deframer:
    """Cuts a byte stream into frames, holding at most one frame's worth of bytes whatever the stream carries."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._synced = False  # bytes before the first zero after start-up are discarded (§3)
        self._overflowed = False  # the current run already exceeded MAX_ENCODED and was reported

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        out: list[Frame | BadFrame] = []
        start = 0
        while start < len(data):
            end = data.find(b"\x00", start)
            if end < 0:
                self._keep(data[start:], out)
                break
            self._keep(data[start:end], out)
            if self._synced and not self._overflowed and self._buffer:
                out.append(decode(bytes(self._buffer)))
            # Empty runs (two zeros in a row) are idle fill, not frames.
            self._buffer.clear()
            self._synced = True
            self._overflowed = False
            start = end + 1
        return out

    def _keep(self, part: bytes, out: list[Frame | BadFrame]) -> None:
        if not self._synced or self._overflowed:
            return
        self._buffer += part
        if len(self._buffer) > MAX_ENCODED:
            self._buffer.clear()
            self._overflowed = True
            out.append(BadFrame("too-large"))
