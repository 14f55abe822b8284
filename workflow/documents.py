"""Documents: checking uploaded PDFs before anyone approves them, and rendering documents from templates to PDF.

Uploads are read with pikepdf because qpdf parses what other libraries refuse and says whenever it had to repair
something. Here it may not rebuild a broken cross-reference table, and any warning it gives is damage: what gets
sealed must be exactly what the villager and the approvers saw, not one reader's repair of it. A seal vouches for
the pages, so the file must also be open to anyone (not encrypted), inert (no JavaScript, /Launch, /ImportData,
rich media or XFA forms, which carry scripts) and self-contained (no attachments). Links and /URI, /GoToR or
/SubmitForm actions are allowed: they act only when clicked, and do not change what the pages show.

Rendering is Jinja2 (autoescaped; an undefined variable is an error) to HTML, then WeasyPrint to PDF with subsets
of the CJK fonts embedded, so the text stays text and reads the same on any machine.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pikepdf import Array, Dictionary, Name, Object, PasswordError, Pdf, PikepdfError, Stream, String, settings

from sealgate.errors import Invalid

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
MAX_OBJECTS = 200_000  # dictionaries, arrays and streams visited while looking for active content
MAX_ENTRIES = 1_000_000  # dictionary entries and array items read on the way
MAX_CONTAINER = 1_000_000  # items qpdf reads into one dictionary or array
_HEADER = b"%PDF-"

# qpdf decompresses object and cross-reference streams with no memory bound of its own: a 1 MB upload can ask
# for gigabytes. These bounds hold for every qpdf use in the process, and this module is qpdf's only user.
settings.set_qpdf_limits(flate_max_memory=256 * 2**20, parser_max_container_size=MAX_CONTAINER)
_DESCRIPTION = "upload"  # what qpdf calls the file in its messages: never a path on this server

# The keys and action types that make a PDF active or not self-contained, with the reason given for each.
_JAVASCRIPT = "the PDF contains JavaScript"
_KEYS = {
    "/JS": (_JAVASCRIPT, "/JS"),
    "/EmbeddedFiles": ("the PDF carries attachments", "/EmbeddedFiles"),
    "/EF": ("the PDF carries attachments", "an embedded file (/EF)"),
    "/XFA": ("the PDF contains an XFA form, which can run scripts", "/XFA"),
}
_ACTIONS = (  # by /S, compared as PDF names: a name may be indirect (so not hashable) or not valid UTF-8
    (Name.JavaScript, (_JAVASCRIPT, "/JavaScript action")),
    (Name.Launch, ("the PDF asks to launch a program", "/Launch action")),
    (Name.ImportData, ("the PDF asks to import data from a file", "/ImportData action")),
    (Name.RichMediaExecute, ("the PDF contains rich media", "/RichMediaExecute action")),
)
_CONTAINERS = Dictionary | Array | Stream
_RICH_MEDIA = (Name.RichMedia, ("the PDF contains rich media", "a /RichMedia annotation"))  # by /Subtype
_ATTACHMENTS_NOTE = "; a document to be sealed must not carry attachments"

# Where an object was found, relative to where the walk started: (parent trail, key or index), None at the start.
_Trail: TypeAlias = "tuple[_Trail, str | int] | None"


class DocumentRefused(Invalid):
    """An upload that cannot be sealed; ``detail`` says exactly why, in terms a PDF tool would show."""

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
    html = _environment(templates).get_template(template).render(context)
    return _html_to_pdf(html, base_url=str(templates))


@functools.cache
def _environment(templates: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )


def _html_to_pdf(html: str, *, base_url: str) -> bytes:
    """The one call into WeasyPrint, which ships no type information."""
    import weasyprint  # slow to import; only rendering needs it

    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"file", "data"})
    return cast(bytes, weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf())


class _Upload(io.BytesIO):
    def __repr__(self) -> str:
        return _DESCRIPTION


class _UploadFile(io.BufferedReader):
    def __repr__(self) -> str:
        return _DESCRIPTION


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise DocumentRefused("the file is empty")
    if size > max_bytes:
        raise DocumentRefused(f"the PDF is larger than {_size(max_bytes)}")


def _size(size: int) -> str:
    return f"{size // 2**20} MB" if size % 2**20 == 0 else f"{size} bytes"


def _check_header(head: bytes) -> None:
    if head != _HEADER:
        raise DocumentRefused("not a PDF: the file does not start with %PDF-")


def _check(source: io.BytesIO | io.BufferedReader, *, size: int, sha256: str) -> CheckedPdf:
    try:
        with Pdf.open(source, attempt_recovery=False, inherit_page_attributes=False, conversion_mode="implicit") as pdf:
            if pdf.is_encrypted:
                raise DocumentRefused("the PDF is encrypted")
            _refuse_warnings(pdf)
            _bound_page_tree(pdf)
            pages = len(pdf.pages)
            if pages == 0:
                raise DocumentRefused("the PDF has no pages")
            _refuse_active_content(pdf)
            _refuse_warnings(pdf)
            return CheckedPdf(pages=pages, sha256=sha256, size=size, title=_title(pdf))
    except PasswordError as error:
        raise DocumentRefused("the PDF is encrypted (it needs a password to open)") from error
    except PikepdfError as error:
        raise DocumentRefused(f"the PDF is damaged: {_qpdf_message(str(error))}") from error


def _refuse_warnings(pdf: Pdf) -> None:
    """qpdf warns where it repaired or skipped something; for a document to be sealed, that is damage."""
    warnings = [str(warning) for warning in pdf.get_warnings()]
    if warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise DocumentRefused(f"the PDF is damaged: {_qpdf_message(warnings[0])}{more}")


def _qpdf_message(message: str) -> str:
    """``stream upload (object 4 0, offset 268): unexpected EOF`` -> ``unexpected EOF (object 4 0, offset 268)``.

    qpdf names the file ("stream upload") and then the place, in one of several forms; keep the place, drop the name.
    """
    found = re.fullmatch(rf"stream {_DESCRIPTION}(?P<where>.*?): (?P<what>.*)", message, re.DOTALL)
    if found is None:
        return message
    where = found["where"].strip(" ,()")
    return f"{found['what']} ({where})" if where else found["what"]


def _bound_page_tree(pdf: Pdf) -> None:
    """Refuse a page tree with more than ``MAX_OBJECTS`` kids before qpdf flattens it.

    qpdf lists the pages in C++ and cannot be interrupted; a crafted /Kids array that names one page a million
    times makes it copy that page a million times. Counting the kids first keeps that work bounded.
    """
    stack = [pdf.Root.get(Name.Pages)]
    seen: set[tuple[int, int]] = set()
    kids_total = 0
    while stack:
        node = stack.pop()
        if not isinstance(node, Dictionary) or not isinstance(kids := node.get(Name.Kids), Array):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        kids_total += len(kids)
        if kids_total > MAX_OBJECTS:
            raise DocumentRefused(f"the PDF's page tree has more than {MAX_OBJECTS:,} entries, too many to check")
        stack.extend(kids)


def _title(pdf: Pdf) -> str | None:
    info = pdf.trailer.get(Name.Info)
    title = info.get(Name.Title) if isinstance(info, Dictionary) else None
    return (str(title).strip() or None) if isinstance(title, String) else None


def _refuse_active_content(pdf: Pdf) -> None:
    """Walk every object reachable from the trailer once, refusing the first active or attached content found.

    The places viewers act on are walked first, so a refusal names them ("on page 2"); the rest of the document
    is walked after, so content no viewer should act on is refused too rather than trusted to stay unreachable.
    """
    root = pdf.Root
    if isinstance(xfa := root.get(Name.AcroForm), Dictionary) and Name.XFA in xfa:
        raise DocumentRefused("the PDF contains an XFA form, which can run scripts (/XFA in /AcroForm)")
    if isinstance(names := root.get(Name.Names), Dictionary) and Name.EmbeddedFiles in names:
        raise DocumentRefused(f"the PDF carries attachments (/Names/EmbeddedFiles){_ATTACHMENTS_NOTE}")
    walk = _Walk({page.obj.objgen for page in pdf.pages})
    if isinstance(names, Dictionary) and (scripts := names.get(Name.JavaScript)) is not None:
        walk.run(scripts, "in /Names/JavaScript")
    for key, where in ((Name.OpenAction, "in /OpenAction"), (Name.AA, "in the catalog's /AA")):
        if (action := root.get(key)) is not None:
            walk.run(action, where)
    for number, page in enumerate(pdf.pages, start=1):
        walk.run(page.obj, f"on page {number}")
    for key, where in ((Name.Outlines, "in the outline"), (Name.AcroForm, "in /AcroForm")):
        if (tree := root.get(key)) is not None:
            walk.run(tree, where)
    walk.run(pdf.trailer, "in the trailer", everything=True)


class _Walk:
    """A bounded walk of the object graph: each indirect object once, at most ``MAX_OBJECTS`` containers.

    A walk started at a page or a tree keeps to it: other pages and /Parent links are left for a later walk
    (so what is on page 3 is not reported as on page 1); the last walk, with ``everything``, follows them all.
    """

    def __init__(self, pages: set[tuple[int, int]]) -> None:
        self.pages = pages
        self.seen: set[tuple[int, int]] = set()
        self.deferred: list[tuple[Object, str, _Trail]] = []
        self.objects = 0
        self.entries = 0

    def run(self, start: Object, where: str, *, everything: bool = False) -> None:
        stack: list[tuple[Object, str, _Trail]] = [*self.deferred] if everything else []
        if isinstance(start, _CONTAINERS):
            stack.append((start, where, None))
        while stack:
            obj, label, trail = stack.pop()
            if obj.is_indirect:
                objgen = obj.objgen
                if objgen in self.seen or (not everything and trail is not None and objgen in self.pages):
                    continue  # seen, or a page reached from elsewhere, walked from its own start
                self.seen.add(objgen)
            self.objects += 1
            if self.objects > MAX_OBJECTS:
                raise DocumentRefused(f"the PDF has more than {MAX_OBJECTS:,} objects, too many to check")
            children: Iterable[tuple[str | int, Object]]
            if isinstance(obj, Array):
                self._count(len(obj))
                children = enumerate(obj)
            else:
                entries = obj.stream_dict if isinstance(obj, Stream) else obj
                keys = entries.keys()  # not .items(), which fails on a key that is not UTF-8
                self._count(len(keys))
                _inspect(entries, keys, label, trail)
                children = [(key, entries[key]) for key in sorted(keys)]
            # Numbers arrive as int, and are skipped before the slower test; the rest is walked in order.
            found = [
                (key, child) for key, child in children if isinstance(child, Object) and isinstance(child, _CONTAINERS)
            ]
            for key, child in reversed(found):
                entry = (child, label, (trail, key))
                (self.deferred if key == "/Parent" and not everything else stack).append(entry)

    def _count(self, entries: int) -> None:
        """Counted before they are read, so one huge array is refused without reading it."""
        self.entries += entries
        if self.entries > MAX_ENTRIES:
            raise DocumentRefused(f"the PDF has more than {MAX_ENTRIES:,} entries, too many to check")


def _inspect(entries: Object, keys: set[str], where: str, trail: _Trail) -> None:
    found = None if _KEYS.keys().isdisjoint(keys) else _KEYS[min(_KEYS.keys() & keys)]
    if found is None and "/S" in keys:
        action = entries[Name.S]
        found = next((refusal for name, refusal in _ACTIONS if action == name), None)
    if found is None and "/Subtype" in keys and entries[Name.Subtype] == _RICH_MEDIA[0]:
        found = _RICH_MEDIA[1]
    if found is not None:
        reason, what = found
        note = _ATTACHMENTS_NOTE if reason == "the PDF carries attachments" else ""
        raise DocumentRefused(f"{reason} ({what} {where}{_render(trail)}){note}")


def _render(trail: _Trail) -> str:
    keys: list[str] = []
    while trail is not None:
        trail, key = trail
        keys.append(key if isinstance(key, str) else f"/{key}")
    return f", at {''.join(reversed(keys))}" if keys else ""
