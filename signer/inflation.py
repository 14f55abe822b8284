"""How far a PDF's compressed streams inflate, measured before any parser inflates them.

pyHanko bounds what it decodes, but pikepdf and PDFium, which the verifier runs too, inflate a stream whole: a
2 MB Flate stream of zeros grows to gigabytes in them. ``check`` inflates every Flate stream of the file a piece
at a time, keeping nothing, and refuses the file as soon as one stream, or all of them together, pass the limits
pyHanko sets for untrusted documents (``DecodeLimits.for_untrusted_input``), with a larger floor for the whole
document, since images count here and pyHanko does not decode them: a ten-page scan at 600 dpi inflates to about
400 MB. A bomb is then a clear error in a
fraction of a second instead of a child process that swells to its memory limit and dies.

Streams are found in the raw bytes, so every revision's are seen (an earlier revision is read when its signature
is checked): each ``stream`` keyword at the end of a line starts one. Flate data is known by its zlib header
whatever the stream dictionary says, so an indirect or misleading /Filter hides nothing; data under ASCII85 or
ASCIIHex is decoded first, and Flate inside Flate is followed, since stacking filters is how a small file is made
to inflate most. Other expanding filters (LZW, RunLength) and image decoders are left to the memory limit.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterator

from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget

from signer.validation import UnreadablePdf

LIMITS = DecodeLimits(document_budget=DocumentDecodeBudget(base_allowance=1024 * 1024 * 1024))
_STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")  # no lookbehind for "endstream": it would cost 50 times the time
_END = b"endstream"
_IN = 64 * 1024  # compressed bytes handed to zlib at a time
_OUT = 256 * 1024  # most bytes zlib makes in one call; each piece is counted, then dropped
_LAYERS = 4  # stacked filters followed, more than any real document uses
_HEX = re.compile(rb"[0-9A-Fa-f\s]*>\s*")
_SPACE = re.compile(rb"\s+")


def check(data: bytes, limits: DecodeLimits = LIMITS) -> None:
    """Raise UnreadablePdf if a stream of ``data`` inflates past ``limits``' per-stream cap, or all of them
    together past its document budget."""
    budget = limits.document_budget.total(len(data)) if limits.document_budget is not None else None
    total = 0
    view = memoryview(data)
    for match in _STREAM.finditer(data):
        if data[match.start() - 1 : match.start()].isalpha():  # endstream, or a longer word
            continue
        start = match.end()
        end = data.find(_END, start)
        end = len(data) if end < 0 else end
        cap = limits.per_stream.output_cap(end - start)
        layer = _Layer(cap, start)
        if _is_flate(view[start : start + 2]):
            for piece in _pieces(view, start):
                layer.feed(piece)
                if not layer.live:
                    break
        else:
            decoded = _ascii_decoded(view[start:end])
            if decoded is None:
                continue
            layer.feed(decoded)
        total += layer.largest
        if budget is not None and total > budget:
            raise UnreadablePdf(f"the PDF's streams decompress to more than {budget} bytes in all")


class _Layer:
    """One layer of Flate data being inflated and counted; what it makes goes on to the next layer when that
    starts like Flate data too."""

    def __init__(self, cap: int | None, position: int, depth: int = 1) -> None:
        self.inflater = zlib.decompressobj()
        self.cap = cap
        self.position = position
        self.depth = depth
        self.size = 0
        self.live = True
        self.inner: _Layer | None = None

    def feed(self, piece: bytes | memoryview) -> None:
        while self.live and piece:
            try:
                out = self.inflater.decompress(piece, _OUT)
            except zlib.error:  # not Flate data, or broken: the parsers stop there too
                self.live = False
                return
            if self.size == 0 and self.depth < _LAYERS and _is_flate(out):
                self.inner = _Layer(self.cap, self.position, self.depth + 1)
            self.size += len(out)
            if self.cap is not None and self.size > self.cap:
                raise UnreadablePdf(
                    f"a stream decompresses to more than {self.cap} bytes (the one at byte {self.position})"
                )
            if self.inner is not None:
                self.inner.feed(out)
            self.live = not self.inflater.eof
            piece = self.inflater.unconsumed_tail

    @property
    def largest(self) -> int:
        """The most bytes one layer made: what a parser holds once it has decoded the stream."""
        return max(self.size, self.inner.largest if self.inner is not None else 0)


def _pieces(view: memoryview, start: int) -> Iterator[memoryview]:
    """The file from ``start`` on, a piece at a time: zlib finds where the stream ends, whatever /Length says."""
    for at in range(start, len(view), _IN):
        yield view[at : at + _IN]


def _is_flate(head: bytes | memoryview) -> bool:
    """Whether ``head`` starts with a zlib header (RFC 1950: deflate, a window of at most 32 KiB, check bits)."""
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


def _ascii_decoded(segment: memoryview) -> bytes | None:
    """The data under ASCII85 or ASCIIHex layers, when that is Flate data; else None. Each layer shrinks the data,
    so decoding it whole is safe."""
    data: bytes | None = None
    raw: bytes | memoryview = segment
    for _ in range(_LAYERS):
        tail = bytes(raw[-8:]).rstrip()
        try:
            if tail.endswith(b"~>"):
                data = base64.a85decode(bytes(raw).rstrip(), adobe=True)
            elif tail.endswith(b">") and _HEX.fullmatch(raw):
                digits = _SPACE.sub(b"", bytes(raw).rstrip()[:-1])
                data = binascii.unhexlify(digits + b"0" * (len(digits) % 2))
            else:
                break
        except ValueError:
            break
        raw = data
    return data if data is not None and _is_flate(data[:2]) else None
