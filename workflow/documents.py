"""Documents: checking uploaded PDFs before anyone approves them, and rendering documents from templates to PDF.

Uploads are read with pikepdf because qpdf parses what other libraries refuse and says whenever it had to repair
something. Here it may not rebuild a broken cross-reference table, and any warning it gives is damage: what gets
sealed must be exactly what the villager and the approvers saw, not one reader's repair of it. A seal vouches for
the pages, so the file must also be open to anyone (not encrypted), inert (no JavaScript, /Launch, /ImportData,
/SubmitForm, /GoToR or /GoToE actions, ``javascript:`` links, rich media or XFA forms), self-contained (no
attachments), and must print what it shows (no optional content or annotations that depend on screen or paper,
nothing only printers use): ``signer.active_content`` finds all of these, for the verifier too. Links to web
addresses and within the document are allowed: they act only when clicked, and do not change what the pages show.

Rendering is Jinja2 (autoescaped; an undefined variable is an error) to HTML, then WeasyPrint to PDF with subsets
of the CJK fonts embedded, so the text stays text and reads the same on any machine. WeasyPrint lays out each shape
of a template once; ``workflow.layout`` fills later requests of that shape into its layout, and hands anything it
cannot place exactly as WeasyPrint would back to WeasyPrint.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pikepdf import Dictionary, Name, PasswordError, Pdf, PikepdfError, String, settings

from core.errors import Invalid
from signer import active_content
from signer.placement import Anchor, Located
from workflow import layout

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
MAX_CONTAINER = 1_000_000  # items qpdf reads into one dictionary or array
_HEADER = b"%PDF-"

# qpdf decompresses object and cross-reference streams with no memory bound of its own: a 1 MB upload can ask
# for gigabytes. These bounds hold for every qpdf use in the process, and this module is qpdf's only user.
settings.set_qpdf_limits(flate_max_memory=256 * 2**20, parser_max_container_size=MAX_CONTAINER)
_DESCRIPTION = "upload"  # what qpdf calls the file in its messages: never a path on this server

_ATTACHMENTS_NOTE = "; a document to be sealed must not carry attachments"


class DocumentRefused(Invalid):
    """An upload that cannot be sealed; ``detail`` says exactly why, in terms a PDF tool would show, and the
    ``kind`` extension which check refused it (empty, too-large with its ``limit``, not-pdf, encrypted, no-pages,
    damaged, too-complex, active-content), for a page to say it in its reader's language."""

    problem = "document-refused"


@dataclass(frozen=True)
class CheckedPdf:
    pages: int
    sha256: str
    size: int
    title: str | None


def check_upload(data: bytes, *, max_bytes: int) -> CheckedPdf:
    """Check an uploaded PDF, or raise ``DocumentRefused`` saying why it cannot be sealed.

    The header must be at offset 0: viewers tolerate leading junk, but a sealed file must not carry bytes that
    some readers show and others skip. Refused: empty or over ``max_bytes`` (before parsing), not a PDF,
    damaged (qpdf raised an error or had to warn), encrypted (with any password, even an empty one), no pages,
    active or attached content (see the module docstring), and files too complex to check in bounded time.
    """
    _check_size(len(data), max_bytes)
    _check_header(data[: len(_HEADER)])
    return _check(_Upload(data), size=len(data), sha256=hashlib.sha256(data).hexdigest())


def check_upload_file(path: Path, *, max_bytes: int) -> CheckedPdf:
    """``check_upload`` for a file on disk, hashed and parsed from one open handle without reading it into memory."""
    with _UploadFile(io.FileIO(path, "r")) as file:
        size = os.fstat(file.fileno()).st_size
        _check_size(size, max_bytes)
        _check_header(file.read(len(_HEADER)))
        file.seek(0)
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        file.seek(0)
        return _check(file, size=size, sha256=sha256)


def render(template: str, context: Mapping[str, Any], *, templates: Path = TEMPLATES) -> bytes:
    """Render ``template`` (a file under ``templates``) with ``context`` to PDF bytes.

    Fonts come from fontconfig by the names the template's CSS asks for ("Noto Serif CJK SC" and so on); WeasyPrint
    embeds a subset of each. Only file: and data: URLs are fetched, so a template never makes a network request.
    """
    return render_with_anchor(template, context, None, templates=templates)[0]


def render_with_anchor(
    template: str, context: Mapping[str, Any], anchor: str | None, *, templates: Path = TEMPLATES
) -> tuple[bytes, Located | None]:
    """``render``, and where the document has the ``anchor`` text the seal is stamped over, as the layout knows it
    (``layout.render_with_anchor``); None when no anchor is asked for."""
    source = html(template, context, templates=templates)
    return layout.render_with_anchor(source, str(templates), reference_layout, anchor)


def located_record(document_sha256: str, located: Located | None) -> dict[str, object] | None:
    """What a request keeps of where its rendered document has the anchor, tied to that document."""
    if located is None:
        return None
    found = located.found
    place = None if found is None else [found.page, found.x0, found.y0, found.x1, found.y1]
    return {"document": document_sha256, "text": located.text, "found": place}


