"""Reliable delivery (docs/protocol.md §4.1) over a real pseudo-terminal, against a hand-driven peer and under
line faults on both ends."""

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import serial

from physical_seal.device.pty import FdPort
from physical_seal.protocol.frame import BadFrame, Deframer, Frame, encode
from physical_seal.protocol.link import Client, Faults, Link, LinkDown, Message, Refused
from physical_seal.protocol.messages import Kind, Malformed, encode_fields, refusal

ACK_TIMEOUT = 0.03


@pytest.fixture
def line() -> Iterator[tuple[FdPort, serial.Serial]]:
    """Two connected ends: the terminal's (pty master) and the machine's (the pty as a serial port, raw mode)."""
    master, slave = os.openpty()
    machine = serial.Serial(os.ttyname(slave), timeout=0)
    try:
        yield FdPort(master), machine
    finally:
        machine.close()
        os.close(slave)
        os.close(master)


class Peer:
    """A hand-driven far end that writes raw frames and reads what the Link under test wrote."""

    def __init__(self, port: FdPort) -> None:
        self.port = port
        self.deframer = Deframer()
        self.started = False

    def write(self, data: bytes) -> None:
        # Like a Link, a zero byte first: the far end discards what precedes its first zero.
        self.port.write(data if self.started else b"\x00" + data)
        self.started = True

    def frames(self, count: int, timeout: float = 2.0) -> list[tuple[Frame | BadFrame, float]]:
        """The next `count` frames with the time each arrived."""
        got: list[tuple[Frame | BadFrame, float]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            self.port.timeout = max(0.0, deadline - time.monotonic())
            chunk = self.port.read(1)
            got += [(item, time.monotonic()) for item in self.deframer.feed(chunk)]
        return got

    def silent_for(self, seconds: float) -> bool:
        return self.frames(1, timeout=seconds) == []


def hello(rid: int) -> bytes:
    return encode_fields({"rid": rid, "terminal": "sealgate-terminal/1"})


def test_receive_acks_each_frame_delivers_a_duplicate_once_and_naks_a_bad_frame(
    line: tuple[FdPort, serial.Serial],
) -> None:
    terminal, machine = line
    peer, link = Peer(terminal), Link(machine, ack_timeout=ACK_TIMEOUT)
    peer.write(encode(Kind.HELLO, 5, hello(1)) * 2 + b"\x05\x01\x00")
    assert link.receive(2.0) == Message(Kind.HELLO, 5, {"rid": 1, "terminal": "sealgate-terminal/1"})
    assert link.receive(0.2) is None
    assert [item for item, _ in peer.frames(3)] == [
        Frame(Kind.ACK, 5, b""),
        Frame(Kind.ACK, 5, b""),
        Frame(Kind.NAK, 0, b""),
    ]
    # The next seq is new again and delivered.
    peer.write(encode(Kind.HELLO, 6, hello(2)))
    message = link.receive(2.0)
    assert message is not None
    assert (message.seq, message.fields["rid"]) == (6, 2)


def test_receive_times_out_with_none(line: tuple[FdPort, serial.Serial]) -> None:
    _, machine = line
    started = time.monotonic()
    assert Link(machine).receive(0.1) is None
    assert 0.09 <= time.monotonic() - started < 1.0


def test_a_malformed_map_is_acked_then_raised_with_its_rid(line: tuple[FdPort, serial.Serial]) -> None:
    terminal, machine = line
    peer, link = Peer(terminal), Link(machine)
    peer.write(encode(Kind.STAMP, 0, encode_fields({"rid": 7, "auth": "a", "doc": b"short"})))
    with pytest.raises(Malformed) as raised:
        link.receive(2.0)
    assert raised.value.rid == 7
    assert [item for item, _ in peer.frames(1)] == [Frame(Kind.ACK, 0, b"")]


def test_send_retransmits_unchanged_after_the_ack_timeout_and_at_once_on_nak(
    line: tuple[FdPort, serial.Serial],
) -> None:
    terminal, machine = line
    peer, link = Peer(terminal), Link(machine, ack_timeout=0.2, first_seq=0)
    sender = threading.Thread(
        target=link.send, args=(Kind.HELLO_OK, {"rid": 1, "ok": False, "error": "malformed", "message": ""})
    )
    sender.start()
    [(first, at_first)] = peer.frames(1)
    [(second, at_second)] = peer.frames(1)
    assert first == second
    assert at_second - at_first >= 0.15
    peer.write(encode(Kind.NAK, 0, b""))
    [(third, at_third)] = peer.frames(1)
    assert third == first
    assert at_third - at_second < 0.15
    peer.write(encode(Kind.ACK, 0, b""))
    sender.join(2.0)
    assert not sender.is_alive()
    assert peer.silent_for(0.3)


def test_data_frames_arriving_while_waiting_for_an_ack_are_acked_and_kept(line: tuple[FdPort, serial.Serial]) -> None:
    terminal, machine = line
    peer, link = Peer(terminal), Link(machine, ack_timeout=0.5, first_seq=0)
    sender = threading.Thread(target=link.send, args=(Kind.STATUS, {"rid": 1}))
    sender.start()
    [(sent, _)] = peer.frames(1)
    assert sent == Frame(Kind.STATUS, 0, encode_fields({"rid": 1}))
    peer.write(encode(Kind.HELLO, 0, hello(9)) + encode(Kind.ACK, 0, b""))
    sender.join(2.0)
    assert not sender.is_alive()
    assert [item for item, _ in peer.frames(1)] == [Frame(Kind.ACK, 0, b"")]
    message = link.receive(0)
    assert message is not None
    assert message.fields["rid"] == 9


def test_link_down_after_max_sends_to_a_silent_end(line: tuple[FdPort, serial.Serial]) -> None:
    terminal, machine = line
    link = Link(machine, ack_timeout=ACK_TIMEOUT, max_sends=4, first_seq=0)
    started = time.monotonic()
    with pytest.raises(LinkDown):
        link.send(Kind.HELLO, {"rid": 1, "terminal": "t"})
    assert time.monotonic() - started >= 4 * ACK_TIMEOUT
    sent = [item for item, _ in Peer(terminal).frames(5, timeout=0.3)]
    assert sent == [Frame(Kind.HELLO, 0, encode_fields({"rid": 1, "terminal": "t"}))] * 4


def test_numbering_starts_anywhere_and_hello_forgets_the_other_sides_numbering(
    line: tuple[FdPort, serial.Serial],
) -> None:
    """A machine that restarted numbers from where it likes; the terminal's HELLO opens a new session, so the
    machine's first answer is not taken for a duplicate of the last one before the restart."""
    terminal, machine = line
    assert len({Link(machine)._next_seq for _ in range(20)}) > 1
    peer, link = Peer(terminal), Link(machine, ack_timeout=0.5, first_seq=7)
    peer.write(encode(Kind.TIME_OK, 3, encode_fields({"rid": 1, "ok": True, "time": 1, "drift": 0})))
    assert link.receive(2.0) is not None
    sender = threading.Thread(target=link.send, args=(Kind.HELLO, {"rid": 2, "terminal": "t"}))
    sender.start()
    [(sent, _)] = [f for f in peer.frames(2) if isinstance(f[0], Frame) and f[0].type == Kind.HELLO][:1]
    assert isinstance(sent, Frame)
    peer.write(encode(Kind.ACK, sent.seq, b""))
    sender.join(2.0)
    answer = {"rid": 2, "ok": True, "machine": "m", "firmware": "f", "protocol": 1, "counter": 0, "epoch": 0}
    peer.write(encode(Kind.HELLO_OK, 3, encode_fields({**answer, "time": 1, "enrolled": True})))  # seq 3 again
    message = link.receive(2.0)
    assert message is not None
    assert message.fields["rid"] == 2


def test_a_client_takes_an_unreadable_response_for_a_link_down(line: tuple[FdPort, serial.Serial]) -> None:
    terminal, machine_port = line
    machine_link = Link(machine_port, ack_timeout=0.5)
    client = Client(Link(terminal, ack_timeout=0.5), response_timeout=2.0)

    def answer_badly() -> None:
        message = machine_link.receive(2.0)
        assert message is not None
        machine_link.send(Kind.TIME_OK, {"rid": message.fields["rid"], "ok": True, "time": "noon"})

    thread = threading.Thread(target=answer_badly)
    thread.start()
    with pytest.raises(LinkDown, match="unreadable response"):
        client.call(Kind.TIME, time=2)
    thread.join(2.0)


def test_faults_drop_corrupt_and_duplicate() -> None:
    wire = encode(Kind.HELLO, 3, hello(1))
    assert Faults(drop=1.0).apply(wire) == []
    assert Faults(duplicate=1.0).apply(wire) == [wire, wire]
    for seed in range(50):
        [corrupted] = Faults(corrupt=1.0, seed=seed).apply(wire)
        assert len(corrupted) == len(wire)
        assert sum(a != b for a, b in zip(corrupted, wire, strict=True)) == 1
        assert corrupted[-1] == 0
        deframer = Deframer()
        deframer.feed(b"\x00")
        assert all(isinstance(item, BadFrame) for item in deframer.feed(corrupted))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(drop=1.5)


def machine_loop(link: Link, stop: threading.Event, handled: Counter[int], errors: list[BaseException]) -> None:
    """The machine side: answer each TIME with the terminal's time, or refuse a time of zero."""
    try:
        while not stop.is_set():
            message = link.receive(0.05)
            if message is None:
                continue
            rid = message.fields["rid"]
            handled[rid] += 1
            if message.fields["time"] == 0:
                reply: dict[str, Any] = refusal(rid, "malformed", "no clock")
            else:
                reply = {"rid": rid, "ok": True, "time": message.fields["time"], "drift": 0}
            link.send(message.kind + 1, reply)
    except BaseException as error:  # reported by the test thread
        errors.append(error)


@pytest.fixture
def machine(line: tuple[FdPort, serial.Serial]) -> Iterator[tuple[Link, Counter[int], list[BaseException]]]:
    """A terminal Link and a machine thread, both with line faults: the terminal link and what the machine saw."""
    terminal, machine_port = line
    faults = {"drop": 0.1, "corrupt": 0.1, "duplicate": 0.05}
    # 30 sends instead of 10: at these fault rates a frame and its ACK both get through about two times in three,
    # so ten failures in a row happen once in some thousands of frames and would make the test flaky.
    terminal_link = Link(terminal, ack_timeout=ACK_TIMEOUT, max_sends=30, faults=Faults(**faults, seed=1))
    machine_link = Link(machine_port, ack_timeout=ACK_TIMEOUT, max_sends=30, faults=Faults(**faults, seed=2))
    stop = threading.Event()
    handled: Counter[int] = Counter()
    errors: list[BaseException] = []
    thread = threading.Thread(target=machine_loop, args=(machine_link, stop, handled, errors))
    thread.start()
    try:
        yield terminal_link, handled, errors
    finally:
        stop.set()
        # Keep ACKing the machine's last retransmissions until it sees its ACK and stops.
        while thread.is_alive():
            terminal_link.receive(0.05)
        thread.join()


def test_200_requests_through_faults_on_both_ends_each_answered_and_handled_once(
    machine: tuple[Link, Counter[int], list[BaseException]],
) -> None:
    terminal_link, handled, errors = machine
    client = Client(terminal_link, response_timeout=3.0)
    for n in range(1, 201):
        assert client.call(Kind.TIME, time=1_700_000_000 + n) == {"time": 1_700_000_000 + n, "drift": 0}
    assert errors == []
    assert handled == Counter(range(1, 201))


def test_client_raises_refused(machine: tuple[Link, Counter[int], list[BaseException]]) -> None:
    terminal_link, _, _ = machine
    client = Client(terminal_link, response_timeout=3.0)
    with pytest.raises(Refused) as raised:
        client.call(Kind.TIME, time=0)
    assert (raised.value.code, raised.value.message) == ("malformed", "no clock")
    assert client.call(Kind.TIME, time=5) == {"time": 5, "drift": 0}


def test_client_ignores_a_stale_response_and_gives_up_without_one(line: tuple[FdPort, serial.Serial]) -> None:
    terminal, machine_port = line
    machine_link = Link(machine_port, ack_timeout=0.5)
    client = Client(Link(terminal, ack_timeout=0.5), response_timeout=0.5, first_rid=10)

    def answer_late() -> None:
        message = machine_link.receive(2.0)
        assert message is not None
        stale = {"rid": 9, "ok": True, "time": 1, "drift": 0}
        machine_link.send(Kind.TIME_OK, stale)
        machine_link.send(Kind.TIME_OK, {"rid": 10, "ok": True, "time": 2, "drift": 0})
        message = machine_link.receive(2.0)  # rid 11, never answered
        assert message is not None

    thread = threading.Thread(target=answer_late)
    thread.start()
    assert client.call(Kind.TIME, time=2) == {"time": 2, "drift": 0}
    started = time.monotonic()
    with pytest.raises(LinkDown):
        client.call(Kind.TIME, time=3)
    assert time.monotonic() - started >= 0.5
    thread.join(2.0)
    assert not thread.is_alive()
