"""Sealing a PDF: one incremental update holding the seal's signature field, its appearance and (for a paging
seal on a document of two pages or more) a strip of the seal on every page, signed as PAdES B-B, or B-T with a
signature timestamp.

The seal is inked, not pasted: it is drawn with the Multiply blend mode, as red ink on paper lets the text under
it show through, so a date printed under "（盖章）" stays legible where the seal covers it.

The original file is copied to the output once, through one hash whose state then serves both the signed
byte ranges and the sealed file's own SHA-256 (its blob address), so a large file is read once and never held
in memory. The /Contents hole is sized from the CMS template, never by a trial signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from pikepdf import Array, Dictionary, Name, Page

from core.keystore import Keystore
from signer import fields
from signer.appearance import MM, paging_slices, qr_code
from signer.cms import SealTemplate, signature_sha256
from signer.incremental import (
    Original,
    Update,
    array_with,
    changed,
    date_string,
    dictionary,
    inherited,
    number,
    open_original,
    ref,
    stream,
    text_string,
)

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

CHUNK = 1 << 20
_SEAL_RESOURCE = "/SealgateSeal"
_INK = "/SealgateInk"  # the graphics state that multiplies the seal's colours with the page under it
_INK_STATES = dictionary({_INK: dictionary({"/Type": b"/ExtGState", "/BM": b"/Multiply"})})
QR_MM = 20.0
_QR_GAP = 2 * MM


class Art(Protocol):
    """A drawing of the seal in the box [0 0 size size]."""

    @property
    def size(self) -> float: ...

    @property
    def content(self) -> bytes: ...


class Timestamper(Protocol):
    """Gives RFC 3161 timestamp tokens over a digest; ``max_token_size`` bounds their DER length."""

    @property
    def max_token_size(self) -> int: ...

    def token(self, digest: bytes, hash_name: str) -> bytes: ...


class SealingRefused(ValueError):
    """The document cannot be sealed as asked; the message says why."""


@dataclass(frozen=True)
class Placement:
    """Where the seal goes: a page (0-based, negative from the end) and the lower-left corner in points."""

    page: int
    x: float
    y: float


@dataclass(frozen=True)
class Options:
    placement: Placement | None = None  # None: an invisible signature
    paging: bool = False  # 骑缝章: a strip of the seal on the right edge of every page, when there are two or more
    certify: bool = False  # DocMDP P=2 certification, only for the document's first signature
    qr_url: str | None = None  # a QR code beside the seal, opening the document's record
    reason: str | None = None
    location: str | None = None
    timestamp: bool = False  # B-T: a signature timestamp from ``Sealer.timestamper``


@dataclass(frozen=True)
class Sealed:
    sha256: str  # of the sealed file
    size: int
    signature_sha256: str  # of the CMS, as the log names it
    field: str
    byte_range: tuple[int, int, int, int]
    contents: bytes  # the whole /Contents hole, zero padding included, as the DSS's /VRI key hashes it
    whole: Hash  # the sealed file's running SHA-256, for updates appended after it


@dataclass
class Sealer:
    """A seal's key, certificate and appearance, prepared once and used for every document it seals."""

    keystore: Keystore
    key_label: str
    template: SealTemplate
    art: Art | None = None
    timestamper: Timestamper | None = None
    _sizes: dict[bool, int] = field(default_factory=dict)

    @cached_property
    def art_stream(self) -> bytes:
        """The seal as a compressed form XObject, inked with Multiply wherever it is drawn (the paging seal's strips
        are drawn in the pages' own content): the same bytes in every document the seal seals."""
        assert self.art is not None
        box = b"[0 0 " + number(self.art.size) + b" " + number(self.art.size) + b"]"
        entries = {
            "/Type": b"/XObject",
            "/Subtype": b"/Form",
            "/BBox": box,
            "/Resources": dictionary({"/ExtGState": _INK_STATES}),
        }
        return stream(entries, _INK.encode() + b" gs\n" + self.art.content, compress=True)

    @property
    def size(self) -> float:
        if self.art is None:
            raise SealingRefused("this seal has no appearance")
        return self.art.size

    def width(self, qr: bool) -> float:
        """The appearance's width: the seal, and the QR code beside it when there is one."""
        return self.size + (_QR_GAP + QR_MM * MM if qr else 0.0)

    def contents_size(self, timestamp: bool) -> int:
        """Bytes reserved for /Contents: the template's largest CMS (with the largest token, for B-T)."""
        if timestamp not in self._sizes:
            token = 0
            if timestamp:
                if self.timestamper is None:
                    raise SealingRefused("B-T needs a timestamp authority")
                token = self.timestamper.max_token_size
            self._sizes[timestamp] = self.template.max_size(token)
        return self._sizes[timestamp]

    def seal(self, source: Path, out: BinaryIO, options: Options, now: dt.datetime) -> Sealed:
        """Write ``source`` sealed to ``out``."""
        with open_original(source) as original:
            return self.seal_opened(original, out, options, now)

    def seal_opened(self, original: Original, out: BinaryIO, options: Options, now: dt.datetime) -> Sealed:
        """``seal``, for a caller that has the document open already."""
        layout = _Layout(self, original, options, now, self.contents_size(options.timestamp))
        body, _ = layout.build().write()
        return self._sign(original.path, out, original.size, body, layout.field_name, options)

    def _sign(
        self,
        source: Path,
        out: BinaryIO,
        size: int,
        body: bytearray,
        field_name: str,
        options: Options,
    ) -> Sealed:
        start, end, byte_range = fields.fill_byte_range(body, size)

        digest = self.template.digest()
        whole = hashlib.sha256() if digest.name != "sha256" else None
        with source.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                if whole is not None:
                    whole.update(chunk)
                out.write(chunk)
        if whole is None:
            whole = digest.copy()
        digest.update(body[:start])
        digest.update(body[end:])

        attributes = self.template.signed_attributes(digest.digest())
        signature = self.keystore.sign(self.key_label, attributes, self.template.hash_name)
        token = None
        if options.timestamp:
            assert self.timestamper is not None
            imprint = hashlib.new(self.template.hash_name, signature).digest()
            token = self.timestamper.token(imprint, self.template.hash_name)
        contents = self.template.content_info(attributes, signature, token)
        try:
            fields.fill_contents(body, start, end, contents)
        except ValueError as exc:
            raise SealingRefused(str(exc)) from None
        whole.update(body)
        out.write(body)
        hole = bytes.fromhex(body[start + 1 : end - 1].decode())
        sha256 = whole.hexdigest()
        return Sealed(sha256, size + len(body), signature_sha256(contents), field_name, byte_range, hole, whole)


