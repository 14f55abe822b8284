"""Rendering documents from templates without laying each one out again: WeasyPrint lays out a *shape* once, and
requests of that shape get the same pages with their own values drawn where WeasyPrint placed the first one's.

Written by hand because no library does it: WeasyPrint (the reference, and the fallback) spends most of a document's
time laying out text that is the same in every request and subsetting a CJK font from scratch. Here the document's
HTML is split into tags and texts; the tags, the style sheet and which texts are blank make the shape. The first
request of a shape is rendered by WeasyPrint, and its boxes say where each text went. A text that WeasyPrint set
as the only line of its block, in one font, with nothing before or after it on that line, is a *slot*: another
request may put a different text there, shaped with the same HarfBuzz on the same font face, and aligned the way
the block aligns it, provided the text fits on that one line and needs nothing but one glyph per character from
that face. Anything else (a text that would wrap, a bookmark heading, a character from another script or font)
goes to WeasyPrint, whose rendering joins the shape's references. Fonts are subset per document by HarfBuzz-Subset
from a face prepared once, so the PDF carries only the glyphs it shows, as WeasyPrint's does; unlike WeasyPrint's,
the subset renumbers its glyphs (the PDF names them by the new numbers, and each glyph's CID is made its number),
so a document is a tenth of the size.

Each reference proves itself before it is used: the slot's reference text, shaped here, must give the glyphs and
width WeasyPrint drew, at the position its alignment implies; otherwise the text is not a slot.

A shape also says where its documents print the text a seal is stamped over ("（盖章）"), so that sealing need not
search each one with PDFium: PDFium searches the reference, and a document whose changed slot texts cannot hold the
anchor has it at the same place; where they could (a village's name line ending in "（盖章）"), PDFium searches the
first document with those texts, and later ones alike there reuse its answer.
"""

from __future__ import annotations

import html as htmllib
import io
import re
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pikepdf import Array, Dictionary, Name, Operator, Pdf, String, parse_content_stream, unparse_content_stream

from signer.placement import Anchor, Located, find_anchor
from workflow.harfbuzz import Face, Glyph, identity_cids

