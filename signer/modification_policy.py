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
from pyhanko.pdf_utils.reader import HistoricalResolver, RawPdfPath, process_data_at_eof
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
