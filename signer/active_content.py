"""What in a PDF acts by itself, leaves the document, or shows on screen other than it prints.

A seal vouches for the pages as the approvers saw them. Intake (``workflow.documents``) refuses an upload at the
first finding; the verifier reports each kind it finds in a sealed file. One walk of the object graph serves both,
so what is refused before sealing is what is reported after. Found anywhere in the file, not only where a viewer
looks:

- scripts, and what reaches outside the document: JavaScript (/JS, JavaScript actions, ``javascript:`` links and
  base URIs), /Launch, /ImportData, /SubmitForm, /GoToR and /GoToE actions, rich media, XFA forms, attachments.
  Links to web addresses and within the document stay allowed: they act only when clicked and change no page;
- actions that change what the pages show (/Hide, /SetOCGState, /ResetForm): what shows would depend on what ran;
- optional content whose state depends on use: an optional content group's /Usage with a /PrintState, /ViewState
  or /Zoom range, and any /AS auto-state. Viewers disagree on when these apply (PDFium applies usage states with
  no /AS at all), so none is evaluated. Groups whose states are plain ON or OFF show and print alike, and pass;
- annotations shown on screen but not printed, printed but not shown (/F: NoView, Print, Hidden), or shown under
  the mouse only (ToggleNoView). One with no area, a link without an appearance (it draws its border at most)
  and a closed pop-up draw nothing that could differ;
- what only printers use: image /Alternates, /OPI proxies, PostScript, transfer functions, halftones, black
  generation and undercolour removal, watermarks placed by paper size (/FixedPrint), and viewer preferences that
  print another area of the page or only some pages; and /NeedAppearances, which has every viewer draw the form
  fields its own way.

What acts is found as the walk meets it, and named first; how the pages show is named after the walk.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from pikepdf import Array, Dictionary, Name, Object, Pdf, PdfError, Stream, String

MAX_OBJECTS = 200_000  # dictionaries, arrays and streams visited
MAX_ENTRIES = 1_000_000  # dictionary entries and array items read on the way

JAVASCRIPT = "the PDF contains JavaScript"
ATTACHMENTS = "the PDF carries attachments"
_XFA = "the PDF contains an XFA form, which can run scripts"
_RICH_MEDIA = "the PDF contains rich media"
_OPENS = "the PDF opens another document"
_CHANGES = "the PDF changes what it shows when an action runs"
_OC_PRINT = "optional content prints differently than it shows"
_OC_ZOOM = "optional content shows only at some zoom levels"
_OC_EXPORT = "optional content changes when the PDF is exported"
_SHOWN_ONLY = "an annotation shows on screen and does not print"
_PRINTED_ONLY = "an annotation prints and does not show on screen"
_HIDDEN_PRINTED = "an annotation is both hidden and marked for printing"
_UNDER_MOUSE = "an annotation shows or hides under the mouse"
_PRINTING = "the PDF may print differently than it shows: it holds what only printers use"
_FIELDS = "the PDF's form fields look as each viewer draws them"

_ACTIONS = (  # by /S, compared as PDF names: a name may be indirect (so not hashable) or not valid UTF-8
    (Name.JavaScript, (JAVASCRIPT, "/JavaScript action")),
    (Name.Launch, ("the PDF asks to launch a program", "/Launch action")),
    (Name.ImportData, ("the PDF asks to import data from a file", "/ImportData action")),
    (Name.RichMediaExecute, (_RICH_MEDIA, "/RichMediaExecute action")),
    (Name.SubmitForm, ("the PDF submits form data to a server", "/SubmitForm action")),
    (Name.GoToR, (_OPENS, "/GoToR action")),
    (Name.GoToE, (_OPENS, "/GoToE action")),
    (Name.Hide, (_CHANGES, "/Hide action")),
    (Name.SetOCGState, (_CHANGES, "/SetOCGState action")),
    (Name.ResetForm, (_CHANGES, "/ResetForm action")),
)
_PRINTER_SETTINGS = ("/TR", "/TR2", "/HT", "/BG", "/BG2", "/UCR", "/UCR2")  # in a graphics state
_PAGE_AREAS = ("/ViewArea", "/ViewClip", "/PrintArea", "/PrintClip")  # in /ViewerPreferences
_HIDDEN, _PRINT, _NO_VIEW, _TOGGLE_NO_VIEW = 2, 4, 32, 256  # annotation flags (/F)
_CONTAINERS = Dictionary | Array | Stream

# Where an object was found, relative to where the walk started: (parent trail, key or index), None at the start.
_Trail: TypeAlias = "tuple[_Trail, str | int] | None"
_Found: TypeAlias = "tuple[str, str]"  # (reason, what was found)
_Rule: TypeAlias = "Callable[[Object, Set[str]], Iterator[_Found]]"


class TooComplex(ValueError):
    """The object graph is larger than the walk's bounds: it cannot be checked in bounded time."""


