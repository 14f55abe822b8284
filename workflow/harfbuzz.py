"""HarfBuzz through ctypes: shaping a line of text and subsetting a font, for ``workflow.layout``.

WeasyPrint shapes with HarfBuzz (through Pango) and subsets with HarfBuzz-Subset; calling the same libraries on
the same font faces is what makes a line drawn here match the line WeasyPrint would have drawn. No maintained
Python binding ships with the system's HarfBuzz (uharfbuzz bundles its own copy, which could shape differently), so
the few calls needed are declared here. The faces are WeasyPrint's own (``weasyprint`` loads this very library), so
no font file is read twice.
"""

from __future__ import annotations

import array
import ctypes
import sys
from collections.abc import Iterator
from ctypes import POINTER, Structure, c_char_p, c_int, c_int32, c_uint, c_uint32, c_void_p
from dataclasses import dataclass

_hb = ctypes.CDLL("libharfbuzz.so.0")
_subset = ctypes.CDLL("libharfbuzz-subset.so.0")

# hb_subset_flags_t
_NO_HINTING = 0x1
_RETAIN_GIDS = 0x2
_DESUBROUTINIZE = 0x4
_PASSTHROUGH_UNRECOGNIZED = 0x20
_NO_LAYOUT_CLOSURE = 0x200
_DROP_TABLE_TAG = 3  # hb_subset_sets_t
# The tables WeasyPrint drops from its subsets: the PDF needs outlines and metrics, not layout.
_DROPPED_TABLES = (b"BASE", b"DSIG", b"EBDT", b"EBLC", b"EBSC", b"GPOS", b"GSUB", b"JSTF", b"LTSH", b"PCLT", b"SVG ")
_DIRECTION_LTR = 4


class _GlyphInfo(Structure):
    _fields_ = [("codepoint", c_uint32), ("mask", c_uint32), ("cluster", c_uint32), ("_1", c_uint32), ("_2", c_uint32)]


class _GlyphPosition(Structure):
    _fields_ = [
        ("x_advance", c_int32),
        ("y_advance", c_int32),
        ("x_offset", c_int32),
        ("y_offset", c_int32),
        ("_", c_uint32),
    ]


def _declare() -> None:
    p = c_void_p
    signatures: list[tuple[ctypes.CDLL, str, type | None, list[type]]] = [
        (_hb, "hb_face_reference", p, [p]),
        (_hb, "hb_face_destroy", None, [p]),
        (_hb, "hb_face_get_upem", c_uint, [p]),
        (_hb, "hb_font_create", p, [p]),
        (_hb, "hb_font_set_scale", None, [p, c_int, c_int]),
        (_hb, "hb_font_get_nominal_glyph", c_int, [p, c_uint32, POINTER(c_uint32)]),
        (_hb, "hb_font_get_glyph_h_advance", c_int32, [p, c_uint32]),
        (_hb, "hb_buffer_create", p, []),
        (_hb, "hb_buffer_destroy", None, [p]),
        (_hb, "hb_buffer_add_utf32", None, [p, POINTER(c_uint32), c_int, c_uint, c_int]),
        (_hb, "hb_buffer_set_direction", None, [p, c_int]),
        (_hb, "hb_buffer_set_script", None, [p, c_uint32]),
        (_hb, "hb_script_from_string", c_uint32, [c_char_p, c_int]),
        (_hb, "hb_buffer_set_language", None, [p, p]),
        (_hb, "hb_language_from_string", p, [c_char_p, c_int]),
        (_hb, "hb_shape", None, [p, p, p, c_uint]),
        (_hb, "hb_buffer_get_glyph_infos", POINTER(_GlyphInfo), [p, POINTER(c_uint)]),
        (_hb, "hb_buffer_get_glyph_positions", POINTER(_GlyphPosition), [p, POINTER(c_uint)]),
        (_hb, "hb_set_add", None, [p, c_uint32]),
        (_hb, "hb_tag_from_string", c_uint32, [c_char_p, c_int]),
        (_hb, "hb_face_reference_blob", p, [p]),
        (_hb, "hb_blob_get_data", POINTER(ctypes.c_char), [p, POINTER(c_uint)]),
        (_hb, "hb_blob_destroy", None, [p]),
        (_subset, "hb_subset_preprocess", p, [p]),
        (_subset, "hb_subset_input_create_or_fail", p, []),
        (_subset, "hb_subset_input_destroy", None, [p]),
        (_subset, "hb_subset_input_glyph_set", p, [p]),
        (_subset, "hb_subset_input_unicode_set", p, [p]),
        (_subset, "hb_subset_input_set", p, [p, c_int]),
        (_subset, "hb_subset_input_set_flags", None, [p, c_uint]),
        (_subset, "hb_subset_or_fail", p, [p, p]),
    ]
    for library, name, restype, argtypes in signatures:
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes


