"""An incremental update to a PDF, written as bytes: new objects, new versions of changed ones, and the
cross-reference section that finds them (a table, or a stream when the file before it used streams).

pikepdf reads the original (qpdf finds objects lazily, so a large file is not read whole) and serialises the
dictionaries that change; the update itself is written here because neither pikepdf nor pyHanko appends one
without rewriting or re-reading the file, and sealing must append a few kilobytes and sign them fast.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pikepdf import Array, Dictionary, Name, Object, PasswordError, Pdf, PikepdfError

from signer import outlines

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.DOTALL)
_TAIL = 4096


class UnsealablePdf(ValueError):
    """The file cannot take an incremental update: encrypted, damaged, or not a PDF."""


def ref(number: int, generation: int = 0) -> bytes:
    return b"%d %d R" % (number, generation)


def number(value: float) -> bytes:
    """A PDF real with at most three decimals and no exponent."""
    return outlines.number(value, 3).encode()


def text_string(value: str) -> bytes:
    """A PDF text string: PDFDocEncoding's ASCII part literally, anything else as UTF-16BE with a byte order mark."""
    if value.isascii() and value.isprintable():
        escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode() + b">"


def date_string(moment: dt.datetime) -> bytes:
    """D:YYYYMMDDHHmmSS+HH'mm' in the moment's own offset."""
    offset = moment.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"(D:{moment:%Y%m%d%H%M%S}{sign}{minutes // 60:02d}'{minutes % 60:02d}')".encode()


def dictionary(entries: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    items = entries.items() if isinstance(entries, Mapping) else entries
    return b"<<" + b"".join(name(key) + b" " + value for key, value in items) + b">>"


@functools.lru_cache(maxsize=1024)
def name(key: str) -> bytes:
    """A name as PDF writes it (``#xx`` for what must be escaped): remembered, since the same few dozen names are
    written in every update, and asking qpdf costs more than the rest of writing them."""
    return Name(key).unparse()


def changed(obj: Dictionary, changes: Mapping[str, bytes | None]) -> bytes:
    """A dictionary as it is, with ``changes`` set (None removes a key); other values are written as they are,
    indirect ones as references."""
    entries = [(key, value.unparse()) for key, value in obj.items() if key not in changes]
    entries.extend((key, value) for key, value in changes.items() if value is not None)
    return dictionary(entries)


def array_with(existing: Object | None, *items: bytes) -> bytes:
    """An array holding what ``existing`` held, then ``items``."""
    before = [value.unparse() for value in existing] if isinstance(existing, Array) else []
    return b"[" + b" ".join([*before, *items]) + b"]"


def stream(entries: Mapping[str, bytes], data: bytes, *, compress: bool = False) -> bytes:
    if compress:
        data = zlib.compress(data, 6)
        entries = {**entries, "/Filter": b"/FlateDecode"}
    return dictionary({**entries, "/Length": b"%d" % len(data)}) + b"\nstream\n" + data + b"\nendstream"


@dataclass
class Original:
    """The PDF an update is appended to, open for reading its structure."""

    path: Path
    size: int
    startxref: int
    xref_stream: bool
    pdf: Pdf

    def __enter__(self) -> Original:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.pdf.close()

    @property
    def trailer(self) -> Object:
        return self.pdf.trailer

    @property
    def root(self) -> Object:
        return self.pdf.Root


def open_original(path: Path) -> Original:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1024)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
        found = list(_STARTXREF.finditer(tail))
        if not head.startswith(b"%PDF-") or not found:
            raise UnsealablePdf("not a PDF: no header or no startxref at the end")
        startxref = int(found[-1][1])
        if not 0 < startxref < size:
            raise UnsealablePdf(f"startxref {startxref} points outside the file")
        f.seek(startxref)
        xref_stream = not f.read(4).startswith(b"xref")
    try:
        pdf = Pdf.open(path, attempt_recovery=False, inherit_page_attributes=False)
    except PasswordError:
        raise UnsealablePdf("the PDF is encrypted") from None
    except PikepdfError as exc:
        raise UnsealablePdf(f"the PDF is damaged: {exc}") from None
    if pdf.is_encrypted:
        pdf.close()
        raise UnsealablePdf("the PDF is encrypted")
    if warnings := pdf.get_warnings():
        pdf.close()
        raise UnsealablePdf(f"the PDF is damaged: {warnings[0]}")
    return Original(path, size, startxref, xref_stream, pdf)