@dataclass(frozen=True)
class Finding:
    reason: str  # what it means for the document, e.g. "the PDF contains JavaScript"
    place: str  # what was found where, e.g. "/JS on page 2, at /Annots/0/A"

    def __str__(self) -> str:
        return f"{self.reason} ({self.place})"


def bound_page_tree(pdf: Pdf) -> None:
    """Raise ``TooComplex`` for a page tree with more than ``MAX_OBJECTS`` kids, before qpdf flattens it.

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
            raise TooComplex(f"the PDF's page tree has more than {MAX_OBJECTS:,} entries, too many to check")
        stack.extend(kids)


def findings(pdf: Pdf) -> Iterator[Finding]:
    """Every finding in ``pdf`` (opened with ``conversion_mode="implicit"``, its page tree bounded by
    ``bound_page_tree``), lazily: the first costs least.

    The places viewers act on are walked first, so a finding names them ("on page 2"); the rest of the file is
    walked after, so content no viewer should reach is found too rather than trusted to stay unreachable.
    Raises ``TooComplex`` past ``MAX_OBJECTS`` containers or ``MAX_ENTRIES`` entries.
    """
    root = pdf.Root
    if isinstance(form := root.get(Name.AcroForm), Dictionary) and Name.XFA in form:
        yield Finding(_XFA, "/XFA in /AcroForm")
    if isinstance(names := root.get(Name.Names), Dictionary) and Name.EmbeddedFiles in names:
        yield Finding(ATTACHMENTS, "/Names/EmbeddedFiles")
    walk = _Walk({page.obj.objgen for page in pdf.pages})
    if isinstance(names, Dictionary) and (scripts := names.get(Name.JavaScript)) is not None:
        yield from walk.run(scripts, "in /Names/JavaScript")
    for key, where in ((Name.OpenAction, "in /OpenAction"), (Name.AA, "in the catalog's /AA")):
        if (action := root.get(key)) is not None:
            yield from walk.run(action, where)
    for number, page in enumerate(pdf.pages, start=1):
        yield from walk.run(page.obj, f"on page {number}")
    for key, where in ((Name.Outlines, "in the outline"), (Name.AcroForm, "in /AcroForm")):
        if (tree := root.get(key)) is not None:
            yield from walk.run(tree, where)
    yield from walk.run(pdf.trailer, "in the trailer", everything=True)
    yield from walk.appearances


def warnings(data: bytes) -> list[str]:
    """The verifier's view of the PDF ``data``: each reason found, once, at the first place it was found."""
    first: dict[str, Finding] = {}
    try:
        with Pdf.open(io.BytesIO(data), inherit_page_attributes=False, conversion_mode="implicit") as pdf:
            bound_page_tree(pdf)
            for finding in findings(pdf):
                first.setdefault(finding.reason, finding)
    except (TooComplex, PdfError) as error:
        return [*map(str, first.values()), f"the PDF cannot be checked for active content: {error}"]
    return [str(finding) for finding in first.values()]


