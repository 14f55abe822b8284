"""What a signature's revision may legitimately be followed by, beyond pyHanko's own difference policy.

Three things real signing tools do that pyHanko's default policy reports as suspicious, although a certification
signature with P=2 allows signing, and ETSI's DSS validator lets them through:

- adding the signature field they sign into (or a spare one) after a certification signature, with a widget on a
  page. Allowed here at the level of form filling: whatever such a widget draws is caught by comparing the
  rendered pages (``signer.visual``), which is what the restriction protects.
- rewriting a font or other resource of the form's default resources (``/AcroForm/DR``) in place when a field is
  filled: Acrobat and PDFBox drop or add keys such as a Type1 font's obsolete ``/Name``. Such a rewrite is cleared
  at the level of form filling, and only if the object stays what it was (a font stays a font); what the pages
  show is still compared by rendering (``signer.visual``).
- linearised files, whose first-page cross-reference section sits at the start of the file but is the newest of
  the original's two sections: a signature over the whole original covers both, while pyHanko places the signature
  in the older one and so misjudges its coverage. ``covered_revision`` names the newest revision the signed bytes
  end with.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Set

import pikepdf
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath, process_data_at_eof
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel, StandardDiffPolicy
from pyhanko.sign.diff_analysis.form_rules_api import FormUpdatingRule
from pyhanko.sign.diff_analysis.rules.form_field_rules import (
    GenericFieldModificationRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
)
from pyhanko.sign.diff_analysis.rules_api import Context, ReferenceUpdate, RelativeContext, WhitelistRule
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature


class DefaultResourcesRule(WhitelistRule):
    """Objects named directly in the old ``/AcroForm/DR``, rewritten as objects of the same type."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        form = old.root.get("/AcroForm")
        form = form.get_object() if isinstance(form, generic.IndirectObject) else form  # type: ignore[no-untyped-call]
        resources = form["/DR"] if isinstance(form, generic.DictionaryObject) and "/DR" in form else None
        if not isinstance(resources, generic.DictionaryObject):
            return
        changed = new.explicit_refs_in_revision()  # type: ignore[no-untyped-call]
        for category in resources:
            entries = resources[category]
            if not isinstance(entries, generic.DictionaryObject):
                continue
            for name in entries:
                value = entries.raw_get(name)
                if not isinstance(value, generic.IndirectObject) or value.reference not in changed:
                    continue
                if not _same_type(old.get_object(value.reference), new.get_object(value.reference)):
                    continue
                path = RawPdfPath("/Root", "/AcroForm", "/DR", category, name)
                yield ReferenceUpdate(value.reference, context_checked=Context.from_absolute(old, path))


def _same_type(before: object, after: object) -> bool:
    if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
        return False
    return bool(before.get("/Type") == after.get("/Type") and before.get("/Subtype") == after.get("/Subtype"))


