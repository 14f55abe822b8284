"""What a seal looks like on paper: the red round seal drawn as vector paths, its paging-seal strips and the
QR code that opens a document's record.

The round seal follows the usual engraving of a Chinese official seal: the full name it is registered under along
the upper arc, clockwise from lower left to lower right, a five-pointed star in the centre, and only on a
special-purpose seal (专用章) a horizontal line under the star naming its purpose (财务专用章, 合同专用章); an
official seal (公章) has none.

Everything is a content stream of paths: no font, no image, no resource. The same inputs give the same bytes,
so a seal's appearance can be compared across sealings and kept small. Nothing paints white: red ink and the
QR code's dark modules are all there is, so the page under them stays visible where they leave it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import zxingcpp

from signer.outlines import OutlineFont, glyph_matrix, line, load_font, number, text_width

MM = 72 / 25.4
RED = "0.86 0.08 0.06"
QR_BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks
_DARK = bytes(1 if grey < 128 else 0 for grey in range(256))  # a grey pixel of the image to a module, 1 dark
_RUN = re.compile(b"\x01+")

# Proportions of a 42 mm 公章, as fractions of the diameter.
_TEXT_GAP = 0.025  # between the ring and the tops of the arc's characters
_STAR = 0.28  # across the star's points
_PURPOSE_SIZE = 0.12
_PURPOSE_TOP = 0.155  # below the centre
_PURPOSE_WIDTH = 0.6
_PURPOSE_MARGIN = 0.02  # from the name's characters on the arc


class Drawing(Protocol):
    """Anything drawn in the box [0 0 size size], as the paging seal needs to know."""

    @property
    def size(self) -> float: ...


@dataclass(frozen=True)
class SealArt:
    """A seal's drawing: ``content`` paints in the box [0 0 size size] (points)."""

    size: float
    content: bytes

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (0.0, 0.0, self.size, self.size)


def round_seal(name: str, *, purpose: str | None = None, diameter_mm: float = 42.0, rim_mm: float = 1.0) -> SealArt:
    """A round seal: ring, ``name`` (the organisation's full name, as the seal is registered) along the upper arc, a
    star, and for a special-purpose seal its ``purpose`` (e.g. 财务专用章) as a line under the star."""
    if not name.strip():
        raise ValueError("a seal needs the organisation's name")
    font = load_font()
    name = name.strip()
    size = diameter_mm * MM
    rim = rim_mm * MM
    radius = (size - rim) / 2
    centre = (size / 2, size / 2)
    top = radius - rim / 2 - _TEXT_GAP * size
    em = arc_em(len(name), size)
    span = arc_span(len(name))
    parts = [
        f"q {RED} rg {RED} RG\n",
        circle(centre, radius, rim),
        arc_text(font, name, centre, top, em, span),
        star(centre, _STAR * size / 2),
        purpose_line(font, (purpose or "").strip(), centre, size, purpose_room(size, top - em, span)),
        "Q\n",
    ]
    return SealArt(size, "".join(parts).encode())


def circle(centre: tuple[float, float], radius: float, width: float) -> str:
    """A stroked circle of four Bézier quarter arcs."""
    cx, cy = centre
    k = radius * 4 * (math.sqrt(2) - 1) / 3
    points = [
        (cx + radius, cy),
        (cx + radius, cy + k, cx + k, cy + radius, cx, cy + radius),
        (cx - k, cy + radius, cx - radius, cy + k, cx - radius, cy),
        (cx - radius, cy - k, cx - k, cy - radius, cx, cy - radius),
        (cx + k, cy - radius, cx + radius, cy - k, cx + radius, cy),
    ]
    segments = [" ".join(number(v) for v in p) + (" m" if len(p) == 2 else " c") for p in points]
    return f"{number(width)} w\n" + "\n".join(segments) + " h S\n"


def arc_span(count: int) -> float:
    """Degrees of arc the name spreads over: wider for longer names, as engravers do, but a very
    short name keeps its characters within 50 degrees of each other rather than scattered around the ring."""
    return min(250.0, max(210.0, 170.0 + 8.0 * count), 50.0 * count)


def arc_em(count: int, diameter: float) -> float:
    """The arc's character size: smaller for long names, which are then also narrowed."""
    return diameter * min(0.16, max(0.13, 0.16 - 0.005 * (count - 8)))


def arc_text(font: OutlineFont, text: str, centre: tuple[float, float], top: float, em: float, span: float) -> str:
    """Characters clockwise along the upper arc over ``span`` degrees, each upright to the radius, their em boxes'
    tops at radius ``top``."""
    span = math.radians(span)
    step = span / len(text)
    baseline = top - em * font.ascent / font.units_per_em
    room = (top - em) * step * 0.92  # the chord at the em boxes' feet, where neighbours come closest
    stretch = min(1.0, room / em)
    parts = []
    for i, char in enumerate(text):
        theta = math.pi / 2 + span / 2 - (i + 0.5) * step
        half = font.advance(char) * em / font.units_per_em * stretch / 2
        up, right = (math.cos(theta), math.sin(theta)), (math.sin(theta), -math.cos(theta))
        origin = (
            centre[0] + baseline * up[0] - half * right[0],
            centre[1] + baseline * up[1] - half * right[1],
        )
        matrix = glyph_matrix(font, em, origin, angle=theta - math.pi / 2, stretch=stretch)
        parts.append(font.path(char, matrix) + "f\n")
    return "".join(parts)