class _Walk:
    """A bounded walk of the object graph: each indirect object once, at most ``MAX_OBJECTS`` containers.

    A walk started at a page or a tree keeps to it: other pages and /Parent links are left for a later walk
    (so what is on page 3 is not reported as on page 1); the last walk, with ``everything``, follows them all.
    What acts is yielded as it is met; how the pages show is kept in ``appearances`` for after the walk.
    """

    def __init__(self, pages: set[tuple[int, int]]) -> None:
        self.pages = pages
        self.seen: set[tuple[int, int]] = set()
        self.deferred: list[tuple[Object, str, _Trail]] = []
        self.appearances: list[Finding] = []
        self.objects = 0
        self.entries = 0

    def run(self, start: Object, where: str, *, everything: bool = False) -> Iterator[Finding]:
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
                raise TooComplex(f"the PDF has more than {MAX_OBJECTS:,} objects, too many to check")
            children: Iterable[tuple[str | int, Object]]
            if isinstance(obj, Array):
                self._count(len(obj))
                children = enumerate(obj)
            else:
                entries = obj.stream_dict if isinstance(obj, Stream) else obj
                keys = entries.keys()  # not .items(), which fails on a key that is not UTF-8
                self._count(len(keys))
                if not _TRIGGERS.isdisjoint(keys):
                    yield from self._inspect(entries, keys, f"{label}{_render(trail)}")
                children = [(key, entries[key]) for key in sorted(keys)]
            # Numbers arrive as int, and are skipped before the slower test; the rest is walked in order.
            found = [
                (key, child) for key, child in children if isinstance(child, Object) and isinstance(child, _CONTAINERS)
            ]
            for key, child in reversed(found):
                entry = (child, label, (trail, key))
                (self.deferred if key == "/Parent" and not everything else stack).append(entry)

    def _inspect(self, entries: Object, keys: Set[str], where: str) -> Iterator[Finding]:
        for key, rule in _ACTING:
            if key in keys:
                for reason, what in rule(entries, keys):
                    yield Finding(reason, f"{what} {where}")
        for key, rule in _SHOWING:
            if key in keys:
                self.appearances.extend(Finding(reason, f"{what} {where}") for reason, what in rule(entries, keys))

    def _count(self, entries: int) -> None:
        """Counted before they are read, so one huge array is refused without reading it."""
        self.entries += entries
        if self.entries > MAX_ENTRIES:
            raise TooComplex(f"the PDF has more than {MAX_ENTRIES:,} entries, too many to check")


def _render(trail: _Trail) -> str:
    keys: list[str] = []
    while trail is not None:
        trail, key = trail
        keys.append(key if isinstance(key, str) else f"/{key}")
    return f", at {''.join(reversed(keys))}" if keys else ""


def _always(reason: str, what: str) -> _Rule:
    def rule(entries: Object, keys: Set[str]) -> Iterator[_Found]:
        yield reason, what

    return rule