class SignatureWidgetRule(WhitelistRule):
    """Pages whose ``/Annots`` gained the widgets of signature fields, new or existing (a signer may show an
    existing field's widget on one more page). pyHanko's own binding check knows only new fields, and is turned
    off in favour of this one; what such a widget draws is still compared by rendering."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        yield from _pages(old.root.raw_get("/Pages"), new.root.raw_get("/Pages"), set())


def _pages(old_ref: object, new_ref: object, seen: set[generic.Reference]) -> Iterable[ReferenceUpdate]:
    """The page tree, walked where both revisions agree on it (a change to the tree is not explained here)."""
    if not isinstance(old_ref, generic.IndirectObject) or not isinstance(new_ref, generic.IndirectObject):
        return
    if old_ref.reference != new_ref.reference or old_ref.reference in seen:
        return
    seen.add(old_ref.reference)
    old_node, new_node = old_ref.get_object(), new_ref.get_object()  # type: ignore[no-untyped-call]
    if not isinstance(old_node, generic.DictionaryObject) or not isinstance(new_node, generic.DictionaryObject):
        return
    if old_node.get("/Type") == "/Pages":
        old_kids, new_kids = old_node.get("/Kids"), new_node.get("/Kids")
        if isinstance(old_kids, generic.ArrayObject) and isinstance(new_kids, generic.ArrayObject):
            for old_kid, new_kid in zip(old_kids, new_kids, strict=False):  # list iteration: references, raw
                yield from _pages(old_kid, new_kid, seen)
        return
    yield from _page(old_ref.reference, old_node, new_node)


def _page(
    ref: generic.Reference, old: generic.DictionaryObject, new: generic.DictionaryObject
) -> Iterable[ReferenceUpdate]:
    before, after = _annotation_refs(old), _annotation_refs(new)
    if before is None or after is None or before == after or not before <= after:
        return
    if any(key != "/Annots" and _entry(old, key) != _entry(new, key) for key in set(old) | set(new)):
        return
    if not all(_signature_widget(added.get_object()) for added in after - before):
        return
    yield ReferenceUpdate(ref)  # a page is referred to from everywhere: approved as a whole, as pyHanko does
    annots = new.raw_get("/Annots")
    if isinstance(annots, generic.IndirectObject):
        yield ReferenceUpdate(annots.reference, context_checked=RelativeContext(ref, RawPdfPath("/Annots")))


def _entry(entries: generic.DictionaryObject, key: str) -> object:
    return entries.raw_get(key) if key in entries else None


def _annotation_refs(page: generic.DictionaryObject) -> set[generic.Reference] | None:
    """The page's annotations by reference; None where they are not all indirect (nothing to approve then)."""
    if "/Annots" not in page:
        return set()
    annots = page["/Annots"]
    if not isinstance(annots, generic.ArrayObject):
        return None
    found = set()
    for item in annots:  # list iteration: references, raw
        if not isinstance(item, generic.IndirectObject):
            return None
        found.add(item.reference)
    return found


def _signature_widget(annot: object) -> bool:
    """A widget whose field (itself or an ancestor) is a signature field."""
    if not isinstance(annot, generic.DictionaryObject) or annot.get("/Subtype") != "/Widget":
        return False
    field = annot
    for _ in range(16):
        if "/FT" in field:
            return bool(field["/FT"] == "/Sig")
        parent = field.get("/Parent")
        if not isinstance(parent, generic.DictionaryObject):
            return False
        field = parent
    return False


SEAL_POLICY = StandardDiffPolicy(
    global_rules=[
        *DEFAULT_DIFF_POLICY.global_rules,
        DefaultResourcesRule().as_qualified(ModificationLevel.FORM_FILLING),
        SignatureWidgetRule().as_qualified(ModificationLevel.FORM_FILLING),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(  # type: ignore[no-untyped-call]
                allow_new_visible_after_certify=True, approve_widget_bindings=False
            ),
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ]
    ),
)


def covered_revision(sig: EmbeddedPdfSignature, data: bytes) -> int:
    """The newest revision whose ``startxref`` and ``%%EOF`` end the signed bytes, if it is newer than the one
    holding the signature and every section up to it lies within them; else the signature's own revision."""
    xrefs = sig.reader.xrefs
    byte_range = sig.byte_range
    if len(byte_range) != 4 or byte_range[0] != 0:
        return int(sig.signed_revision)
    end = byte_range[2] + byte_range[3]
    stream = io.BytesIO(data)
    stream.seek(end)
    try:
        startxref = process_data_at_eof(stream)
    except (ValueError, PdfReadError):
        return int(sig.signed_revision)
    for revision in range(xrefs.total_revisions - 1, sig.signed_revision, -1):
        if xrefs.get_startxref_for_revision(revision) != startxref:
            continue
        if all(xrefs.get_xref_container_info(r).end_location <= end for r in range(revision + 1)):
            return revision
    return int(sig.signed_revision)


def filled_fields(signed: bytes, final: bytes, names: Set[str]) -> set[str]:
    """Of the fields pyHanko lets change, those whose value or normal appearance did change since ``signed``, and
    new fields but empty signature fields. pyHanko names every field a rewritten ``/Fields`` array lets
    through, changed or not; what a bureau needs to know is what now reads differently."""
    if not names:
        return set()
    with pikepdf.open(io.BytesIO(signed)) as before, pikepdf.open(io.BytesIO(final)) as after:
        old, new = _field_states(before), _field_states(after)
    found = set()
    for name in names:
        state = new.get(name)
        if state is None:
            continue  # gone or unnamed: the difference analysis and the rendering judge that
        if name in old and old[name] == state:
            continue
        if name not in old and state[:2] == ("/Sig", None):
            continue  # a new, empty signature field: what its widget draws, the rendering judges
        found.add(name)
    return found


