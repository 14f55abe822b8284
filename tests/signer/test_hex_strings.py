"""The fast reading of hex strings reads every input as pyHanko's own function does: the same object, the same
error, the stream left at the same place."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from signer import hex_strings
from signer.hex_strings import _CHUNK, _pyhanko, read_hex_string

# Digits, white space, a comment's start and end of line, the string's end, and bytes that have no place there.
ALPHABET = [*b"0123456789abcdefABCDEF \n\r\t\f\x00%>g<(", 0xFF]


def _outcome(read: Any, data: bytes) -> tuple[str, Any, int]:
    stream = io.BytesIO(data)
    try:
        result = read(stream)
    except Exception as exc:  # the kind of refusal is part of what must match
        return ("error", type(exc).__name__, stream.tell())
    return (type(result).__name__, bytes(result.original_bytes), stream.tell())


@settings(max_examples=400)
@given(st.lists(st.sampled_from(ALPHABET), max_size=80).map(bytes), st.binary(max_size=8))
@example(b"48656c6c6f>", b" rest")
@example(b"4 8\n6%comment\n5>", b"")
@example(b"abc>", b"")  # an odd number of digits: the last one is followed by a 0
@example(b"FEFF00480069>", b"")  # a UTF-16 text string
@example(b"12 34", b"")  # no end
def test_reads_as_pyhanko_reads(body: bytes, after: bytes) -> None:
    data = b"<" + body + after
    assert _outcome(read_hex_string, data) == _outcome(_pyhanko, data)


def test_a_string_longer_than_a_chunk_with_white_space_across_its_chunks() -> None:
    digits = bytes.hex(bytes(range(256)) * (_CHUNK // 256 + 7)).encode()
    spaced = b"\n".join(digits[i : i + 63] for i in range(0, len(digits), 63))
    data = b"<" + spaced + b">/Next"
    outcome = _outcome(read_hex_string, data)
    assert outcome == _outcome(_pyhanko, data)
    assert outcome[1] == bytes(range(256)) * (_CHUNK // 256 + 7)
    assert outcome[2] == len(data) - len(b"/Next")


def test_pyhankos_own_reading_for_a_while() -> None:
    hex_strings.install()
    with hex_strings.uninstalled():
        assert generic.read_hex_string_from_stream is _pyhanko
    assert generic.read_hex_string_from_stream is read_hex_string


def test_a_huge_string_with_a_stray_byte_near_its_start_is_refused_as_pyhanko_refuses_it() -> None:
    data = b"<" + b"ab" * 10 + b"z" + b"cd" * (4 << 20) + b">"
    outcome = _outcome(read_hex_string, data)
    assert outcome == _outcome(_pyhanko, data)
    assert outcome[0] == "error"
