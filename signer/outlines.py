"""Text as PDF path operators, from the glyph outlines of a system CJK font.

A seal's lettering is drawn rather than typeset: no font is embedded in the sealed PDF, the appearance looks the
same in every viewer, and no font licence travels with the documents.
"""

from __future__ import annotations

import math
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]

# A bold serif is closest to the 仿宋/宋体 lettering of engraved seals; the sans faces are what most systems have.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
)

Matrix = tuple[float, float, float, float, float, float]
Point = tuple[float, float]


def number(value: float, decimals: int = 2) -> str:
    """A short, stable spelling of a coordinate: fixed rounding, no trailing zeros, never ``-0``."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Face:
    """A font file and the face inside it (collections hold several)."""

    path: str
    index: int = 0


@lru_cache(maxsize=1)
def default_face() -> Face:
    """The first known CJK font that exists, else whatever fontconfig offers for Chinese."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Face(candidate, simplified_chinese_face(candidate))
    found = _fontconfig_face()
    if found is None:
        raise LookupError("no CJK font found: install fonts-noto-cjk")
    return found


def _fontconfig_face() -> Face | None:
    try:
        done = subprocess.run(
            ["fc-match", "-f", "%{file}\n%{index}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not Path(lines[0]).is_file():
        return None
    index = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0
    return Face(lines[0], index)


def simplified_chinese_face(path: str) -> int:
    """The face of a collection whose family is the SC one: the CJK faces share code points but not glyph forms."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    collection = TTCollection(path, lazy=True)
    try:
        families = [str(face["name"].getDebugName(1) or "") for face in collection.fonts]
    finally:
        collection.close()
    ranked = sorted(range(len(families)), key=lambda i: (not families[i].endswith(" SC"), "Mono" in families[i], i))
    return ranked[0] if ranked else 0


class OutlineFont:
    """One loaded face: character lookup, advances and outlines in font units."""

    def __init__(self, face: Face) -> None:
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        self.face = face
        self.units_per_em = float(font["head"].unitsPerEm)
        os2 = font["OS/2"]
        self.descent = float(os2.sTypoDescender)
        self.ascent = self.descent + self.units_per_em  # the ideographic em box, where CJK glyphs are designed
        self._cmap: dict[int, str] = dict(font.getBestCmap())
        self._metrics: dict[str, tuple[int, int]] = dict(font["hmtx"].metrics)
        self._glyphs: Any = font.getGlyphSet()
        self._lock = threading.Lock()  # charstrings decompile on first use, which is not safe to race

    def glyph_name(self, char: str) -> str:
        name = self._cmap.get(ord(char))
        if name is None:
            raise ValueError(f"the font {Path(self.face.path).name} has no glyph for {char!r} (U+{ord(char):04X})")
        return name

    def advance(self, char: str) -> float:
        """The character's advance width in font units."""
        return float(self._metrics[self.glyph_name(char)][0])

    def path(self, char: str, matrix: Matrix) -> str:
        """The character's outline as path operators (no painting), mapped by ``matrix`` from font units."""
        name = self.glyph_name(char)
        pen = PathPen(matrix, self._glyphs)
        with self._lock:
            self._glyphs[name].draw(pen)
        return pen.text()


def load_font(face: Face | None = None) -> OutlineFont:
    """A face (by default the system's CJK face), loaded once per process: reading a collection's tables takes
    a noticeable fraction of a second."""
    return _loaded(face if face is not None else default_face())


@lru_cache(maxsize=4)
def _loaded(face: Face) -> OutlineFont:
    return OutlineFont(face)


def glyph_matrix(font: OutlineFont, size: float, origin: Point, *, angle: float = 0.0, stretch: float = 1.0) -> Matrix:
    """Font units to user space: an em of ``size`` points, widths times ``stretch``, turned counter-clockwise by
    ``angle`` radians about the glyph origin, which lands on ``origin``."""
    scale = size / font.units_per_em
    cos, sin = math.cos(angle), math.sin(angle)
    return (cos * scale * stretch, sin * scale * stretch, -sin * scale, cos * scale, origin[0], origin[1])


def text_width(font: OutlineFont, text: str, size: float) -> float:
    return sum(font.advance(char) for char in text) * size / font.units_per_em


def line(font: OutlineFont, text: str, size: float, origin: Point, *, stretch: float = 1.0) -> str:
    """A horizontal line of filled glyphs starting at ``origin`` (left end of the baseline)."""
    x, y = origin
    parts = []
    for char in text:
        parts.append(font.path(char, glyph_matrix(font, size, (x, y), stretch=stretch)) + "f\n")
        x += font.advance(char) * size / font.units_per_em * stretch
    return "".join(parts)


def _apply(matrix: Matrix, point: Point) -> Point:
    a, b, c, d, e, f = matrix
    x, y = point
    return a * x + c * y + e, b * x + d * y + f


def _compose(outer: Matrix, inner: Sequence[float]) -> Matrix:
    """``outer`` after ``inner``."""
    a, b, c, d, e, f = inner
    x0, y0 = _apply(outer, (e, f))
    xa, ya = _apply(outer, (a + e, b + f))
    xc, yc = _apply(outer, (c + e, d + f))
    return (xa - x0, ya - y0, xc - x0, yc - y0, x0, y0)


class PathPen:
    """A fontTools pen writing PDF path operators; quadratic (TrueType) segments become cubic ones."""

    def __init__(self, matrix: Matrix, glyphs: Any = None, out: list[str] | None = None) -> None:
        self.matrix = matrix
        self.glyphs = glyphs
        self.out: list[str] = [] if out is None else out
        self._current: Point = (0.0, 0.0)

    def text(self) -> str:
        return "".join(self.out)

    def _emit(self, points: Sequence[Point], operator: str) -> None:
        coordinates = (number(v) for p in points for v in _apply(self.matrix, p))
        self.out.append(" ".join((*coordinates, operator)) + "\n")

    def moveTo(self, point: Point) -> None:  # the fontTools pen protocol names
        self._emit([point], "m")
        self._current = point

    def lineTo(self, point: Point) -> None:
        self._emit([point], "l")
        self._current = point

    def curveTo(self, *points: Point) -> None:
        if len(points) != 3:
            raise ValueError("only plain cubic segments are supported")
        self._emit(points, "c")
        self._current = points[-1]

    def qCurveTo(self, *points: Point | None) -> None:
        offs = [p for p in points if p is not None]
        if points[-1] is None:  # a closed contour of off-curve points only: start between the last and first
            end = _mid(offs[-1], offs[0])
            self.moveTo(end)
        else:
            end = offs.pop()
        for i, control in enumerate(offs):
            target = end if i == len(offs) - 1 else _mid(control, offs[i + 1])
            self._quadratic(control, target)
        if not offs:
            self.lineTo(end)

    def _quadratic(self, control: Point, target: Point) -> None:
        (x0, y0), (qx, qy), (x1, y1) = self._current, control, target
        first = (x0 + 2 / 3 * (qx - x0), y0 + 2 / 3 * (qy - y0))
        second = (x1 + 2 / 3 * (qx - x1), y1 + 2 / 3 * (qy - y1))
        self.curveTo(first, second, target)

    def closePath(self) -> None:
        self.out.append("h\n")

    def endPath(self) -> None:
        """An open contour: nothing to close; filling closes it anyway."""

    def addComponent(self, glyph_name: str, transformation: Sequence[float]) -> None:
        if self.glyphs is None:
            raise ValueError(f"component {glyph_name} without a glyph set")
        self.glyphs[glyph_name].draw(PathPen(_compose(self.matrix, transformation), self.glyphs, self.out))


def _mid(p: Point, q: Point) -> Point:
    return (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