FieldState = tuple[str | None, bytes | None, bytes | None]


def _field_states(pdf: pikepdf.Pdf) -> dict[str, FieldState]:
    """Each terminal field by its fully qualified name: its type, value and normal appearance, as bytes."""
    form = pdf.Root.get(pikepdf.Name.AcroForm)
    fields = form.get(pikepdf.Name.Fields) if isinstance(form, pikepdf.Dictionary) else None
    found: dict[str, FieldState] = {}
    stack: list[tuple[object, str, str | None]] = [
        (f, "", None) for f in (fields if isinstance(fields, pikepdf.Array) else [])
    ]
    seen: set[tuple[int, int]] = set()
    while stack and len(seen) < 100_000:
        node, prefix, kind = stack.pop()
        if not isinstance(node, pikepdf.Dictionary) or (node.is_indirect and node.objgen in seen):
            continue
        if node.is_indirect:
            seen.add(node.objgen)
        partial = node.get(pikepdf.Name.T)
        name = f"{prefix}.{partial}" if prefix and partial is not None else str(partial) if partial else prefix
        kind = str(node.FT) if pikepdf.Name.FT in node else kind
        kids = node.get(pikepdf.Name.Kids)
        named_kids = isinstance(kids, pikepdf.Array) and any(
            isinstance(k, pikepdf.Dictionary) and pikepdf.Name.T in k for k in kids
        )
        if named_kids and isinstance(kids, pikepdf.Array):
            stack.extend((kid, name, kind) for kid in kids)
            continue
        found[name] = (kind, _raw(node.get(pikepdf.Name.V)), _appearance(node, kids))
    return found


def _raw(value: object) -> bytes | None:
    if not isinstance(value, pikepdf.Object):
        return None if value is None else repr(value).encode()
    where = f"{value.objgen}".encode() if value.is_indirect else b""
    return where + bytes(value.unparse(resolved=True))


def _appearance(field: pikepdf.Dictionary, kids: object) -> bytes | None:
    widgets = [field] if not isinstance(kids, pikepdf.Array) else [k for k in kids if isinstance(k, pikepdf.Dictionary)]
    parts = []
    for widget in widgets:
        ap = widget.get(pikepdf.Name.AP)
        normal = ap.get(pikepdf.Name.N) if isinstance(ap, pikepdf.Dictionary) else None
        if isinstance(normal, pikepdf.Stream):
            parts.append(normal.read_raw_bytes())
        elif isinstance(normal, pikepdf.Dictionary):
            parts.extend(s.read_raw_bytes() for s in normal.values() if isinstance(s, pikepdf.Stream))
            parts.append(bytes(widget.get(pikepdf.Name.AS, pikepdf.Name.Off).unparse()))
    return b"\0".join(parts) if parts else None


# the store, the extension level and version it declares, and the form with a timestamp's field in it
_CATALOG_ADDITIONS = frozenset({"/DSS", "/Extensions", "/Version", "/AcroForm"})
_FORM_ADDITIONS = frozenset({"/Fields", "/SigFlags"})
_MOST_NODES = 100_000