@dataclass
class Update:
    """Objects to append; numbers for new ones continue from the trailer's /Size."""

    original: Original
    objects: dict[tuple[int, int], bytes] = field(default_factory=dict)
    next_number: int = 0

    def __post_init__(self) -> None:
        self.next_number = int(self.original.trailer.Size)

    def new(self) -> int:
        self.next_number += 1
        return self.next_number - 1

    def put(self, number: int, body: bytes, generation: int = 0) -> None:
        self.objects[(number, generation)] = body

    def replace(self, obj: Object, body: bytes) -> None:
        """A new version of an existing indirect object."""
        number, generation = obj.objgen
        if number == 0:
            raise ValueError("only indirect objects are replaced")
        self.objects[(number, generation)] = body

    def write(self) -> tuple[bytearray, dict[tuple[int, int], int]]:
        """The update's bytes and where, from the update's start, each object begins."""
        base = self.original.size
        out = bytearray(b"\n")
        offsets: dict[tuple[int, int], int] = {}
        for key in sorted(self.objects):
            offsets[key] = len(out)
            out += b"%d %d obj\n" % key + self.objects[key] + b"\nendobj\n"
        trailer = self._trailer()
        xref_at = len(out)
        if self.original.xref_stream:
            number = self.new()
            offsets[(number, 0)] = xref_at
            out += self._xref_stream(number, offsets, trailer, base)
        else:
            out += _xref_table(offsets, base) + b"trailer\n" + dictionary(trailer) + b"\n"
        out += b"startxref\n%d\n%%%%EOF\n" % (base + xref_at)
        return out, offsets

    def _trailer(self) -> dict[str, bytes]:
        trailer = self.original.trailer
        entries = {"/Size": b"%d" % self.next_number, "/Root": trailer.Root.unparse()}
        if Name.Info in trailer:
            entries["/Info"] = trailer.Info.unparse()
        ids = trailer.get(Name.ID)
        first = bytes(ids[0]) if isinstance(ids, Array) and len(ids) == 2 else os.urandom(16)
        entries["/ID"] = b"[<" + first.hex().encode() + b"> <" + secrets.token_hex(16).encode() + b">]"
        entries["/Prev"] = b"%d" % self.original.startxref
        return entries

    def _xref_stream(
        self, number: int, offsets: Mapping[tuple[int, int], int], trailer: dict[str, bytes], base: int
    ) -> bytes:
        width = max(4, ((base + max(offsets.values())).bit_length() + 7) // 8)
        rows = sorted(offsets.items())
        data = b"".join(b"\x01" + (base + at).to_bytes(width, "big") + gen.to_bytes(2, "big") for (_, gen), at in rows)
        index = b" ".join(b"%d %d" % section for section in _sections([n for (n, _), _ in rows]))
        entries = {
            **trailer,
            "/Size": b"%d" % self.next_number,
            "/Type": b"/XRef",
            "/W": b"[1 %d 2]" % width,
            "/Index": b"[" + index + b"]",
        }
        return b"%d 0 obj\n" % number + stream(entries, data) + b"\nendobj\n"


def _sections(numbers: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive object numbers, as (first, count)."""
    sections: list[tuple[int, int]] = []
    for n in numbers:
        if sections and sections[-1][0] + sections[-1][1] == n:
            sections[-1] = (sections[-1][0], sections[-1][1] + 1)
        else:
            sections.append((n, 1))
    return sections


def _xref_table(offsets: Mapping[tuple[int, int], int], base: int) -> bytes:
    by_number = {n: (at, gen) for (n, gen), at in offsets.items()}
    out = [b"xref\n"]
    for first, count in _sections(sorted(by_number)):
        out.append(b"%d %d\n" % (first, count))
        for n in range(first, first + count):
            at, gen = by_number[n]
            out.append(b"%010d %05d n\r\n" % (base + at, gen))
    return b"".join(out)


def inherited(page: Dictionary, key: Name) -> Object | None:
    """A page attribute, looked up through the page tree as PDF inheritance says (bounded against loops)."""
    node: Object | None = page
    for _ in range(64):
        if not isinstance(node, Dictionary):
            return None
        if key in node:
            return node[key]
        node = node.get(Name.Parent)
    return None
