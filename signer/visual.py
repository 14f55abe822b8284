"""What a seal's revision showed, against what the final file shows.

Shadow attacks hide or replace content without changing a signed byte (the new content waits in the signed
revision, or arrives as an object an update merely points to), and a whole other document can be appended after
a signed one. Comparing renderings catches what difference analysis lets through: each page of the signed
revision and of the final file is rendered with PDFium at low resolution and compared, after masking the
widgets of later signatures and timestamps. Annotations added after the seal may not overlap the ones it covered.
Pages are not rendered where the revisions after the seal cannot change what they draw (a DSS, a document
timestamp's invisible field: ``modification_policy.draws_as_signed``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Set
from contextlib import contextmanager

import pikepdf
import pypdfium2 as pdfium  # type: ignore[import-untyped]
from PIL import Image, ImageChops, ImageDraw

from core.pdfium_lock import PDFIUM

SCALE = 0.4  # 29 dpi: enough to see text appear or vanish, cheap to render
MAX_PAGES = 100  # pages compared per signature
CHANGED_PIXELS = 0.002  # share of a page's pixels that may differ (antialiasing)

Rect = tuple[float, float, float, float]


def differences(signed: bytes, final: bytes, allowed_fields: Set[str], *, drawn_alike: bool = False) -> list[str]:
    """What the final file shows that the signed revision did not, in words; empty when nothing.

    ``drawn_alike``: the caller has shown, from what the later revisions contain
    (``modification_policy.draws_as_signed``), that every page draws as signed; the pages are then not rendered,
    unless qpdf warned reading either file (a damaged cross-reference table it had to rebuild, an object not
    where the table says), since a reader that repairs a file, PDFium too, may read other objects than the ones
    that showing rests on. Everything else is checked all the same. qpdf reads each file once for these checks."""
    try:
        with PDFIUM, _opened(signed) as before, _opened(final) as after:
            found = _page_count(before, after)
            if found:
                return found
            with pikepdf.open(io.BytesIO(final)) as now, pikepdf.open(io.BytesIO(signed)) as then:
                masks = _widgets(now, allowed_fields)
                found += _overlaps(then, now)
                found += _rewritten_appearances(then, now)
                if drawn_alike and not then.get_warnings() and not now.get_warnings():
                    return found
            for index in range(min(len(before), MAX_PAGES)):
                if _page_differs(before[index], after[index], masks.get(index, [])):
                    found.append(f"page {index + 1} looks different from what was signed")
            return found
    except (pdfium.PdfiumError, pikepdf.PdfError, ValueError) as exc:
        return [f"the signed revision and the final file cannot be compared: {exc}"]


@contextmanager
def _opened(data: bytes) -> Iterator[pdfium.PdfDocument]:
    document = pdfium.PdfDocument(data)
    document.init_forms()  # without a form environment PDFium leaves form fields' widgets undrawn
    try:
        yield document
    finally:
        document.close()


def _page_count(before: pdfium.PdfDocument, after: pdfium.PdfDocument) -> list[str]:
    if len(before) == len(after):
        return []
    return [f"pages were added or removed after this signature: {len(before)} then, {len(after)} now"]


def _render(page: pdfium.PdfPage) -> Image.Image:
    bitmap = page.render(scale=SCALE, may_draw_forms=True, draw_annots=True, grayscale=True)
    try:
        image: Image.Image = bitmap.to_pil().convert("L")  # a copy: the bitmap's memory goes with it
    finally:
        bitmap.close()
    return image


def _page_differs(before: pdfium.PdfPage, after: pdfium.PdfPage, masks: list[Rect]) -> bool:
    old, new = _render(before), _render(after)
    if old.size != new.size:
        return True
    diff = ImageChops.difference(old, new).point(lambda v: 255 if v > 64 else 0)
    if masks:
        draw = ImageDraw.Draw(diff)
        height = new.size[1]
        for x0, y0, x1, y1 in masks:
            box = (x0 * SCALE - 2, height - y1 * SCALE - 2, x1 * SCALE + 2, height - y0 * SCALE + 2)
            draw.rectangle(box, fill=0)
    changed = diff.histogram()[255]
    return changed > CHANGED_PIXELS * new.size[0] * new.size[1]


def _widgets(final: pikepdf.Pdf, allowed_fields: Set[str]) -> dict[int, list[Rect]]:
    """Per page, the rectangles of the widgets of later signatures and timestamps: those may appear."""
    masks: dict[int, list[Rect]] = {}
    for index, page in enumerate(final.pages[:MAX_PAGES]):
        for annot in page.obj.get(pikepdf.Name.Annots, pikepdf.Array()):
            if isinstance(annot, pikepdf.Dictionary) and _field_name(annot) in allowed_fields:
                masks.setdefault(index, []).append(_rect(annot))
    return masks


def _overlaps(before: pikepdf.Pdf, after: pikepdf.Pdf) -> list[str]:
    """Annotations added after the signature whose rectangle overlaps one the signed revision had."""
    found = []
    for index in range(min(len(before.pages), len(after.pages), MAX_PAGES)):
        old = {a.objgen: _rect(a) for a in _annotations(before.pages[index])}
        for annot in _annotations(after.pages[index]):
            if annot.objgen in old:
                continue
            rect = _rect(annot)
            if any(_intersect(rect, other) for other in old.values()):
                found.append(f"an annotation added after this signature covers another on page {index + 1}")
                break
    return found


def _rewritten_appearances(before: pikepdf.Pdf, after: pikepdf.Pdf) -> list[str]:
    """Appearance streams of fields the signed revision had, rewritten in place afterwards: filling a field may
    add a new appearance, but one that was signed must still look as it did."""
    found = []
    for name, stream in _appearances(before).items():
        try:
            now = after.get_object(stream.objgen)
        except (pikepdf.PdfError, ValueError):
            continue
        if isinstance(now, pikepdf.Stream) and now.read_raw_bytes() != stream.read_raw_bytes():
            found.append(f"the appearance of field {name}, as signed, was rewritten after this signature")
    return found


def _appearances(pdf: pikepdf.Pdf) -> dict[str, pikepdf.Stream]:
    form = pdf.Root.get(pikepdf.Name.AcroForm)
    fields = form.get(pikepdf.Name.Fields) if isinstance(form, pikepdf.Dictionary) else None
    found = {}
    for field in fields if isinstance(fields, pikepdf.Array) else []:
        if not isinstance(field, pikepdf.Dictionary):
            continue
        ap = field.get(pikepdf.Name.AP)
        normal = ap.get(pikepdf.Name.N) if isinstance(ap, pikepdf.Dictionary) else None
        if isinstance(normal, pikepdf.Stream) and normal.is_indirect:
            found[str(field.get(pikepdf.Name.T, ""))] = normal
    return found


def overlapping(data: bytes) -> list[str]:
    """Annotations of one page whose rectangles overlap: one can hide what another shows. A file qpdf cannot
    read (pyHanko could) is reported as one that cannot be checked, which keeps it from passing."""
    found = []
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            for index, page in enumerate(pdf.pages[:MAX_PAGES]):
                rects = [_rect(a) for a in _annotations(page)]
                if any(_intersect(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :]):
                    found.append(f"the document has overlapping annotations on page {index + 1}")
    except pikepdf.PdfError as error:
        reason = re.sub(r"^stream <[^>]*>:\s*", "", str(error))
        found.append(f"the PDF cannot be checked for overlapping annotations: {reason}")
    return found


def _annotations(page: pikepdf.Page) -> list[pikepdf.Dictionary]:
    """The page's annotations that draw something: a widget without an appearance stream draws nothing."""
    annots = page.obj.get(pikepdf.Name.Annots)
    if not isinstance(annots, pikepdf.Array):
        return []
    return [a for a in annots if isinstance(a, pikepdf.Dictionary) and pikepdf.Name.Rect in a and _draws(a)]


def _draws(annot: pikepdf.Dictionary) -> bool:
    appearance = annot.get(pikepdf.Name.AP)
    return annot.get(pikepdf.Name.Subtype) != pikepdf.Name.Widget or isinstance(appearance, pikepdf.Dictionary)


def _field_name(annot: pikepdf.Dictionary) -> str | None:
    node: object = annot
    for _ in range(16):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if pikepdf.Name.T in node:
            return str(node.T)
        node = node.get(pikepdf.Name.Parent)
    return None


def _rect(annot: pikepdf.Dictionary) -> Rect:
    x0, y0, x1, y1 = (float(v) for v in annot.get(pikepdf.Name.Rect, [0, 0, 0, 0]))
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _intersect(a: Rect, b: Rect) -> bool:
    if a[2] - a[0] <= 0 or a[3] - a[1] <= 0 or b[2] - b[0] <= 0 or b[3] - b[1] <= 0:
        return False
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
