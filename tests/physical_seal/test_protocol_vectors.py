"""The framing vectors of docs/protocol.md §7, read from the document itself so that it and the code cannot drift
apart, and the schema's refusal of each vector changed in one way."""

from typing import Any

import cbor2
import pytest
from cobs import cobs

from physical_seal.protocol.frame import Deframer, Frame, encode
from physical_seal.protocol.messages import Kind, Malformed, decode_fields, encode_fields, refusal
from tests.physical_seal.vectors import hex_blocks

HEADING = "## 7. Test vectors (framing)"

# label: (type, seq, fields); the same values the document states in words above each vector.
VECTORS: dict[str, tuple[Kind, int, dict[str, Any] | None]] = {
    "hello": (Kind.HELLO, 0, {"rid": 1, "terminal": "sealgate-terminal/1"}),
    "ack": (Kind.ACK, 0, None),
    "nak": (Kind.NAK, 0, None),
    "hello-ok": (
        Kind.HELLO_OK,
        0,
        {
            "rid": 1,
            "ok": True,
            "machine": "SM-0001",
            "firmware": "1.0.0",
            "protocol": 1,
            "counter": 0,
            "epoch": 0,
            "time": 1767225600,
            "enrolled": True,
        },
    ),
    "stamp": (Kind.STAMP, 5, {"rid": 6, "auth": "0123456789abcdef0123456789abcdef", "doc": b"\x11" * 32}),
    "refusal": (Kind.STAMP_OK, 1, refusal(6, "uses-exceeded", "no uses left")),
}


BLOCKS = hex_blocks(HEADING)


def test_the_document_has_every_vector_and_nothing_else() -> None:
    expected = {f"{name}.{part}" for name in VECTORS for part in ("frame", "wire")}
    expected |= {f"{name}.payload" for name, (_, _, fields) in VECTORS.items() if fields is not None}
    assert set(BLOCKS) == expected


@pytest.mark.parametrize("name", VECTORS)
def test_encoding_gives_the_documented_bytes(name: str) -> None:
    kind, seq, fields = VECTORS[name]
    payload = b"" if fields is None else encode_fields(fields)
    if fields is not None:
        assert payload == BLOCKS[f"{name}.payload"]
    wire = encode(kind, seq, payload)
    assert wire == BLOCKS[f"{name}.wire"]
    assert cobs.decode(wire[:-1]) == BLOCKS[f"{name}.frame"]


@pytest.mark.parametrize("name", VECTORS)
def test_decoding_the_documented_bytes_gives_the_fields(name: str) -> None:
    kind, seq, fields = VECTORS[name]
    assert cobs.encode(BLOCKS[f"{name}.frame"]) + b"\x00" == BLOCKS[f"{name}.wire"]
    deframer = Deframer()
    [frame] = deframer.feed(b"\x00" + BLOCKS[f"{name}.wire"])
    assert isinstance(frame, Frame)
    assert (frame.type, frame.seq) == (kind, seq)
    assert decode_fields(frame.type, frame.payload) == ({} if fields is None else fields)


def changed(name: str, **changes: Any) -> bytes:
    _, _, fields = VECTORS[name]
    assert fields is not None
    return encode_fields({key: value for key, value in {**fields, **changes}.items() if value is not ...})


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (Kind.HELLO, changed("hello", terminal=...)),  # missing
        (Kind.HELLO, changed("hello", extra=1)),  # unknown
        (Kind.HELLO, changed("hello", rid=-1)),  # not a uint
        (Kind.HELLO, changed("hello", rid=True)),  # a bool is not a uint
        (Kind.HELLO_OK, changed("hello-ok", protocol=2)),
        (Kind.HELLO_OK, changed("hello-ok", ok=...)),
        (Kind.STAMP, changed("stamp", doc=b"\x11" * 31)),
        (Kind.STAMP, changed("stamp", auth=b"0123")),
        (Kind.STAMP_OK, changed("refusal", event=b"")),  # a refusal carries nothing else
        (Kind.STAMP_OK, changed("refusal", ok=True)),  # ok true wants the event, not error and message
        (Kind.EVENTS, encode_fields({"rid": 1, "after": 0, "max": 33})),
        (Kind.PHOTO, encode_fields({"rid": 1, "counter": 1, "offset": 0, "size": 0})),
        (
            Kind.STATUS_OK,
            encode_fields(
                {
                    "rid": 1,
                    "ok": True,
                    "counter": 0,
                    "epoch": 0,
                    "time": 0,
                    "tamper": False,
                    "custodian": None,
                    "auths": [["a", 1]],
                }
            ),
        ),
        (Kind.HELLO, cbor2.dumps({"terminal": "t", "rid": 1})),  # keys not in deterministic order
        (Kind.HELLO, changed("hello") + b"\x00"),  # bytes after the map
        (Kind.HELLO, cbor2.dumps([1, "t"])),  # not a map
        (Kind.HELLO, cbor2.dumps({1: 1, "rid": 1})),  # a key not text
        (Kind.HELLO, b"\xa2"),  # truncated
        (0x30, changed("hello")),  # unknown type
        (Kind.ACK, changed("hello")),  # ACK with a payload
    ],
)
def test_the_schema_refuses(kind: int, payload: bytes) -> None:
    with pytest.raises(Malformed):
        decode_fields(kind, payload)


def test_a_refusal_keeps_the_rid_it_could_read() -> None:
    with pytest.raises(Malformed) as raised:
        decode_fields(Kind.STAMP, changed("stamp", doc=b""))
    assert raised.value.rid == 6


def test_status_ok_with_its_nested_fields() -> None:
    fields = {
        "rid": 3,
        "ok": True,
        "counter": 7,
        "epoch": 1,
        "time": 1767225600,
        "tamper": False,
        "custodian": None,
        "auths": [["0123456789abcdef0123456789abcdef", 2, 1767312000]],
    }
    assert decode_fields(Kind.STATUS_OK, encode_fields(fields)) == fields


def test_refusal_takes_only_known_codes() -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        refusal(1, "no-such-code", "")
