"""Signature fields in an incremental update, shared by the seal and the document timestamp: the widget on its
page, the field in the form, and the /Contents hole that the signature fills once the update's bytes are final."""

from __future__ import annotations

from collections.abc import Mapping

from pikepdf import Array, Dictionary, Name

from signer.incremental import Update, array_with, changed, dictionary, ref, text_string

BYTE_RANGE = b"/ByteRange [0 0000000000 0000000000 0000000000]"  # filled in place: the update keeps its length


def hole(reserve: int) -> dict[str, bytes]:
    """A signature dictionary's /ByteRange and /Contents, with ``reserve`` bytes of zeros for the signature."""
    return {"/ByteRange": BYTE_RANGE[len("/ByteRange ") :], "/Contents": b"<" + b"0" * (2 * reserve) + b">"}


def fill_byte_range(body: bytearray, size: int) -> tuple[int, int, tuple[int, int, int, int]]:
    """Set /ByteRange in ``body``, an update to a file of ``size`` bytes; where the /Contents hex string starts
    and ends in ``body`` (its angle brackets included), and the byte range."""
    at = body.index(BYTE_RANGE)
    start = body.index(b"/Contents <", at) + len(b"/Contents ")
    end = body.index(b">", start) + 1
    byte_range = (0, size + start, size + end, len(body) - end)
    body[at : at + len(BYTE_RANGE)] = (b"/ByteRange [0 %d %d %d]" % byte_range[1:]).ljust(len(BYTE_RANGE))
    return start, end, byte_range


def fill_contents(body: bytearray, start: int, end: int, contents: bytes) -> None:
    """Put the DER signature into the hole, hex-encoded and padded with the zeros left of it."""
    room = end - start - 2
    if 2 * len(contents) > room:
        raise ValueError(f"the signature ({len(contents)} bytes) outgrew its reserved {room // 2} bytes")
    body[start + 1 : start + 1 + 2 * len(contents)] = contents.hex().upper().encode()


def form_fields(update: Update) -> object:
    acroform = update.original.root.get(Name.AcroForm)
    return acroform.get(Name.Fields) if isinstance(acroform, Dictionary) else None


def field_name(fields: object, prefix: str) -> str:
    """``prefix`` numbered from 1, the first such name no top-level field has."""
    names = (
        {str(f.get(Name.T, "")) for f in fields if isinstance(f, Dictionary)} if isinstance(fields, Array) else set()
    )
    return next(f"{prefix}{i}" for i in range(1, len(names) + 2) if f"{prefix}{i}" not in names)


def widget(signature: int, page: Dictionary, name: str, rect: bytes, appearance: int | None = None) -> bytes:
    """A signature field merged with its widget on ``page``, printed and locked; invisible without ``appearance``."""
    entries = {
        "/Type": b"/Annot",
        "/Subtype": b"/Widget",
        "/FT": b"/Sig",
        "/T": text_string(name),
        "/V": ref(signature),
        "/F": b"132",  # Print and Locked
        "/P": ref(*page.objgen),
        "/Rect": rect,
    }
    if appearance is not None:
        entries["/AP"] = dictionary({"/N": ref(appearance)})
    return dictionary(entries)


def annots_with(update: Update, page: Dictionary, widget: int) -> bytes | None:
    """The page's /Annots with the widget added; None when the page's own indirect array took it (then the page
    itself is unchanged)."""
    annots = page.get(Name.Annots)
    if isinstance(annots, Array) and annots.is_indirect:
        update.replace(annots, array_with(annots, ref(widget)))
        return None if Name.Annots in page else ref(*annots.objgen)
    return array_with(annots, ref(widget))


def register(update: Update, widget: int, catalog: Mapping[str, bytes | None] | None = None) -> None:
    """Add the widget's field to the form (creating the form if there is none, and marking it signed), and apply
    ``catalog``'s changes to the document catalog."""
    root = update.original.root
    acroform = root.get(Name.AcroForm)
    fields = form_fields(update)
    changes: dict[str, bytes | None] = dict(catalog or {})
    fields_value = array_with(fields, ref(widget))  # type: ignore[arg-type]
    if isinstance(fields, Array) and fields.is_indirect:
        update.replace(fields, fields_value)
        fields_value = ref(*fields.objgen)
    form_changes = {"/Fields": fields_value, "/SigFlags": b"3"}
    if isinstance(acroform, Dictionary) and acroform.is_indirect:
        update.replace(acroform, changed(acroform, form_changes))
    elif isinstance(acroform, Dictionary):
        changes["/AcroForm"] = changed(acroform, form_changes)
    else:
        changes["/AcroForm"] = dictionary(form_changes)
    if changes:
        assert isinstance(root, Dictionary)
        update.replace(root, changed(root, changes))