_declare()


@dataclass(frozen=True)
class Glyph:
    gid: int
    advance: int  # in units of the scale it was shaped at
    text: str  # the characters this glyph stands for


class Face:
    """One font face: shaping with it, and subsets of it for embedding.

    HarfBuzz can index a face once so that each subset of it takes a fraction of a millisecond instead of several;
    for a whole CJK face that index takes seconds and near half a gigabyte. So ``prepare`` first cuts the face down
    to the characters of GB 2312 (the 6,763 common hanzi and its symbols), Latin and the CJK and full-width
    punctuation, with every glyph their shaping can reach and each glyph's id kept, and indexes that: half a
    second and some 40 MB. A glyph outside it is not ``covered``, and a text that needs one is left to WeasyPrint.
    """

    def __init__(self, face_address: int) -> None:
        self._face = _hb.hb_face_reference(face_address)
        self._font = _hb.hb_font_create(self._face)
        self._scaled: dict[int, int] = {}
        self.upem = int(_hb.hb_face_get_upem(self._face))
        self._prepared: int | None = None
        self.covered: frozenset[int] = frozenset()

    def prepare(self) -> None:
        request = _subset.hb_subset_input_create_or_fail()
        if not request:
            raise MemoryError("HarfBuzz could not allocate a subset input")
        try:
            unicodes = _subset.hb_subset_input_unicode_set(request)
            for codepoint in _repertoire():
                _hb.hb_set_add(unicodes, codepoint)
            _subset.hb_subset_input_set_flags(request, _RETAIN_GIDS | _PASSTHROUGH_UNRECOGNIZED)
            reduced = _subset.hb_subset_or_fail(self._face, request)
        finally:
            _subset.hb_subset_input_destroy(request)
        if not reduced:
            return  # never prepared: every document of this face is WeasyPrint's
        try:
            self.covered = frozenset(_drawn_glyphs(_blob(reduced)))
            self._prepared = _subset.hb_subset_preprocess(reduced)
        except ValueError:
            return  # not a CFF font (PDFs embed TrueType ones differently): WeasyPrint's
        finally:
            _hb.hb_face_destroy(reduced)

    @property
    def prepared(self) -> bool:
        return self._prepared is not None

    def has_glyph(self, char: str) -> bool:
        glyph = c_uint32()
        return bool(_hb.hb_font_get_nominal_glyph(self._font, ord(char), ctypes.byref(glyph)))

    def _at(self, scale: int) -> int:
        """The face as a font of ``scale`` units to the em: Pango shapes at the size in 1/1024 px, and its
        rounding of each advance to that unit is part of where WeasyPrint puts the next glyph."""
        font = self._scaled.get(scale)
        if font is None:
            font = _hb.hb_font_create(self._face)
            _hb.hb_font_set_scale(font, scale, scale)
            font = self._scaled.setdefault(scale, font)
        return font

    def advance(self, gid: int, scale: int) -> int:
        return int(_hb.hb_font_get_glyph_h_advance(self._at(scale), gid))

    def shape(self, text: str, script: str, language: str, scale: int) -> list[Glyph] | None:
        """Glyphs for ``text`` set left to right in one script and language (a BCP 47 tag), or None when shaping did
        more than map each character to one glyph with its advance (ligatures, marks, offsets): then only
        WeasyPrint lays it out."""
        codepoints = (c_uint32 * len(text))(*map(ord, text))
        buffer = _hb.hb_buffer_create()
        try:
            _hb.hb_buffer_add_utf32(buffer, codepoints, len(text), 0, len(text))
            _hb.hb_buffer_set_direction(buffer, _DIRECTION_LTR)
            _hb.hb_buffer_set_script(buffer, _hb.hb_script_from_string(script.encode(), -1))
            _hb.hb_buffer_set_language(buffer, _hb.hb_language_from_string(language.encode(), -1))
            _hb.hb_shape(self._at(scale), buffer, None, 0)
            count = c_uint()
            infos = _hb.hb_buffer_get_glyph_infos(buffer, ctypes.byref(count))
            positions = _hb.hb_buffer_get_glyph_positions(buffer, None)
            if count.value != len(text):
                return None
            glyphs = []
            for i in range(count.value):
                info, position = infos[i], positions[i]
                if info.cluster != i or info.codepoint == 0 or position.x_offset or position.y_offset:
                    return None
                glyphs.append(Glyph(info.codepoint, position.x_advance, text[i]))
            return glyphs
        finally:
            _hb.hb_buffer_destroy(buffer)

    def subset(self, gids: frozenset[int]) -> bytes:
        """An OpenType font of the glyphs ``gids`` (and .notdef), with WeasyPrint's flags less its retained glyph
        ids: a CID-keyed font keeps its CIDs, so the page content still names glyphs by their ids in this face."""
        if self._prepared is None or not gids <= self.covered | {0}:
            raise ValueError("glyphs outside the prepared face")
        request = _subset.hb_subset_input_create_or_fail()
        if not request:
            raise MemoryError("HarfBuzz could not allocate a subset input")
        try:
            glyph_set = _subset.hb_subset_input_glyph_set(request)
            for gid in gids:
                _hb.hb_set_add(glyph_set, gid)
            dropped = _subset.hb_subset_input_set(request, _DROP_TABLE_TAG)
            for tag in _DROPPED_TABLES:
                _hb.hb_set_add(dropped, _hb.hb_tag_from_string(tag, -1))
            _subset.hb_subset_input_set_flags(
                request, _NO_HINTING | _DESUBROUTINIZE | _PASSTHROUGH_UNRECOGNIZED | _NO_LAYOUT_CLOSURE
            )
            subset = _subset.hb_subset_or_fail(self._prepared, request)
            if not subset:
                raise ValueError("HarfBuzz could not subset the font")
            try:
                return _blob(subset)
            finally:
                _hb.hb_face_destroy(subset)
        finally:
            _subset.hb_subset_input_destroy(request)