@dataclass
class _Layout:
    """The objects of one sealing update: signature, field and widget, appearance, page and catalog changes."""

    sealer: Sealer
    original: Original
    options: Options
    now: dt.datetime
    reserve: int
    field_name: str = ""

    def build(self) -> Update:
        update = Update(self.original)
        pages = self.original.pdf.pages
        if not pages:
            raise SealingRefused("the PDF has no pages")
        placement = self.options.placement
        paging = self.options.paging and len(pages) > 1  # one sheet has no edge shared with another
        page_index = placement.page if placement is not None else 0
        if not -len(pages) <= page_index < len(pages):
            raise SealingRefused(f"page {page_index + 1} is not in a document of {len(pages)} pages")
        page = pages[page_index].obj
        existing = fields.form_fields(update)
        if self.options.certify and _signed(existing):
            raise SealingRefused("only the first seal on a document may certify it")

        signature, widget = update.new(), update.new()
        update.put(signature, self._signature_dictionary())
        art_ref = None
        if self.sealer.art is not None and (placement is not None or paging):
            art_ref = update.new()
            update.put(art_ref, self.sealer.art_stream)
        rect, appearance = b"[0 0 0 0]", None
        if placement is not None:
            if art_ref is None:
                raise SealingRefused("a visible seal needs the seal's appearance")
            rect, appearance = self._appearance(update, page, placement, art_ref)
        self.field_name = fields.field_name(existing, "Seal")
        update.put(widget, fields.widget(signature, page, self.field_name, rect, appearance))

        page_changes: dict[tuple[int, int], dict[str, bytes | None]] = {}
        annots = fields.annots_with(update, page, widget)
        if annots is not None:  # None: the page's own indirect /Annots array took the widget, the page is unchanged
            page_changes.setdefault(page.objgen, {})["/Annots"] = annots
        if paging:
            assert art_ref is not None
            self._paging(update, pages, art_ref, page_changes)
        for p in pages:
            if p.obj.objgen in page_changes:
                update.replace(p.obj, changed(p.obj, page_changes[p.obj.objgen]))
        fields.register(update, widget, self._certification(signature))
        return update

    def _signature_dictionary(self) -> bytes:
        entries: dict[str, bytes] = {
            "/Type": b"/Sig",
            "/Filter": b"/Adobe.PPKLite",
            "/SubFilter": b"/ETSI.CAdES.detached",
            **fields.hole(self.reserve),
            "/M": date_string(self.now),
        }
        if self.options.reason:
            entries["/Reason"] = text_string(self.options.reason)
        if self.options.location:
            entries["/Location"] = text_string(self.options.location)
        if self.options.certify:
            params = dictionary({"/Type": b"/TransformParams", "/P": b"2", "/V": b"/1.2"})
            reference = dictionary({"/Type": b"/SigRef", "/TransformMethod": b"/DocMDP", "/TransformParams": params})
            entries["/Reference"] = b"[" + reference + b"]"
        return dictionary(entries)

    def _appearance(self, update: Update, page: Dictionary, placement: Placement, art_ref: int) -> tuple[bytes, int]:
        """The widget's appearance: the seal at ``placement``, and the QR code beside it, on the right where the
        page has room and on the left where it does not; both inked with Multiply, nothing painted white."""
        size = self.sealer.size
        resources = {_SEAL_RESOURCE: ref(art_ref)}
        seal_at, x0 = 0.0, placement.x
        qr_drawing = b""
        if self.options.qr_url is not None:
            qr_size = QR_MM * MM
            qr = update.new()
            box = b"[0 0 " + number(qr_size) + b" " + number(qr_size) + b"]"
            entries = {"/Type": b"/XObject", "/Subtype": b"/Form", "/BBox": box}
            update.put(qr, stream(entries, qr_code(self.options.qr_url, qr_size), compress=True))
            resources["/SealgateQR"] = ref(qr)
            qr_at = size + _QR_GAP
            if placement.x + size + _QR_GAP + qr_size > _right_edge(page):
                seal_at, qr_at, x0 = qr_size + _QR_GAP, 0.0, placement.x - qr_size - _QR_GAP
            qr_drawing = b" q 1 0 0 1 " + number(qr_at) + b" 0 cm /SealgateQR Do Q"
        drawing = (
            _INK.encode()
            + b" gs q 1 0 0 1 "
            + number(seal_at)
            + b" 0 cm "
            + _SEAL_RESOURCE.encode()
            + b" Do Q"
            + qr_drawing
        )
        width = self.sealer.width(self.options.qr_url is not None)
        appearance = update.new()
        bbox = b"[0 0 " + number(width) + b" " + number(size) + b"]"
        used = dictionary({"/ExtGState": _INK_STATES, "/XObject": dictionary(resources)})
        entries = {"/Type": b"/XObject", "/Subtype": b"/Form", "/BBox": bbox, "/Resources": used}
        update.put(appearance, stream(entries, drawing))
        y = placement.y
        rect = b"[" + b" ".join(number(v) for v in (x0, y, x0 + width, y + size)) + b"]"
        return rect, appearance

    def _paging(
        self,
        update: Update,
        pages: Iterable[Page],
        art_ref: int,
        changes: dict[tuple[int, int], dict[str, bytes | None]],
    ) -> None:
        art = self.sealer.art
        assert art is not None
        boxes = []
        for p in pages:
            box = inherited(p.obj, Name.CropBox) or inherited(p.obj, Name.MediaBox)
            if not isinstance(box, Array) or len(box) != 4:
                raise SealingRefused("a page has no valid /MediaBox")
            x0, y0, x1, y1 = (float(v) for v in box)
            boxes.append((x0, y0, x1, y1))
        slices = paging_slices(art, boxes, resource=_SEAL_RESOURCE)
        opening = update.new()
        update.put(opening, stream({}, b"q"))
        for p, content in zip(pages, slices, strict=True):
            obj = p.obj
            closing = update.new()
            update.put(closing, stream({}, b"Q " + content))
            entry = changes.setdefault(obj.objgen, {})
            contents = obj.get(Name.Contents)
            existing = [contents] if contents is not None and not isinstance(contents, Array) else contents
            entry["/Contents"] = array_with(None, ref(opening), *(c.unparse() for c in existing or []), ref(closing))
            entry["/Resources"] = _with_xobject(inherited(obj, Name.Resources), _SEAL_RESOURCE, ref(art_ref))

    def _certification(self, signature: int) -> dict[str, bytes | None]:
        """The catalog's /Perms naming the signature as the DocMDP one, when the seal certifies."""
        if not self.options.certify:
            return {}
        perms = self.original.root.get(Name.Perms)
        if isinstance(perms, Dictionary):
            return {"/Perms": changed(perms, {"/DocMDP": ref(signature)})}
        return {"/Perms": dictionary({"/DocMDP": ref(signature)})}


