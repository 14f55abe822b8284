"""Where a seal goes: over the text a document prints for it (such as "（盖章）"), found in the PDF's text layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from core.pdfium_lock import PDFIUM


@dataclass(frozen=True)
class Anchor:
    """An occurrence of the anchor text: its page (0-based) and bounding box in PDF user space."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Located:
    """Where ``text`` is in a document, known from how the document was made rather than by searching it: the
    first occurrence that ``find_anchor`` would find, or None where the document does not have the text."""

    text: str
    found: Anchor | None


def find_anchor(pdf: str | Path | bytes, text: str, *, pages: Sequence[int] | None = None) -> Anchor | None:
    """The first occurrence of ``text``, searching ``pages`` (0-based, negative from the end) or all pages in
    order; None when the text is not there. PDFium reads the file itself, once."""
    if not text:
        raise ValueError("an empty anchor text matches nothing")
    with PDFIUM:
        document = pdfium.PdfDocument(str(pdf) if isinstance(pdf, Path) else pdf)
        try:
            count = len(document)
            order = range(count) if pages is None else [p % count for p in pages if -count <= p < count]
            for index in order:
                box = _search_page(document, index, text)
                if box is not None:
                    return Anchor(index, *box)
            return None
        finally:
            document.close()


def _search_page(document: Any, index: int, text: str) -> tuple[float, float, float, float] | None:
    page = document[index]
    textpage = page.get_textpage()
    try:
        searcher = textpage.search(text, match_case=True)
        try:
            found = searcher.get_next()
        finally:
            searcher.close()
        if found is None:
            return None
        start, length = found
        boxes = [textpage.get_charbox(i) for i in range(start, start + length)]
    finally:
        textpage.close()
        page.close()
    return (
        float(min(b[0] for b in boxes)),
        float(min(b[1] for b in boxes)),
        float(max(b[2] for b in boxes)),
        float(max(b[3] for b in boxes)),
    )


def seal_box(anchor: Anchor, size: float) -> tuple[int, float, float]:
    """The page and lower-left corner of a ``size`` seal centred over the anchor, as a seal is stamped over the
    words that ask for it."""
    x = (anchor.x0 + anchor.x1 - size) / 2
    y = (anchor.y0 + anchor.y1 - size) / 2
    return anchor.page, x, y
