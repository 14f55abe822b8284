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
from collections.abc import Iterable

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
from pyhanko.sign.diff_analysis.rules_api import Context, ReferenceUpdate, WhitelistRule
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


SEAL_POLICY = StandardDiffPolicy(
    global_rules=[
        *DEFAULT_DIFF_POLICY.global_rules,
        DefaultResourcesRule().as_qualified(ModificationLevel.FORM_FILLING),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(allow_new_visible_after_certify=True),  # type: ignore[no-untyped-call]
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