def _blob(face: int) -> bytes:
    blob = _hb.hb_face_reference_blob(face)
    try:
        length = c_uint()
        return ctypes.string_at(_hb.hb_blob_get_data(blob, ctypes.byref(length)), length.value)
    finally:
        _hb.hb_blob_destroy(blob)


def _repertoire() -> set[int]:
    """GB 2312 (its hanzi and symbols), Latin, general, CJK and full-width punctuation."""
    codepoints = {*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x2000, 0x2070), *range(0x3000, 0x3040)}
    codepoints |= {*range(0xFF01, 0xFF5F), *range(0xFFE0, 0xFFE7)}
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                codepoints.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return codepoints


def _drawn_glyphs(font: bytes) -> Iterator[int]:
    """The glyphs of a CFF-flavoured OpenType font that draw something (more than an ``endchar``)."""
    at, length, _ = _table(font, b"CFF ")
    cff = bytearray(font[at : at + length])
    position = _skip_index(cff, cff[2])
    top, _ = _first_of_index(cff, position)
    offsets, _ = _index(cff, _dict(top)[17][0])
    return (gid for gid in range(len(offsets) - 1) if offsets[gid + 1] - offsets[gid] > 1)


def identity_cids(font: bytes) -> tuple[bytes, list[int]]:
    """``font`` (an OpenType font of a CID-keyed CFF subset) with each glyph's CID made its glyph id, and the CID each
    glyph had. Viewers differ on how a PDF's CIDFontType0 with an OpenType program finds a glyph (poppler and
    pdfium by glyph id, the specification by CID); with the two equal, every viewer draws the same glyph. The
    charset is rewritten in place, never larger, so no offset in the font moves."""
    cff_at, cff_length, record = _table(font, b"CFF ")
    cff = bytearray(font[cff_at : cff_at + cff_length])
    position = cff[2]
    position = _skip_index(cff, position)  # names
    top, position = _first_of_index(cff, position)
    operands = _dict(top)
    if (12, 30) not in operands or 15 not in operands or 17 not in operands or operands[15][0] < 3:
        raise ValueError("not a CID-keyed CFF font with its own charset")
    charset, charstrings = operands[15][0], operands[17][0]
    count = int.from_bytes(cff[charstrings : charstrings + 2], "big")
    cids = [0, *_charset(cff, charset, count)]
    if count < 2:
        raise ValueError("a font of .notdef alone")
    fmt = cff[charset]
    if fmt == 0:
        new = bytes([0]) + b"".join(gid.to_bytes(2, "big") for gid in range(1, count))
    elif fmt == 1 and count - 2 <= 255:
        new = bytes([1]) + (1).to_bytes(2, "big") + bytes([count - 2])
    else:
        new = bytes([2]) + (1).to_bytes(2, "big") + (count - 2).to_bytes(2, "big")
    cff[charset : charset + len(new)] = new
    out = bytearray(font)
    out[cff_at : cff_at + cff_length] = cff
    out[record + 4 : record + 8] = _checksum(bytes(cff)).to_bytes(4, "big")
    return bytes(out), cids