def _action(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    if "/JS" in keys:
        return  # found as /JS already
    kind = entries[Name.S]
    yield from (found for name, found in _ACTIONS if kind == name)


def _rich_media(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    if entries[Name.Subtype] == Name.RichMedia:
        yield _RICH_MEDIA, "a /RichMedia annotation"


def _postscript(key: str) -> _Rule:
    """A PostScript XObject (/Subtype /PS), or a form XObject that is one (/Subtype2 /PS)."""

    def rule(entries: Object, keys: Set[str]) -> Iterator[_Found]:
        if entries[Name(key)] == Name.PS:
            yield _PRINTING, f"a PostScript XObject ({key} /PS)"

    return rule


def _script_uri(key: str) -> _Rule:
    def rule(entries: Object, keys: Set[str]) -> Iterator[_Found]:
        if _runs_script(entries[Name(key)]):
            yield JAVASCRIPT, f"a javascript: URI ({key})"

    return rule


def _runs_script(value: Object) -> bool:
    """Whether a URI runs script when opened. Browsers drop C0 controls and spaces before the scheme, tabs and line
    breaks inside it, and take letters in any case; here every control, format or space character is dropped
    anywhere before the colon (a zero-width space or byte order mark too), which refuses a little more."""
    if not isinstance(value, String):
        return False
    text = str(value)[:100]  # decoded from PDFDocEncoding or UTF-16, as a viewer reads it
    kept = "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch).startswith("C")))
    return kept[: len("javascript:")].lower() == "javascript:"


def _usage(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    usage = entries[Name.Usage]
    if not isinstance(usage, Dictionary):
        return
    for category, state in (("/Print", "/PrintState"), ("/View", "/ViewState")):
        found = usage.get(Name(category))
        if isinstance(found, Dictionary) and Name(state) in found:
            yield _OC_PRINT, f"/Usage {category} {state} of an optional content group"
            return
    if Name.Zoom in usage:
        yield _OC_ZOOM, "/Usage /Zoom of an optional content group"


def _auto_state(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    event = entries[Name.Event]
    if event in (Name.Print, Name.View):
        yield _OC_PRINT, f"an /AS auto-state for the {_text(event)} event"
    elif event == Name.Export:
        yield _OC_EXPORT, "an /AS auto-state for the /Export event"


def _annotation(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    """Shown = neither Hidden nor NoView; printed = Print and not Hidden. ToggleNoView flips NoView under the mouse."""
    kind = entries.get(Name.Type)
    if "/Subtype" not in keys or (kind is not None and kind != Name.Annot) or not _draws(entries, keys):
        return
    flags = entries.get(Name.F, 0)
    flags = flags if isinstance(flags, int) else 0  # none, or not a number: viewers show it and do not print it
    what = f"a {_text(entries[Name.Subtype])} annotation with /F {flags}"
    if flags & _HIDDEN:
        if flags & _PRINT:
            yield _HIDDEN_PRINTED, what
        return
    shown, printed = not flags & _NO_VIEW, bool(flags & _PRINT)
    if shown and not printed:
        yield _SHOWN_ONLY, what
    elif printed and not shown:
        yield _PRINTED_ONLY, what
    elif flags & _TOGGLE_NO_VIEW:
        yield _UNDER_MOUSE, what


def _draws(entries: Object, keys: Set[str]) -> bool:
    rect = entries[Name.Rect]
    if isinstance(rect, Array) and len(rect) == 4:
        x0, y0, x1, y1 = list(rect)
        if all(isinstance(v, int | Decimal) for v in (x0, y0, x1, y1)) and (x0 == x1 or y0 == y1):
            return False
    subtype = entries[Name.Subtype]
    if subtype == Name.Link:
        return "/AP" in keys
    if subtype == Name.Popup:
        return _true(entries.get(Name.Open))
    return True


def _printer_setting(key: str) -> _Rule:
    """A function, halftone or named setting other than the default; a soft mask's /TR and the background colour
    of a widget's /MK (also /BG, but an array of numbers) are not printer settings."""

    def rule(entries: Object, keys: Set[str]) -> Iterator[_Found]:
        if key.startswith("/TR") and "/G" in keys:
            return
        value = entries[Name(key)]
        if any(_is_setting(item) for item in (value if isinstance(value, Array) else [value])):
            yield _PRINTING, f"{key} in a graphics state"

    return rule


def _is_setting(value: object) -> bool:
    return isinstance(value, Dictionary | Stream) or (
        isinstance(value, Name) and value not in (Name.Default, Name.Identity)
    )


def _page_area(key: str) -> _Rule:
    def rule(entries: Object, keys: Set[str]) -> Iterator[_Found]:
        value = entries[Name(key)]
        if value != Name.CropBox:
            yield _PRINTING, f"{key} {_text(value)} in /ViewerPreferences"

    return rule


def _need_appearances(entries: Object, keys: Set[str]) -> Iterator[_Found]:
    if _true(entries[Name.NeedAppearances]):
        yield _FIELDS, "/NeedAppearances"


def _true(value: object) -> bool:
    """A PDF boolean, which implicit conversion makes a Python bool; anything else is not true."""
    return value is True


def _text(value: Object) -> str:
    """A name as written in the file (escaped with #, so ASCII), or what stands where a name should."""
    return value.unparse().decode("ascii", "replace") if isinstance(value, Name) else "(not a name)"


# By key, in the order they are looked for: the first found in a dictionary is named first.
_ACTING: tuple[tuple[str, _Rule], ...] = (
    ("/EF", _always(ATTACHMENTS, "an embedded file (/EF)")),
    ("/EmbeddedFiles", _always(ATTACHMENTS, "/EmbeddedFiles")),
    ("/JS", _always(JAVASCRIPT, "/JS")),
    ("/XFA", _always(_XFA, "/XFA")),
    ("/S", _action),
    ("/Subtype", _rich_media),
    ("/URI", _script_uri("/URI")),
    ("/Base", _script_uri("/Base")),
)
_SHOWING: tuple[tuple[str, _Rule], ...] = (
    ("/Usage", _usage),
    ("/Event", _auto_state),
    ("/Rect", _annotation),
    ("/Alternates", _always(_PRINTING, "/Alternates of an image")),
    ("/OPI", _always(_PRINTING, "/OPI")),
    ("/PS", _always(_PRINTING, "PostScript for printers (/PS)")),
    ("/Subtype", _postscript("/Subtype")),
    ("/Subtype2", _postscript("/Subtype2")),
    ("/FixedPrint", _always(_PRINTING, "/FixedPrint of a watermark")),
    *((key, _printer_setting(key)) for key in _PRINTER_SETTINGS),
    *((key, _page_area(key)) for key in _PAGE_AREAS),
    ("/PrintPageRange", _always(_PRINTING, "/PrintPageRange in /ViewerPreferences")),
    ("/NeedAppearances", _need_appearances),
)
_TRIGGERS = frozenset(key for key, _ in _ACTING + _SHOWING)
