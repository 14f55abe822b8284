"""A request's document as pictures, page by page: phone browsers show no PDF inside a page, so approvers and
applicants see these instead, with the PDF a tap away.

Rendered with PDFium, as the verifier renders revisions to compare them, at a width fit for a phone screen. A
document is named by its SHA-256 and never changes, so each picture is made once and kept (a few in memory).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from core.blobs import BlobStore
from core.errors import NotFound
from core.pdfium_lock import PDFIUM

MAX_PAGES = 30  # pages shown as pictures; a longer document is opened as the PDF
WIDTH = 900  # pixels: sharp on a phone's screen, light enough over a village's mobile network
MAX_HEIGHT = 3 * WIDTH  # pixels: a page drawn absurdly tall or narrow is drawn smaller, never as a huge bitmap


def page_count(blobs: BlobStore, sha256: str) -> int:
    """How many pages are shown as pictures (at most MAX_PAGES)."""
    return min(_pages(blobs.path(sha256)), MAX_PAGES)


def page_png(blobs: BlobStore, sha256: str, number: int) -> bytes:
    """Page ``number`` (from 1) as a PNG."""
    if not 1 <= number <= page_count(blobs, sha256):
        raise NotFound(f"no page {number} to show")
    return _picture(blobs.path(sha256), number)


@functools.lru_cache(maxsize=256)
def _pages(path: Path) -> int:  # a blob's path names its content: the cache never goes stale
    with PDFIUM:
        document = pdfium.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()


@functools.lru_cache(maxsize=64)
def _picture(path: Path, number: int) -> bytes:
    with PDFIUM:
        document = pdfium.PdfDocument(path)
        try:
            page = document[number - 1]
            width, height = page.get_size()
            scale = min(WIDTH / width, MAX_HEIGHT / height)
            image = page.render(scale=scale, may_draw_forms=True, draw_annots=True).to_pil().convert("RGB")
        finally:
            document.close()  # closes the page and the bitmap too; the RGB image is a copy
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
