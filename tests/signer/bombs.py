"""Compression bombs for tests: Flate data of gigabytes of zeros, made in milliseconds, and PDFs that carry it."""

from __future__ import annotations

import zlib
from pathlib import Path

from core.keystore import Keystore
from signer.incremental import Update, changed, open_original, ref
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import seal

_BLOCK = 16 * 1024 * 1024


def zeros(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (a multiple of 16 MiB), about a thousandth as long.

    Compressing gigabytes takes seconds; after a full flush, deflate encodes each further block of zeros with the
    same bytes, so one block's encoding is repeated, then an empty final block and the Adler-32 of the whole
    (for zeros: a stays 1, b counts the bytes)."""
    if size <= 0 or size % _BLOCK:
        raise ValueError(f"{size} is not a positive multiple of {_BLOCK}")
    packer = zlib.compressobj(9)
    block = bytes(_BLOCK)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    adler = ((size % 65521) << 16) | 1
    return first + again * (size // _BLOCK - 1) + b"\x03\x00" + adler.to_bytes(4, "big")


def with_stream(raw: bytes, filters: str = "/FlateDecode") -> bytes:
    """A one-page PDF whose page content is ``raw`` under ``filters``, written by hand: pikepdf would inflate it."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>",
        b"<</Length %d/Filter %s>>\nstream\n" % (len(raw), filters.encode()) + raw + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def sealed_bomb(pki: Pki, keystore: Keystore, directory: Path, size: int) -> bytes:
    """A sealed PDF whose page content an update after the seal replaces with ``size`` bytes of zeros."""
    seal(pki, keystore, blank_pdf(directory / "in.pdf"), directory / "sealed.pdf")
    raw = zeros(size)
    with open_original(directory / "sealed.pdf") as original:
        update = Update(original)
        content = update.new()
        update.put(content, b"<</Length %d/Filter/FlateDecode>>\nstream\n" % len(raw) + raw + b"\nendstream")
        page = original.pdf.pages[0].obj
        update.replace(page, changed(page, {"/Contents": ref(content)}))
        body, _ = update.write()
    return (directory / "sealed.pdf").read_bytes() + bytes(body)