def located_of(record: Mapping[str, Any] | None, document_sha256: str) -> Located | None:
    """``located_record`` read back, for the document it was made for only; None otherwise (searched then)."""
    if record is None or record.get("document") != document_sha256 or not isinstance(record.get("text"), str):
        return None
    place = record.get("found")
    if place is None:
        return Located(record["text"], None)
    try:
        page, x0, y0, x1, y1 = place
        return Located(record["text"], Anchor(int(page), float(x0), float(y0), float(x1), float(y1)))
    except (TypeError, ValueError):  # not as located_record writes it: searched for instead
        return None


def render_reference(template: str, context: Mapping[str, Any], *, templates: Path = TEMPLATES) -> bytes:
    """``render`` by WeasyPrint alone: what every rendering must look like, and read like."""
    return reference_layout(html(template, context, templates=templates), str(templates))[0]


def html(template: str, context: Mapping[str, Any], *, templates: Path = TEMPLATES) -> str:
    """The HTML ``render`` lays out."""
    return _environment(templates).get_template(template).render(context)


@functools.cache
def _environment(templates: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )


def reference_layout(source: str, base_url: str) -> tuple[bytes, Any]:
    """The one call into WeasyPrint, which ships no type information: the PDF, and the laid-out document."""
    import weasyprint  # slow to import; only rendering needs it

    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"file", "data"})
    document = weasyprint.HTML(string=source, base_url=base_url, url_fetcher=fetcher).render()
    return cast(bytes, document.write_pdf()), document


class _Upload(io.BytesIO):
    def __repr__(self) -> str:
        return _DESCRIPTION


class _UploadFile(io.BufferedReader):
    def __repr__(self) -> str:
        return _DESCRIPTION


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise DocumentRefused("the file is empty", kind="empty")
    if size > max_bytes:
        raise DocumentRefused(
            f"the PDF is larger than {size_text(max_bytes)}", kind="too-large", limit=size_text(max_bytes)
        )


def size_text(size: int) -> str:
    """A size limit as people read it: whole megabytes, else bytes."""
    return f"{size // 2**20} MB" if size % 2**20 == 0 else f"{size} bytes"


def _check_header(head: bytes) -> None:
    if head != _HEADER:
        raise DocumentRefused("not a PDF: the file does not start with %PDF-", kind="not-pdf")


def _check(source: io.BytesIO | io.BufferedReader, *, size: int, sha256: str) -> CheckedPdf:
    try:
        with Pdf.open(source, attempt_recovery=False, inherit_page_attributes=False, conversion_mode="implicit") as pdf:
            if pdf.is_encrypted:
                raise DocumentRefused("the PDF is encrypted", kind="encrypted")
            _refuse_warnings(pdf)
            pages = _pages(pdf)
            if pages == 0:
                raise DocumentRefused("the PDF has no pages", kind="no-pages")
            _refuse_active_content(pdf)
            _refuse_warnings(pdf)
            return CheckedPdf(pages=pages, sha256=sha256, size=size, title=_title(pdf))
    except PasswordError as error:
        raise DocumentRefused("the PDF is encrypted (it needs a password to open)", kind="encrypted") from error
    except PikepdfError as error:
        raise DocumentRefused(f"the PDF is damaged: {_qpdf_message(str(error))}", kind="damaged") from error


def _refuse_warnings(pdf: Pdf) -> None:
    """qpdf warns where it repaired or skipped something; for a document to be sealed, that is damage."""
    warnings = [str(warning) for warning in pdf.get_warnings()]
    if warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise DocumentRefused(f"the PDF is damaged: {_qpdf_message(warnings[0])}{more}", kind="damaged")


def _qpdf_message(message: str) -> str:
    """``stream upload (object 4 0, offset 268): unexpected EOF`` -> ``unexpected EOF (object 4 0, offset 268)``.

    qpdf names the file ("stream upload") and then the place, in one of several forms; keep the place, drop the name.
    """
    found = re.fullmatch(rf"stream {_DESCRIPTION}(?P<where>.*?): (?P<what>.*)", message, re.DOTALL)
    if found is None:
        return message
    where = found["where"].strip(" ,()")
    return f"{found['what']} ({where})" if where else found["what"]


def _title(pdf: Pdf) -> str | None:
    info = pdf.trailer.get(Name.Info)
    title = info.get(Name.Title) if isinstance(info, Dictionary) else None
    return (str(title).strip() or None) if isinstance(title, String) else None


def _pages(pdf: Pdf) -> int:
    try:
        active_content.bound_page_tree(pdf)
    except active_content.TooComplex as error:
        raise DocumentRefused(str(error), kind="too-complex") from None
    return len(pdf.pages)


def _refuse_active_content(pdf: Pdf) -> None:
    """Refuse the first content that acts, leaves the document or prints other than it shows."""
    try:
        found = next(active_content.findings(pdf), None)
    except active_content.TooComplex as error:
        raise DocumentRefused(str(error), kind="too-complex") from None
    if found is not None:
        note = _ATTACHMENTS_NOTE if found.reason == active_content.ATTACHMENTS else ""
        raise DocumentRefused(f"{found}{note}", kind="active-content")