_TAG = re.compile(r"(<[^>]*>)")
_RAW = re.compile(r"<(style|script)[\s>]", re.IGNORECASE)
_BLANK = " \t\n\f\r"
_SHAPES = 64  # shapes kept; a template has a handful (which optional fields are blank)
_REFERENCES = 4  # renderings kept per shape: values that wrap in one fit in another
_ANCHORINGS = 256  # places of the anchor kept per shape: one for each village's name line, say
_SUBSETS = 256  # font subsets kept, for fonts whose glyphs repeat (a fixed heading)
_EPSILON = 0.01  # CSS px: positions WeasyPrint writes to 6 decimals, widths summed from font units
_PANGO_SCALE = 1024  # Pango's units to the px
_NARROWEST = 0.1  # em: no glyph a slot may take is narrower
_BFCHAR = re.compile(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>")
# Pango shapes a run in the text's language when that language is written in the run's script, else in the
# script's sample language: Latin in a Chinese document is shaped as English (and the font's Latin digits differ).
_LATIN = "en"
_SCRIPTS = {"LATIN": "Latn", "CJK UNIFIED IDEOGRAPH": "Hani", "CJK COMPATIBILITY IDEOGRAPH": "Hani"}

Reference = Callable[[str, str], tuple[bytes, Any]]  # (html, base_url) -> (pdf, WeasyPrint document)
# An anchor text, and each slot text a document changed that could hold it (by index): documents of a shape alike
# in these have the anchor at the same place.
_Anchoring = tuple[str, tuple[tuple[int, str], ...]]


def _split(html: str) -> tuple[tuple[object, ...], list[str]]:
    """The shape of ``html`` (tags, style sheets, which texts are blank) and its texts, unescaped."""
    parts = _TAG.split(html)
    key: list[object] = []
    texts: list[str] = []
    raw = False
    for i, part in enumerate(parts):
        if i % 2:
            key.append(part)
            raw = _RAW.match(part) is not None
        elif raw:
            key.append(part)
        else:
            text = htmllib.unescape(part)
            key.append(bool(text.strip(_BLANK)))
            texts.append(text)
    return tuple(key), texts


@dataclass(frozen=True)
class _Slot:
    page: int
    tm: int  # index of the Tm instruction in the page's content
    tj: int  # index of the TJ instruction
    font: str  # resource name
    size: float
    y: float
    left: float
    width: float  # of the line
    align: str  # start, center, end
    language: str = ""  # the text's (the lang attribute's)
    title: bool = False


_Show = tuple[str, list[list[int] | float]]  # font, and glyph ids between TJ adjustments


@dataclass
class _Shape:
    base: bytes  # the reference PDF, fonts emptied
    texts: list[str]
    slots: dict[int, _Slot]
    pages: list[list[bytes]]  # each page's content instructions, serialised one by one
    shows: list[dict[int, _Show]]  # per page: TJ instruction -> what it shows, rewritten for each subset
    faces: dict[str, Face]
    widths: dict[str, dict[int, float]]
    unicode: dict[str, dict[int, str]]
    usable: bool = True  # False when a font is one this module does not subset (a bitmap or Type 3 font)
    anchors: dict[_Anchoring, Anchor | None] = field(default_factory=dict)  # where a document has an anchor


def _could_hold(text: str, anchor: str) -> bool:
    """Whether ``text`` holds ``anchor``, or begins with its end or ends with its beginning (an occurrence across
    two texts that PDFium reads one after the other)."""
    text = text.strip(_BLANK)
    return anchor in text or any(
        text.endswith(anchor[:cut]) or text.startswith(anchor[cut:]) for cut in range(1, len(anchor))
    )


@dataclass
class _State:
    shapes: OrderedDict[tuple[object, ...], list[_Shape]] = field(default_factory=OrderedDict)
    faces: dict[str, Face] = field(default_factory=dict)  # by WeasyPrint's font hash
    subsets: OrderedDict[tuple[int, frozenset[int]], tuple[bytes, list[int]]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    preparing: list[threading.Thread] = field(default_factory=list)


_state = _State()


def render(html: str, base_url: str, reference: Reference) -> bytes:
    """``html`` as PDF: filled into a known shape when every changed text fits its slot, else by ``reference``."""
    return render_with_anchor(html, base_url, reference, None)[0]


def render_with_anchor(
    html: str, base_url: str, reference: Reference, anchor: str | None
) -> tuple[bytes, Located | None]:
    """``render``, and where the PDF has the ``anchor`` text (None when no anchor is asked for), as PDFium found it
    in the reference or in an earlier document of the shape that has it at the same place (``_located``)."""
    key, texts = _split(html)
    key = (base_url, *key)
    with _state.lock:
        shapes = list(_state.shapes.get(key, ()))
    for shape in shapes:
        if shape.usable and all(face.prepared for face in shape.faces.values()):
            try:
                filled = _fill(shape, texts)
            except ValueError:  # HarfBuzz could not subset the font: WeasyPrint's subsetter may yet
                filled = None
            if filled is not None:
                return filled, _located(shape, texts, anchor, filled)
    pdf, document = reference(html, base_url)
    new = _shape(pdf, document, texts)
    if anchor is not None:
        new.anchors[(anchor, ())] = find_anchor(pdf, anchor)
    with _state.lock:
        kept = _state.shapes.setdefault(key, [])
        kept.insert(0, new)
        del kept[_REFERENCES:]
        _state.shapes.move_to_end(key)
        while len(_state.shapes) > _SHAPES:
            _state.shapes.popitem(last=False)
    return pdf, None if anchor is None else Located(anchor, new.anchors[(anchor, ())])


def _located(shape: _Shape, texts: list[str], anchor: str | None, pdf: bytes) -> Located | None:
    """Where ``pdf``, filled from ``shape``, has ``anchor``: as PDFium found it in an earlier document of the shape
    (the reference, say) alike in every slot text that could hold the anchor, in the document or before it (the
    reference's). The two then have the same occurrences at the same places: the other texts are the shape's,
    and a slot's place depends on its text alone. Otherwise PDFium searches this one, and the shape keeps what it
    found."""
    if anchor is None:
        return None
    capable = tuple(
        (index, text)
        for index, (text, was) in enumerate(zip(texts, shape.texts, strict=True))
        if text != was and (_could_hold(text, anchor) or _could_hold(was, anchor))
    )
    if (anchor, capable) in shape.anchors:
        return Located(anchor, shape.anchors[(anchor, capable)])
    found = find_anchor(pdf, anchor)
    if len(shape.anchors) < _ANCHORINGS:
        shape.anchors[(anchor, capable)] = found
    return Located(anchor, found)


def forget_shapes() -> None:
    """Drop every layout kept, the prepared faces staying (for tests: each starts from the shapes it makes)."""
    with _state.lock:
        _state.shapes.clear()


def wait_for_fonts(timeout: float | None = None) -> None:
    """Block until the font faces seen so far are prepared for subsetting (for tests and benchmarks)."""
    for thread in list(_state.preparing):
        thread.join(timeout)


# Building a shape from WeasyPrint's rendering.


def _shape(pdf: bytes, document: Any, texts: list[str]) -> _Shape:
    elements = _elements(document, texts)
    faces = _faces(document)
    with Pdf.open(io.BytesIO(pdf)) as reference:
        pages, shows, pieces = [], [], []
        if not all(_plain(page) for page in reference.pages):
            return _Shape(pdf, texts, {}, [], [], faces, {}, {}, usable=False)
        for instructions in (parse_content_stream(page) for page in reference.pages):
            pages.append([unparse_content_stream([instruction]) for instruction in instructions])
            shown, found = _pieces(instructions)
            shows.append(shown)
            pieces.append(found)
        widths, unicode = {}, {}
        for name, font in _fonts(reference):
            if not _embeddable(font) or name not in faces:
                return _Shape(pdf, texts, {}, [], [], faces, {}, {}, usable=False)
            widths[name] = _widths(font.DescendantFonts[0].W)
            unicode[name] = _to_unicode(font.ToUnicode.read_bytes())
            font.DescendantFonts[0].FontDescriptor.FontFile3.write(b"")
        slots = _slots(document, elements, pieces, faces, texts)
        out = io.BytesIO()
        reference.save(out)
    return _Shape(out.getvalue(), texts, slots, pages, shows, faces, widths, unicode)


def _elements(document: Any, texts: list[str]) -> dict[int, int] | None:
    """id(element) -> index of its text in ``texts``, when the parsed document's texts are exactly the tokens'."""
    found: list[tuple[Any, str]] = []
    for element in document._html.etree_element.iter():
        if element.text and element.text.strip(_BLANK) and element.tag not in ("style", "script"):
            found.append((element, element.text))
        if element.tail and element.tail.strip(_BLANK):
            return None  # text after a tag: not one text per element
    ours = [(i, text) for i, text in enumerate(texts) if text.strip(_BLANK)]
    if len(ours) != len(found) or any(a[1] != b[1] for a, b in zip(ours, found, strict=True)):
        return None
    return {id(element): i for (element, _), (i, _) in zip(found, ours, strict=True)}


def _faces(document: Any) -> dict[str, Face]:
    from weasyprint.text.ffi import ffi  # WeasyPrint's faces, through the HarfBuzz both of us load

    faces = {}
    for font in document.fonts.values():
        if font.bitmap or font.png or font.svg or font.colr or "fvar" in font.tables:
            continue
        with _state.lock:
            face = _state.faces.get(font.hash)
            if face is None:
                face = _state.faces[font.hash] = Face(int(ffi.cast("uintptr_t", font.hb_face)))
                thread = threading.Thread(target=face.prepare, name="font-prepare", daemon=True)
                _state.preparing.append(thread)
                thread.start()
        faces[font.hash] = face
    return faces


def _plain(page: Any) -> bool:
    """Text only in the page's own content, shown only by TJ: the instructions rewritten for each subset."""
    if page.Resources.get(Name.XObject) or page.obj.get(Name.Annots):
        return False
    showing = {Operator("Tj"), Operator("'"), Operator('"')}
    return not any(getattr(instruction, "operator", None) in showing for instruction in parse_content_stream(page))


def _embeddable(font: Any) -> bool:
    """A Type 0 font over a CID-keyed CFF in an OpenType program: the only kind WeasyPrint makes of these faces."""
    descendants = font.get(Name.DescendantFonts)
    if font.get(Name.Subtype) != Name.Type0 or not isinstance(descendants, Array) or len(descendants) != 1:
        return False
    descriptor = descendants[0].get(Name.FontDescriptor)
    return (
        descendants[0].get(Name.Subtype) == Name.CIDFontType0
        and isinstance(descriptor, Dictionary)
        and Name.FontFile3 in descriptor
        and Name.W in descendants[0]
        and Name.ToUnicode in font
    )


def _fonts(pdf: Pdf) -> Iterator[tuple[str, Any]]:
    seen: set[tuple[int, int]] = set()
    for page in pdf.pages:
        font: Any
        for name, font in page.Resources.get(Name.Font, Dictionary()).items():
            if font.objgen not in seen:
                seen.add(font.objgen)
                yield name[1:], font


def _pieces(instructions: list[Any]) -> tuple[dict[int, _Show], dict[tuple[float, float], Any]]:
    """What each TJ shows, and each text position (Tm) with its font, size and TJ instructions."""
    shown: dict[int, _Show] = {}
    pieces: dict[tuple[float, float], Any] = {}
    font, size = "", 0.0
    current: dict[str, Any] | None = None
    for i, (operands, operator) in enumerate(instructions):
        if operator == Operator("Tf"):
            font, size = str(operands[0])[1:], float(operands[1])
        elif operator == Operator("Tm"):
            current = {"tm": i, "tj": [], "fonts": set(), "at": (float(operands[4]), float(operands[5]))}
            pieces[_point(float(operands[4]), float(operands[5]))] = current
        elif operator == Operator("TJ"):
            items: list[list[int] | float] = []
            for item in operands[0]:
                if isinstance(item, String):
                    codes = bytes(item)
                    items.append([int.from_bytes(codes[j : j + 2], "big") for j in range(0, len(codes), 2)])
                else:
                    items.append(float(item))
            gids = [gid for item in items if isinstance(item, list) for gid in item]
            shown[i] = (font, items)
            if current is not None:
                current["tj"].append(i)
                current["glyphs"] = gids
                current["fonts"].add((font, size))
        elif operator in (Operator("ET"), Operator("Tj"), Operator("'"), Operator('"'), Operator("Ts")):
            current = None  # a piece ends, or holds what slots do not handle
    return shown, pieces


def _point(x: float, y: float) -> tuple[float, float]:
    return round(x, 2), round(y, 2)


def _slots(
    document: Any,
    elements: dict[int, int] | None,
    pieces: list[dict[tuple[float, float], Any]],
    faces: dict[str, Face],
    texts: list[str],
) -> dict[int, _Slot]:
    if elements is None:
        return {}
    boxes: dict[int, list[tuple[int, Any, Any, Any]]] = {}
    for number, page in enumerate(document.pages):
        for box, line, block in _walk(page._page_box, None, None):
            if type(box).__name__ == "TextBox" and box.text.strip(_BLANK):
                boxes.setdefault(id(box.element), []).append((number, box, line, block))
    slots = {}
    for element, index in elements.items():
        found = boxes.get(element)
        if found is not None and len(found) == 1:
            slot = _slot(*found[0], pieces, faces, texts[index])
            if slot is not None:
                slots[index] = slot
    for element in document._html.etree_element.iter("title"):
        title = elements.get(id(element))
        if title is not None:
            slots[title] = _Slot(0, 0, 0, "", 0, 0, 0, 0, "", title=True)
    return slots


def _walk(box: Any, parent: Any, grandparent: Any) -> Iterator[tuple[Any, Any, Any]]:
    yield box, parent, grandparent
    for child in getattr(box, "children", ()):
        yield from _walk(child, box, parent)


def _slot(
    number: int,
    box: Any,
    line: Any,
    block: Any,
    pieces: list[dict[tuple[float, float], Any]],
    faces: dict[str, Face],
    text: str,
) -> _Slot | None:
    """The slot ``box`` makes, if it is its block's only line and WeasyPrint drew it as this module would."""
    style = box.style
    if (
        type(line).__name__ != "LineBox"
        or block is None
        or len(line.children) != 1
        or len(block.children) != 1
        or box.text != text
        or line.text_indent
        or style["direction"] != "ltr"
        or style["letter_spacing"] != "normal"
        or style["word_spacing"] != 0
        or style["text_transform"] != "none"
        or style["text_decoration_line"] not in ("none", frozenset())
        or style["bookmark_level"] != "none"
        or _alignment(style) is None
    ):
        return None
    piece = pieces[number].get(_point(box.position_x, box.position_y + box.baseline))
    if piece is None or len(piece["tj"]) != 1 or len(piece["fonts"]) != 1:
        return None
    ((font, size),) = piece["fonts"]
    face = faces.get(font)
    if face is None:
        return None
    left, width, align = block.content_box_x(), block.width, _alignment(style)
    language = style["lang"]
    if not language:
        return None  # Pango would take the locale's language
    slot = _Slot(
        number, piece["tm"], piece["tj"][0], font, size, piece["at"][1], left, width, align or "", str(language).lower()
    )
    placed = _place(slot, face, text)
    if placed is None or abs(placed[0] - piece["at"][0]) > _EPSILON or abs(placed[2] - box.width) > _EPSILON:
        return None
    if [glyph.gid for glyph in placed[1]] != piece["glyphs"]:
        return None
    return slot


def _alignment(style: Any) -> str | None:
    """How WeasyPrint aligns a block's last (here only) line: start, center or end; None for what slots skip."""
    align = style["text_align_all"] if style["text_align_last"] == "auto" else style["text_align_last"]
    return {"left": "start", "start": "start", "center": "center", "right": "end", "end": "end"}.get(align)


# Filling a shape.


def _place(slot: _Slot, face: Face, text: str) -> tuple[float, list[Glyph], float] | None:
    """Where ``text`` starts, its glyphs and its width in the slot; None unless it fits on the slot's one line."""
    if len(text) * slot.size * _NARROWEST > slot.width:
        return None  # too long to fit, however narrow its glyphs: not worth shaping
    glyphs: list[Glyph] = []
    for run, script in _runs(text, face):
        if script == "":
            return None
        shaped = face.shape(run, script, slot.language if script != "Latn" else _LATIN, _scale(slot))
        if shaped is None:
            return None
        glyphs += shaped
    width = sum(glyph.advance for glyph in glyphs) / _PANGO_SCALE
    if width > slot.width - _EPSILON:
        return None
    offset = {"start": 0.0, "center": (slot.width - width) / 2, "end": slot.width - width}[slot.align]
    return slot.left + offset, glyphs, width


def _scale(slot: _Slot) -> int:
    """The units to the em Pango shapes the slot's text in: its size in 1/1024 px."""
    return round(slot.size * _PANGO_SCALE)


def _runs(text: str, face: Face) -> Iterator[tuple[str, str]]:
    """``text`` in runs of one script, as Pango itemises it: characters common to all scripts (digits,
    punctuation) join the run they are in. A script of "" means the text has what slots do not handle, which
    includes brackets and quotes in a text of two scripts: Pango gives a closing one its opening one's script."""
    runs: list[list[str]] = []  # [script, text]
    for char in text:
        script = _script(char, face)
        if script == "":
            yield text, ""
            return
        if runs and (script == "Zyyy" or runs[-1][0] in (script, "Zyyy")):
            if runs[-1][0] == "Zyyy":
                runs[-1][0] = script
            runs[-1][1] += char
        else:
            runs.append([script, char])
    if len(runs) > 1 and any(unicodedata.category(char) in ("Ps", "Pe", "Pi", "Pf") for char in text):
        yield text, ""
        return
    for script, run in runs:
        yield run, script


def _script(char: str, face: Face) -> str:
    category = unicodedata.category(char)
    if category[0] not in "LNPS" or category in ("Mn", "Mc", "Me") or not face.has_glyph(char):
        return ""
    if unicodedata.bidirectional(char) not in ("L", "EN", "ES", "ET", "CS", "ON"):
        return ""
    if category[0] == "L" or category == "Nl":
        name = unicodedata.name(char, "")
        return next((script for prefix, script in _SCRIPTS.items() if name.startswith(prefix)), "")
    return "Zyyy"


def _fill(shape: _Shape, texts: list[str]) -> bytes | None:
    """The shape with ``texts`` in its slots, or None when one does not fit."""
    if len(texts) != len(shape.texts):
        return None
    pages = [list(page) for page in shape.pages]
    shows = [dict(page) for page in shape.shows]
    widths = {name: dict(w) for name, w in shape.widths.items()}
    unicode = {name: dict(u) for name, u in shape.unicode.items()}
    title = None
    for index, (text, was) in enumerate(zip(texts, shape.texts, strict=True)):
        if text == was:
            continue
        slot = shape.slots.get(index)
        if slot is None:
            return None
        if slot.title:
            if any(char.isspace() or not char.isprintable() for char in text):
                return None  # WeasyPrint collapses a title's white space
            title = text
            continue
        face = shape.faces[slot.font]
        placed = _place(slot, face, text)
        if placed is None or any(glyph.gid not in face.covered for glyph in placed[1]):
            return None
        x, run, _ = placed
        scale = _scale(slot)
        font_widths, font_unicode = widths[slot.font], unicode[slot.font]
        items: list[list[int] | float] = []
        for glyph in run:
            font_widths.setdefault(glyph.gid, round(face.advance(glyph.gid, scale) * 1000 / scale))
            font_unicode.setdefault(glyph.gid, glyph.text)
            items.append([glyph.gid])
            kerning = int(font_widths[glyph.gid] - glyph.advance * 1000 / scale)  # truncated, as WeasyPrint does
            if kerning:
                items.append(float(kerning))
        page = pages[slot.page]
        page[slot.tm] = f"1 0 0 -1 {x:f} {slot.y:f} Tm\n/{slot.font} {slot.size:f} Tf".encode()
        shows[slot.page][slot.tj] = (slot.font, items)
    return _write(shape, pages, shows, widths, unicode, title)


def _write(
    shape: _Shape,
    pages: list[list[bytes]],
    shows: list[dict[int, _Show]],
    widths: dict[str, dict[int, float]],
    unicode: dict[str, dict[int, str]],
    title: str | None,
) -> bytes:
    used: dict[str, set[int]] = {name: set() for name in shape.faces}
    for page_shows in shows:
        for name, items in page_shows.values():
            used.setdefault(name, set()).update(gid for item in items if isinstance(item, list) for gid in item)
    programs = {name: _subset(shape.faces[name], frozenset(gids)) for name, gids in used.items()}
    numbers = {name: {cid: gid for gid, cid in enumerate(cids)} for name, (_, cids) in programs.items()}
    with Pdf.open(io.BytesIO(shape.base)) as pdf:
        for page, content, page_shows in zip(pdf.pages, pages, shows, strict=True):
            content = list(content)
            for index, (name, items) in page_shows.items():
                content[index] = _tj(items, numbers[name])
            page.Contents = pdf.make_stream(zlib.compress(b"\n".join(content)), Filter=Name.FlateDecode)
        for name, font in _fonts(pdf):
            program, cids = programs[name]
            descendant = font.DescendantFonts[0]
            descendant.FontDescriptor.FontFile3.write(program, filter=Name.FlateDecode)
            known = widths[name]
            descendant.W = Array(_w({gid: known[cid] for gid, cid in enumerate(cids) if cid in known}))
            names = unicode[name]
            cmap = _cmap({gid: names[cid] for gid, cid in enumerate(cids) if cid in names})
            font.ToUnicode.write(zlib.compress(cmap), filter=Name.FlateDecode)
        if title is not None:
            pdf.docinfo[Name.Title] = String(title)
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True)
        return out.getvalue()


def _tj(items: list[list[int] | float], numbers: dict[int, int]) -> bytes:
    parts = [
        "<" + "".join(f"{numbers[gid]:04x}" for gid in item) + ">" if isinstance(item, list) else f"{item:g}"
        for item in items
    ]
    return f"[{' '.join(parts)}] TJ".encode()


def _subset(face: Face, gids: frozenset[int]) -> tuple[bytes, list[int]]:
    """The compressed font program of ``gids``, and the glyph id in the face of each of its glyphs."""
    key = (id(face), gids)
    with _state.lock:
        found = _state.subsets.get(key)
        if found is not None:
            _state.subsets.move_to_end(key)
            return found
    program, cids = identity_cids(face.subset(gids))
    found = zlib.compress(program), cids
    with _state.lock:
        _state.subsets[key] = found
        while len(_state.subsets) > _SUBSETS:
            _state.subsets.popitem(last=False)
    return found


# The font dictionaries' widths and Unicode maps, read from WeasyPrint's and written for the subset.


def _widths(array: Array) -> dict[int, float]:
    widths: dict[int, float] = {}
    items = list(array)
    i = 0
    while i < len(items):
        first = int(items[i])
        if isinstance(items[i + 1], Array):
            for offset, width in enumerate(items[i + 1]):
                widths[first + offset] = float(width)
            i += 2
        else:
            for gid in range(first, int(items[i + 1]) + 1):
                widths[gid] = float(items[i + 2])
            i += 3
    return widths


def _w(widths: dict[int, float]) -> list[object]:
    array: list[object] = []
    for gid, width in widths.items():
        value = int(width) if width == int(width) else width
        if array and isinstance(array[-1], list) and array[-2] + len(array[-1]) == gid:  # type: ignore[operator]
            array[-1].append(value)
        else:
            array += [gid, [value]]
    return [Array(item) if isinstance(item, list) else item for item in array]


def _to_unicode(cmap: bytes) -> dict[int, str]:
    return {int(gid, 16): bytes.fromhex(text.decode()).decode("utf-16-be") for gid, text in _BFCHAR.findall(cmap)}


def _cmap(unicode: dict[int, str]) -> bytes:
    lines = [
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo\n"
        b"<< /Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n/CMapName /Adobe-Identity-UCS def\n"
        b"/CMapType 2 def\n1 begincodespacerange\n<0000> <ffff>\nendcodespacerange"
    ]
    items = list(unicode.items())
    for start in range(0, len(items), 100):
        batch = items[start : start + 100]
        lines.append(f"{len(batch)} beginbfchar".encode())
        lines += [f"<{gid:04x}> <{text.encode('utf-16-be').hex()}>".encode() for gid, text in batch]
        lines.append(b"endbfchar")
    lines.append(b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")
    return b"\n".join(lines)
