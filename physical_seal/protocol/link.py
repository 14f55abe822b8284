"""Reliable delivery of docs/protocol.md §4.1 over a serial port, and the terminal's request/response client."""

import random
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from physical_seal.protocol.frame import BadFrame, Deframer, Frame, encode
from physical_seal.protocol.messages import Kind, Malformed, decode_fields, encode_fields

_SEQ_MOD = 65536
_POLL = 0.1  # the longest a read blocks: waits are cut into slices of this so the port's timeout seldom changes


class Port(Protocol):
    """What a Link needs of a port; a `serial.Serial` is one."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...


class LinkDown(Exception):
    """The other side stopped answering: the terminal starts over with HELLO (§4.1)."""


class Refused(Exception):
    """An `ok: false` response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Message:
    kind: int
    seq: int
    fields: dict[str, Any]


@dataclass
class Faults:
    """Line faults a Link puts on every frame it writes, so the emulator and the tests can exercise recovery."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not all(0.0 <= p <= 1.0 for p in (self.drop, self.corrupt, self.duplicate)):
            raise ValueError("fault probabilities are between 0 and 1")
        self._random = random.Random(self.seed)  # noqa: S311 - line noise, not secrets

    def apply(self, wire: bytes) -> list[bytes]:
        """The writes that stand for one frame: none, the frame (perhaps with one byte flipped), or it twice."""
        if self._random.random() < self.drop:
            return []
        if self._random.random() < self.corrupt:
            # Any byte of the COBS body but the delimiter, xor-ed with a non-zero mask.
            at = self._random.randrange(len(wire) - 1)
            wire = wire[:at] + bytes([wire[at] ^ self._random.randrange(1, 256)]) + wire[at + 1 :]
        return [wire, wire] if self._random.random() < self.duplicate else [wire]


class Link:
    """One end of the line: one outstanding data frame, ACKs, NAKs, retransmission and duplicate suppression.

    Single-threaded: the port is read only inside send() and receive(), and data frames that arrive while send()
    waits for its ACK are kept for receive().
    """

    def __init__(
        self,
        port: Port,
        *,
        ack_timeout: float = 0.25,
        max_sends: int = 10,
        faults: Faults | None = None,
        first_seq: int | None = None,
    ) -> None:
        self._port = port
        self._ack_timeout = ack_timeout
        self._max_sends = max_sends
        self._faults = faults
        self._deframer = Deframer()
        # Where numbering starts is random, so that a side that restarts is unlikely to reuse the seq the other
        # last accepted from it (a frame taken for a duplicate is ACKed and dropped); first_seq fixes it in tests.
        self._next_seq = secrets.randbelow(_SEQ_MOD) if first_seq is None else first_seq
        self._last_accepted: int | None = None
        self._inbox: deque[Frame] = deque()
        self._started = False

    def send(self, kind: int, fields: Mapping[str, Any]) -> None:
        """Deliver one data frame, returning once the other side ACKed it."""
        seq = self._next_seq
        self._next_seq = (seq + 1) % _SEQ_MOD
        if kind == Kind.HELLO:
            self._last_accepted = None  # a new session: the other side may have restarted its numbering
        wire = encode(kind, seq, encode_fields(fields))
        for _ in range(self._max_sends):
            self._write(wire)
            deadline = time.monotonic() + self._ack_timeout
            answer: int | None = None
            while answer is None:
                chunk = self._read(deadline)
                if not chunk and time.monotonic() >= deadline:
                    break
                answer = self._take(chunk, seq)
            if answer == Kind.ACK:
                return
        raise LinkDown(f"no ACK for seq {seq} after {self._max_sends} sends")

    def receive(self, timeout: float | None) -> Message | None:
        """The next data frame from the other side, each delivered once; None when `timeout` seconds pass first.

        Raises messages.Malformed for a frame that arrived intact (and was ACKed) but whose map breaks §4.2.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._inbox:
            chunk = self._read(deadline)
            if not chunk and deadline is not None and time.monotonic() >= deadline:
                return None
            self._take(chunk, None)
        frame = self._inbox.popleft()
        return Message(frame.type, frame.seq, decode_fields(frame.type, frame.payload))

    def _take(self, chunk: bytes, outstanding: int | None) -> int | None:
        """Handle what `chunk` completes; ACK if it holds the ACK of `outstanding`, NAK if a NAK, else None."""
        answer: int | None = None
        for item in self._deframer.feed(chunk):
            if isinstance(item, BadFrame):
                self._write(encode(Kind.NAK, 0, b""))
            elif item.type == Kind.ACK:
                if outstanding is not None and item.seq == outstanding:
                    answer = Kind.ACK
            elif item.type == Kind.NAK:
                if outstanding is not None and answer is None:
                    answer = Kind.NAK
            else:
                self._write(encode(Kind.ACK, item.seq, b""))
                if item.seq != self._last_accepted:
                    self._last_accepted = item.seq
                    self._inbox.append(item)
        return answer

    def _read(self, deadline: float | None) -> bytes:
        """What arrives within the next slice of the wait: one blocking byte, then all the port already holds."""
        wait = _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
        # pyserial reconfigures the line on every timeout assignment: assign only a changed value.
        if self._port.timeout != wait:
            self._port.timeout = wait
        first = self._port.read(1)
        # A serial.Serial tells how many more bytes it holds; a port that cannot is read a byte at a time.
        waiting: int = getattr(self._port, "in_waiting", 0)
        return first + self._port.read(waiting) if first and waiting else first

    def _write(self, wire: bytes) -> None:
        if not self._started:
            # The other side discards everything before its first zero byte (§3): without this zero our first
            # frame would be lost whenever it started listening before we spoke.
            self._port.write(b"\x00")
            self._started = True
        for data in self._faults.apply(wire) if self._faults else [wire]:
            self._port.write(data)
        self._port.flush()


class Client:
    """The terminal's side: numbers requests and waits for the matching response (§4.2)."""

    def __init__(self, link: Link, response_timeout: float = 5.0, *, first_rid: int = 1) -> None:
        self._link = link
        self._response_timeout = response_timeout
        self._next_rid = first_rid

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        """The response's fields besides `rid` and `ok`; raises Refused when `ok` is false."""
        rid = self._next_rid
        self._next_rid += 1
        self._link.send(kind, {"rid": rid, **fields})
        deadline = time.monotonic() + self._response_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self._link.receive(remaining)
            except Malformed as exc:  # a machine that answers what nobody can read is as good as gone
                raise LinkDown(f"an unreadable response to request {rid}: {exc}") from None
            if message is None:
                break
            # A late response to an earlier request the terminal gave up on is not this one's.
            if message.kind != kind + 1 or message.fields["rid"] != rid:
                continue
            reply = {key: value for key, value in message.fields.items() if key not in ("rid", "ok")}
            if not message.fields["ok"]:
                raise Refused(reply["error"], reply["message"])
            return reply
        raise LinkDown(f"no response to request {rid} (type 0x{kind:02x}) within {self._response_timeout} s")