def draws_as_signed(reader: PdfFileReader, revision: int) -> bool:
    """Whether the final file draws every page as ``revision`` does, judged from what the revisions after it
    contain, whoever wrote them: then rendering both to compare them (``signer.visual``) cannot find a difference.

    True only when every object written after ``revision`` is one of:

    - new (a number past that revision's /Size) and referred to by nothing of that revision: pyHanko's map of
      the references in the signed revision (built for the difference analysis, dangling ones included) has no
      path to it; that map leaves out /Parent entries, so the /Parent chains of every page, page tree node and
      annotation of the revision must reach only objects it defines. A DSS, its streams, a timestamp's
      signature dictionary and its field are new objects of this kind;
    - the catalog, changed in /DSS, /Extensions, /Version and /AcroForm only; an /AcroForm changed in /Fields and
      /SigFlags only, the old fields still first in /Fields and every added one a new, parentless signature field;
    - a page, changed in /Annots only, keeping the old annotations and adding only widgets of new, parentless
      signature fields with no appearance and a rectangle of no area: they draw nothing;
    - the document information dictionary, reached only from the trailer's /Info.

    Anything else, an object of the signed revision rewritten in place, a freed object, an added annotation
    that could draw, an object the signed revision pointed to before it existed, is not explained here and the
    pages are rendered and compared as before. What the pages show is all this judges: the page count, the
    overlapping annotations and rewritten appearances are still checked by ``signer.visual.differences``.
    """
    try:
        return _draws_as_signed(reader, revision)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, AssertionError, RecursionError):
        return False  # what cannot be read here is rendered


def _draws_as_signed(reader: PdfFileReader, revision: int) -> bool:
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    old, new = reader.get_historical_resolver(revision), reader.get_historical_resolver(last)
    written: set[generic.Reference] = set()
    for later in range(revision + 1, last + 1):
        if xrefs.refs_freed_in_revision(later):
            return False
        written |= set(xrefs.explicit_refs_in_revision(later))
    old._load_reverse_xref_cache()  # type: ignore[no-untyped-call]  # the difference analysis built it
    if old.root_ref != new.root_ref or not _parents_defined(old):
        return False
    root = old.root_ref
    info = old.trailer_view.raw_get("/Info") if "/Info" in old.trailer_view else None
    pages = _page_refs(old)
    form = old.root.raw_get("/AcroForm") if "/AcroForm" in old.root else None
    for ref in written:
        if old.is_ref_unassignable(ref):
            if old._get_usages_of_ref(ref):
                return False
        elif ref == root:
            if not _catalog_alike(old, new):
                return False
        elif isinstance(form, generic.IndirectObject) and ref == form.reference:
            if not _form_alike(old, new, old(ref), new(ref)):
                return False
        elif ref in pages:
            if not _page_alike(old, new, old(ref), new(ref)):
                return False
        elif not (isinstance(info, generic.IndirectObject) and ref == info.reference and _only_info(old, ref)):
            return False
    return True


def _catalog_alike(old: HistoricalResolver, new: HistoricalResolver) -> bool:
    before, after = old.root, new.root
    if not _same_but(before, after, _CATALOG_ADDITIONS):
        return False
    old_form, new_form = _entry(before, "/AcroForm"), _entry(after, "/AcroForm")
    if isinstance(old_form, generic.IndirectObject) or isinstance(new_form, generic.IndirectObject):
        # the same form object, whose own changes are judged as it is written
        return isinstance(old_form, generic.IndirectObject) and old_form == new_form
    if old_form is None:
        return new_form is None or (
            isinstance(new_form, generic.DictionaryObject) and _form_alike(old, new, None, new_form)
        )
    return isinstance(new_form, generic.DictionaryObject) and _form_alike(old, new, old_form, new_form)


def _form_alike(old: HistoricalResolver, new: HistoricalResolver, before: object, after: object) -> bool:
    """The form as it was, with new signature fields after the old ones in /Fields."""
    if not isinstance(after, generic.DictionaryObject):
        return False
    if before is None:
        before = generic.DictionaryObject()  # type: ignore[no-untyped-call]
    if not isinstance(before, generic.DictionaryObject) or not _same_but(before, after, _FORM_ADDITIONS):
        return False
    old_fields, new_fields = _entry(before, "/Fields"), _entry(after, "/Fields")
    if old_fields is None:
        old_fields = generic.ArrayObject()
    if not isinstance(old_fields, generic.ArrayObject) or not isinstance(new_fields, generic.ArrayObject):
        return False
    return _appended(old, new, list(old_fields), list(new_fields))  # list(): the references, raw


