"""Compression bombs are refused before any parser inflates them, however their Flate data is wrapped."""

from __future__ import annotations

import base64
import time
import zlib
from pathlib import Path

import pytest
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget

from core.keystore import Keystore
from signer import inflation
from signer.isolation import verify
from signer.validation import UnreadablePdf
from tests.signer.bombs import sealed_bomb, with_stream, zeros
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import pki, seal  # noqa: F401  (the module's PKI fixture)

GIB = 1024**3
CAP = inflation.LIMITS.per_stream.max_output_size


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """Four gigabytes of zeros in about four megabytes of Flate data."""
    return zeros(4 * GIB)


def refusal(data: bytes, limits: DecodeLimits = inflation.LIMITS) -> str:
    with pytest.raises(UnreadablePdf) as refused:
        inflation.check(data, limits)
    return str(refused.value)


def test_a_flate_bomb_is_refused_at_the_cap_in_about_a_second(bomb: bytes) -> None:
    start = time.monotonic()
    message = refusal(with_stream(bomb))
    assert time.monotonic() - start < 5
    assert message.startswith(f"a stream decompresses to more than {CAP} bytes")


def test_flate_under_ascii85_or_hex_is_refused_too(bomb: bytes) -> None:
    part = bomb[: len(bomb) // 8]  # still half a gigabyte of zeros
    ascii85 = base64.a85encode(part, adobe=True, wrapcol=72)[2:]  # PDF's ASCII85 has no "<~"
    assert "decompresses to more than" in refusal(with_stream(ascii85, "[/ASCII85Decode/FlateDecode]"))
    hexadecimal = part.hex().encode() + b">"
    assert "decompresses to more than" in refusal(with_stream(hexadecimal, "[/ASCIIHexDecode/FlateDecode]"))


def test_flate_inside_flate_is_held_to_pyhankos_ratio() -> None:
    twice = zlib.compress(zeros(GIB // 4), 9)  # a few kilobytes that inflate twice to 256 MiB
    assert len(twice) < 10_000
    message = refusal(with_stream(twice, "[/FlateDecode/FlateDecode]"))
    assert message.startswith("a stream decompresses to more than 1048576 bytes")


def test_a_misleading_filter_hides_nothing(bomb: bytes) -> None:
    """The dictionary says the data is raw; the parsers that trust /Length and sniff would still meet Flate."""
    assert "decompresses to more than" in refusal(with_stream(bomb, "/DCTDecode"))


def test_streams_are_summed_against_the_document_budget() -> None:
    one = zeros(16 * 1024 * 1024)
    data = with_stream(one) + with_stream(one)  # two revisions' worth of streams, each under the cap
    tight = DecodeLimits(document_budget=DocumentDecodeBudget(base_allowance=20 * 1024 * 1024, max_ratio=1))
    inflation.check(with_stream(one), tight)
    assert refusal(data, tight) == "the PDF's streams decompress to more than 20971520 bytes in all"


def test_broken_or_fake_flate_is_left_to_the_parsers() -> None:
    fake = b"\x78\x9c" + bytes(range(256)) * 64  # a zlib header, then no deflate data
    inflation.check(with_stream(fake))
    inflation.check(with_stream(b"BT /F1 12 Tf (stream) Tj ET", "/ASCIIHexDecode"))


def test_real_documents_pass(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf", pages=3, object_streams=True), tmp_path / "out.pdf")
    inflation.check((tmp_path / "out.pdf").read_bytes())


def test_the_verifying_child_refuses_a_sealed_bomb_with_that_reason(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    data = sealed_bomb(pki, keystore, tmp_path, 4 * GIB)
    assert len(data) < 5 * 1024 * 1024
    start = time.monotonic()
    with pytest.raises(UnreadablePdf, match="decompresses to more than"):
        verify(data)
    assert time.monotonic() - start < 5