def _right_edge(page: Dictionary) -> float:
    box = inherited(page, Name.CropBox) or inherited(page, Name.MediaBox)
    return float(box[2]) if isinstance(box, Array) and len(box) == 4 else float("inf")


def is_signed(original: Original) -> bool:
    """Whether the document carries a signature already (then a seal may not certify it)."""
    form = original.root.get(Name.AcroForm)
    return _signed(form.get(Name.Fields) if isinstance(form, Dictionary) else None)


def _signed(fields: object) -> bool:
    """Whether any field of the form is a signature field with a value, nested fields included."""
    stack = list(fields) if isinstance(fields, Array) else []
    seen = 0
    while stack and seen < 10_000:
        seen += 1
        node = stack.pop()
        if not isinstance(node, Dictionary):
            continue
        if node.get(Name.FT) == Name.Sig and Name.V in node:
            return True
        kids = node.get(Name.Kids)
        if isinstance(kids, Array):
            stack.extend(kids)
    return False


def _with_xobject(resources: object, name: str, value: bytes) -> bytes:
    if not isinstance(resources, Dictionary):
        return dictionary({"/XObject": dictionary({name: value})})
    xobjects = resources.get(Name.XObject)
    inner = changed(xobjects, {name: value}) if isinstance(xobjects, Dictionary) else dictionary({name: value})
    return changed(resources, {"/XObject": inner})