def _page_alike(old: HistoricalResolver, new: HistoricalResolver, before: object, after: object) -> bool:
    """The page as it was, with annotations that draw nothing added after its own."""
    if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
        return False
    if not _same_but(before, after, frozenset({"/Annots"})):
        return False
    old_annots, new_annots = _entry(before, "/Annots"), _entry(after, "/Annots")
    if old_annots is None:
        old_annots = generic.ArrayObject()
    if not isinstance(old_annots, generic.ArrayObject) or not isinstance(new_annots, generic.ArrayObject):
        return False  # an indirect /Annots array rewritten in place is not explained here
    return _appended(old, new, list(old_annots), list(new_annots))


def _appended(old: HistoricalResolver, new: HistoricalResolver, before: list[object], after: list[object]) -> bool:
    """``after`` is ``before`` followed by drawless signature fields only."""
    if after[: len(before)] != before:
        return False
    return all(_drawless_signature_field(old, new, entry) for entry in after[len(before) :])


def _drawless_signature_field(old: HistoricalResolver, new: HistoricalResolver, entry: object) -> bool:
    """A new object, a signature field merged with its widget, with no parent, no kids, no appearance and a
    rectangle of no area: a timestamp's or an invisible signature's field, which draws nothing."""
    if not isinstance(entry, generic.IndirectObject) or not old.is_ref_unassignable(entry.reference):
        return False
    field = new(entry.reference)
    if not isinstance(field, generic.DictionaryObject) or any(k in field for k in ("/Parent", "/Kids", "/AP")):
        return False
    if field.get("/FT") != "/Sig" or field.get("/Subtype") != "/Widget":
        return False
    rect = field.get("/Rect")
    if not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
        return False
    x0, y0, x1, y1 = (float(v) for v in rect)
    return x0 == x1 or y0 == y1


def _only_info(old: HistoricalResolver, ref: generic.Reference) -> bool:
    """The information dictionary, which no viewer draws, if nothing but the trailer's /Info reaches it."""
    return {str(path) for path in old._get_usages_of_ref(ref)} == {str(RawPdfPath("/Info"))}


def _same_but(before: generic.DictionaryObject, after: generic.DictionaryObject, keys: Set[str]) -> bool:
    return all(_entry(before, key) == _entry(after, key) for key in (set(before) | set(after)) - keys)


def _page_refs(old: HistoricalResolver) -> set[generic.Reference]:
    """The leaves of the revision's page tree, by reference."""
    found: set[generic.Reference] = set()
    stack: list[object] = [old.root.raw_get("/Pages")]
    seen: set[generic.Reference] = set()
    while stack and len(seen) < _MOST_NODES:
        node = stack.pop()
        if not isinstance(node, generic.IndirectObject) or node.reference in seen:
            continue
        seen.add(node.reference)
        value = old(node.reference)
        if not isinstance(value, generic.DictionaryObject):
            continue
        kids = value.get("/Kids") if value.get("/Type") == "/Pages" else None
        if isinstance(kids, generic.ArrayObject):
            stack.extend(kids)  # list iteration: references, raw
        else:
            found.add(node.reference)
    return found


def _parents_defined(old: HistoricalResolver) -> bool:
    """Every /Parent chain from the revision's page tree and its pages' annotations reaches only objects the
    revision defines (pyHanko's reference map skips /Parent, and pages and fields inherit through it)."""
    size = old.reader.xrefs.get_xref_container_info(old.revision).size
    stack: list[object] = [old.root.raw_get("/Pages")]
    seen: set[generic.Reference] = set()
    visited = 0
    while stack:
        visited += 1
        if visited > _MOST_NODES:
            return False
        node = stack.pop()
        if isinstance(node, generic.IndirectObject):
            if node.reference.idnum >= size:
                return False
            if node.reference in seen:
                continue
            seen.add(node.reference)
            node = old(node.reference)
        if not isinstance(node, generic.DictionaryObject):
            continue
        for key in ("/Parent", "/Kids", "/Annots"):
            item = node.raw_get(key) if key in node else None
            if isinstance(item, generic.IndirectObject) and key != "/Parent":
                if item.reference.idnum >= size:
                    return False
                item = old(item.reference)
            if isinstance(item, generic.ArrayObject):
                stack.extend(item)  # list iteration: references, raw
            elif item is not None:
                stack.append(item)
    return True
