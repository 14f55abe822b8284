"""Framing (docs/protocol.md §3): round trips, every reason a frame is discarded, and a bounded buffer."""

import struct
import zlib

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from physical_seal.protocol.frame import MAX_ENCODED, MAX_PAYLOAD, BadFrame, Deframer, Frame, decode, encode

frames = st.builds(
    Frame,
    type=st.integers(0, 255),
    seq=st.integers(0, 65535),
    payload=st.binary(max_size=600) | st.binary(min_size=MAX_PAYLOAD - 300, max_size=MAX_PAYLOAD),
)


def synced() -> Deframer:
    deframer = Deframer()
    assert deframer.feed(b"\x00") == []
    return deframer


def wire(raw: bytes) -> bytes:
    body: bytes = cobs.encode(raw)
    return body + b"\x00"


def with_crc(raw: bytes) -> bytes:
    return raw + struct.pack(">I", zlib.crc32(raw))


def test_crc_is_zlib_crc32_big_endian() -> None:
    # The CRC-32/ISO-HDLC check value of "123456789" is 0xcbf43926.
    assert zlib.crc32(b"123456789") == 0xCBF43926
    raw = cobs.decode(encode(0x10, 0x0102, b"123456789")[:-1])
    assert raw[:6] == bytes([1, 0x10, 0x01, 0x02, 0x00, 0x09])
    assert raw[6:-4] == b"123456789"
    assert raw[-4:] == struct.pack(">I", zlib.crc32(raw[:-4]))


def test_ack_frame_bytes() -> None:
    assert encode(0x01, 0, b"") == bytes.fromhex("03 01 01 01 01 01 05 47 fe 5b b6 00")


@settings(max_examples=200)
@given(st.lists(frames, max_size=5), st.data())
def test_round_trip_across_any_chunk_split(sent: list[Frame], data: st.DataObject) -> None:
    stream = b"\x00" + b"".join(encode(f.type, f.seq, f.payload) for f in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    deframer = Deframer()
    got: list[Frame | BadFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += deframer.feed(stream[start:end])
    assert got == sent


@settings(max_examples=100)
@given(st.binary(max_size=300), frames)
def test_garbage_before_the_first_zero_is_discarded_silently(garbage: bytes, frame: Frame) -> None:
    deframer = Deframer()
    assert deframer.feed(garbage.replace(b"\x00", b"")) == []
    assert deframer.feed(b"\x00" + encode(frame.type, frame.seq, frame.payload)) == [frame]


def test_empty_runs_between_zeros_are_idle_fill() -> None:
    assert synced().feed(b"\x00\x00" + encode(0x01, 7, b"") + b"\x00") == [Frame(0x01, 7, b"")]


def test_cobs_error() -> None:
    # A code byte pointing past the end of the body.
    assert decode(b"\x05\x01") == BadFrame("cobs")
    assert synced().feed(b"\x05\x01\x00") == [BadFrame("cobs")]


def test_length_field_disagreeing_with_the_size() -> None:
    raw = struct.pack(">BBHH", 1, 0x10, 0, 4) + b"abc"
    assert synced().feed(wire(with_crc(raw))) == [BadFrame("length")]


def test_shorter_than_header_and_crc() -> None:
    assert synced().feed(wire(b"\x01\x10\x00")) == [BadFrame("length")]


def test_crc_mismatch() -> None:
    raw = cobs.decode(encode(0x10, 3, b"payload")[:-1])
    flipped = raw[:-1] + bytes([raw[-1] ^ 0x80])
    assert synced().feed(wire(flipped)) == [BadFrame("crc")]


def test_unknown_version() -> None:
    raw = struct.pack(">BBHH", 2, 0x10, 0, 2) + b"hi"
    assert synced().feed(wire(with_crc(raw))) == [BadFrame("version")]


def test_payload_over_4096() -> None:
    # Zero bytes keep the COBS body inside the buffer bound, so it is the header that says too large.
    raw = struct.pack(">BBHH", 1, 0x10, 0, MAX_PAYLOAD + 1) + bytes(MAX_PAYLOAD + 1)
    assert synced().feed(wire(with_crc(raw))) == [BadFrame("too-large")]


def test_encode_refuses_payload_over_4096() -> None:
    with pytest.raises(ValueError, match="at most 4096"):
        encode(0x10, 0, bytes(MAX_PAYLOAD + 1))


def test_stream_without_zero_is_bounded_and_reported_once() -> None:
    deframer = synced()
    reports: list[Frame | BadFrame] = []
    for _ in range(100):
        reports += deframer.feed(b"\x01" * 1000)
        assert len(deframer._buffer) <= MAX_ENCODED
    assert reports == [BadFrame("too-large")]
    after = encode(0x11, 9, b"ok")
    # The zero that ends the overlong run resynchronises without a second report.
    assert deframer.feed(b"\x00" + after) == [Frame(0x11, 9, b"ok")]


def test_largest_frame_fits_the_bound() -> None:
    payload = b"\x01" * MAX_PAYLOAD
    assert synced().feed(encode(0x1F, 65535, payload)) == [Frame(0x1F, 65535, payload)]


def test_good_frames_around_a_bad_one() -> None:
    stream = encode(0x10, 1, b"a") + b"\x05\x01\x00" + encode(0x12, 2, b"b")
    assert synced().feed(stream) == [Frame(0x10, 1, b"a"), BadFrame("cobs"), Frame(0x12, 2, b"b")]