def star(centre: tuple[float, float], radius: float) -> str:
    """A filled five-pointed star, one point up."""
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(54))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / 5
        points.append((centre[0] + r * math.cos(angle), centre[1] + r * math.sin(angle)))
    segments = [f"{number(x)} {number(y)} {'m' if i == 0 else 'l'}" for i, (x, y) in enumerate(points)]
    return "\n".join(segments) + " h f\n"


def purpose_room(diameter: float, inner: float, span: float) -> float:
    """How wide the purpose line may be: a long name on the arc comes down beside it, and the line must stay
    inside the circle of the arc's feet (radius ``inner``) or below the arc's ends."""
    room = _PURPOSE_WIDTH * diameter
    lowest = math.radians(span / 2 - 90)  # below the horizontal, at the arc's ends
    if lowest <= 0:
        return room
    top, bottom = _PURPOSE_TOP * diameter, (_PURPOSE_TOP + _PURPOSE_SIZE) * diameter
    inside = math.sqrt(max(0.0, inner**2 - bottom**2))
    beside = top / math.tan(lowest)
    return min(room, 2 * (max(inside, beside) - _PURPOSE_MARGIN * diameter))


def purpose_line(font: OutlineFont, purpose: str, centre: tuple[float, float], diameter: float, room: float) -> str:
    """A special-purpose seal's purpose centred below the star, narrowed rather than run into the ring or the arc
    when long; nothing for an official seal."""
    if not purpose:
        return ""
    em = _PURPOSE_SIZE * diameter
    natural = text_width(font, purpose, em)
    stretch = min(1.0, room / natural)
    top = centre[1] - _PURPOSE_TOP * diameter
    baseline = top - em * font.ascent / font.units_per_em
    return line(font, purpose, em, (centre[0] - natural * stretch / 2, baseline), stretch=stretch)


def qr_matrix(url: str) -> list[bytes]:
    """The QR code's rows of modules, 1 dark, without the quiet zone: error correction level M, the mask pattern
    chosen by the lowest penalty as ISO/IEC 18004 asks. zxing-cpp encodes it in C++ in a fraction of a millisecond;
    a pure Python encoder spent most of its time choosing the mask, which was most of the cost of a seal's
    appearance. Rows are bytes, so that the dark runs are found by the regular expression engine, not a loop."""
    image = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_image(
        scale=1, add_quiet_zones=False
    )
    rows, columns = image.shape
    flat = bytes(memoryview(cast(Any, image))).translate(_DARK)  # the stubs do not say an Image is a buffer; it is
    return [flat[r * columns : (r + 1) * columns] for r in range(rows)]


def qr_code(url: str, size: float) -> bytes:
    """A QR code's dark modules, dark runs of each row as one rectangle, within ``size`` that keeps room for its
    quiet zone. Light modules and the quiet zone are not painted: no white box hides what the page has there."""
    matrix = qr_matrix(url)
    modules = len(matrix) + 2 * QR_BORDER
    scale = number(size / modules, 3)
    parts = [f"q 0 g {scale} 0 0 -{scale} 0 {number(size)} cm\n"]
    for row, cells in enumerate(matrix, start=QR_BORDER):
        parts.extend(f"{start + QR_BORDER} {row} {length} 1 re\n" for start, length in dark_runs(cells))
    parts.append("f Q\n")
    return "".join(parts).encode()


def dark_runs(cells: bytes) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules (1) in a row."""
    return [(run.start(), run.end() - run.start()) for run in _RUN.finditer(cells)]


def paging_slices(
    art: Drawing,
    pages: Sequence[tuple[float, float, float, float]],
    *,
    y: float | None = None,
    resource: str = "/Seal",
) -> list[bytes]:
    """A paging seal (骑缝章): page i of n shows the i-th of n vertical strips of the seal, counted from the left,
    at its right edge, so the fanned edges of the sheets show the whole seal. ``y`` is the seal's lower edge in
    user space; by default the seal is centred on each page. ``resource`` names the seal's Form XObject."""
    count = len(pages)
    if count == 0:
        raise ValueError("a paging seal needs at least one page")
    width = art.size / count
    slices = []
    for i, (_, y0, x1, y1) in enumerate(pages):
        bottom = (y0 + y1 - art.size) / 2 if y is None else y
        clip = " ".join(number(v, 3) for v in (x1 - width, bottom, width, art.size))
        shift = f"{number(x1 - (i + 1) * width, 3)} {number(bottom, 3)}"
        slices.append(f"q {clip} re W n 1 0 0 1 {shift} cm {resource} Do Q\n".encode())
    return slices