def _table(font: bytes, tag: bytes) -> tuple[int, int, int]:
    for record in range(12, 12 + 16 * int.from_bytes(font[4:6], "big"), 16):
        if font[record : record + 4] == tag:
            offset = int.from_bytes(font[record + 8 : record + 12], "big")
            return offset, int.from_bytes(font[record + 12 : record + 16], "big"), record
    raise ValueError(f"no {tag!r} table")


def _index(cff: bytearray, position: int) -> tuple[list[int], int]:
    count = int.from_bytes(cff[position : position + 2], "big")
    if count == 0:
        return [], position + 2
    size = cff[position + 2]
    start = position + 3
    offsets = [int.from_bytes(cff[start + i * size : start + (i + 1) * size], "big") for i in range(count + 1)]
    data = start + (count + 1) * size - 1
    return [data + offset for offset in offsets], data + offsets[-1]


def _skip_index(cff: bytearray, position: int) -> int:
    return _index(cff, position)[1]


def _first_of_index(cff: bytearray, position: int) -> tuple[bytes, int]:
    offsets, end = _index(cff, position)
    return bytes(cff[offsets[0] : offsets[1]]), end


def _dict(data: bytes) -> dict[int | tuple[int, int], list[int]]:
    """A CFF DICT's integer operands by operator (reals are skipped: no offset is a real)."""
    result: dict[int | tuple[int, int], list[int]] = {}
    operands: list[int] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b <= 21:
            operator: int | tuple[int, int] = (12, data[i + 1]) if b == 12 else b
            i += 2 if b == 12 else 1
            result[operator] = operands
            operands = []
        elif b == 28:
            operands.append(int.from_bytes(data[i + 1 : i + 3], "big", signed=True))
            i += 3
        elif b == 29:
            operands.append(int.from_bytes(data[i + 1 : i + 5], "big", signed=True))
            i += 5
        elif b == 30:
            i += 1
            while i < len(data) and (data[i] & 0x0F) != 0x0F and (data[i] >> 4) != 0x0F:
                i += 1
            i += 1
            operands.append(0)
        elif b <= 246:
            operands.append(b - 139)
            i += 1
        elif b <= 250:
            operands.append((b - 247) * 256 + data[i + 1] + 108)
            i += 2
        else:
            operands.append(-(b - 251) * 256 - data[i + 1] - 108)
            i += 2
    return result


def _charset(cff: bytearray, position: int, count: int) -> list[int]:
    """The CIDs of glyphs 1 to ``count`` - 1."""
    fmt, position = cff[position], position + 1
    cids: list[int] = []
    while len(cids) < count - 1:
        first = int.from_bytes(cff[position : position + 2], "big")
        if fmt == 0:
            cids.append(first)
            position += 2
        elif fmt == 1:
            cids += range(first, first + cff[position + 2] + 1)
            position += 3
        else:
            cids += range(first, first + int.from_bytes(cff[position + 2 : position + 4], "big") + 1)
            position += 4
    return cids[: count - 1]


def _checksum(table: bytes) -> int:
    words = array.array("I", table + b"\0" * (-len(table) % 4))
    if sys.byteorder == "little":
        words.byteswap()
    return sum(words) & 0xFFFFFFFF
