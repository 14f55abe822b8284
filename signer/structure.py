"""Where a PDF ends, as two independent parsers read it.

Readers disagree about PDFs in ways attackers use. pyHanko finds the last revision by looking for ``%%EOF`` near
the end of the file; qpdf, PDFium, poppler and pdf.js follow the last ``startxref`` whether a ``%%EOF`` follows it
or not. An incremental update appended without ``%%EOF`` is therefore invisible to the signature validator and
shown by every viewer. Two checks close that gap: nothing but white space and one end of line may follow the last
``%%EOF``, and qpdf's cross-reference view (what ``qpdf --show-xref`` prints, from a second parser) must place
every object where pyHanko's does. A file they disagree on is not one document, whatever its signatures say.
"""

from __future__ import annotations

import io
import re

import pikepdf
from pyhanko.pdf_utils.generic import Reference
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef

_SPACE = rb"[ \t\f\x00]*"
_EOL = rb"(?:\r\n|\r|\n)?"
_END_OF_FILE = re.compile(_SPACE + _EOL + _SPACE + _EOL + _SPACE)  # the marker's own end of line, and one more

Location = tuple[int, int] | tuple[int, int, int]


def trailing(data: bytes) -> str | None:
    """What follows the last ``%%EOF`` beyond white space and its end of line (and one more, which editors and
    transfers add), in words; None when nothing."""
    end = data.rfind(b"%%EOF")
    if end < 0:
        return "the file has no %%EOF marker"
    tail = data[end + 5 :]
    if _END_OF_FILE.fullmatch(tail):
        return None
    return (
        f"the file goes on for {len(tail)} bytes after the end of its last revision: content that some PDF readers "
        "show and others skip"
    )


def disagreement(reader: PdfFileReader, data: bytes) -> str | None:
    """Objects that qpdf finds at other places than pyHanko does, in words; None when the two agree."""
    try:
        theirs = _qpdf_locations(data)
    except pikepdf.PdfError as exc:
        return f"the file's cross-reference sections cannot be read by a second parser (qpdf): {exc}"
    keys = theirs.keys() | _newest_refs(reader)
    differ = sorted(ref for ref in keys if _pyhanko_location(reader, ref) != theirs.get(ref))
    if not differ:
        return None
    shown = ", ".join(f"{number} {generation} R" for number, generation in differ[:5])
    more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
    return (
        f"two PDF parsers read different documents from this file: objects {shown}{more} are not where the "
        "signature validator finds them (a hidden or damaged update)"
    )


def _newest_refs(reader: PdfFileReader) -> set[tuple[int, int]]:
    """Each object number pyHanko's cross-reference sections name, at its newest generation."""
    xrefs = reader.xrefs
    newest: dict[int, int] = {}
    for revision in range(xrefs.total_revisions):
        for ref in xrefs.explicit_refs_in_revision(revision):
            newest[ref.idnum] = max(ref.generation, newest.get(ref.idnum, ref.generation))
    return set(newest.items())


def _pyhanko_location(reader: PdfFileReader, ref: tuple[int, int]) -> Location | None:
    """Where pyHanko reads the object in the newest revision (hybrid sections included), if anywhere."""
    xrefs = reader.xrefs
    where = xrefs.get_historical_ref(Reference(*ref), xrefs.total_revisions - 1)
    if isinstance(where, ObjStreamRef):
        return (1, where.obj_stream_id, where.ix_in_stream)
    return (0, where) if isinstance(where, int) else None


def _qpdf_locations(data: bytes) -> dict[tuple[int, int], Location]:
    """qpdf's cross-reference table, as ``qpdf --show-xref`` prints it, read in process through libqpdf: a
    child process per verification cost more than the rest of this check."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        table = pdf.get_xref_table()
    found: dict[tuple[int, int], Location] = {}
    for key, entry in table.items():
        if entry.type == 1 and entry.offset is not None:
            found[key] = (0, entry.offset)
        elif entry.type == 2 and entry.obj_stream_number is not None and entry.obj_stream_index is not None:
            found[key] = (1, entry.obj_stream_number, entry.obj_stream_index)
    return found
