"""pyHanko's PDF reader with object streams indexed once.

To take an object out of an object stream, pyHanko's reader decodes the stream and parses its header from the
start, every time: quadratic in the objects per stream. A file of a few thousand objects in streams then takes
seconds to validate (``dss/pades-signed-filled-form.pdf`` in the corpus: over 5 s, the limit verification runs
under). This reader parses each stream's header once and reads each object at its offset. It overrides one
private method of pyHanko's reader, the only place that does this; anything it does not recognise goes to
pyHanko's own code, which then answers as it always does.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader

log = logging.getLogger(__name__)


class IndexedReader(PdfFileReader):
    def __init__(self, stream: Any, strict: bool = False) -> None:
        super().__init__(stream, strict=strict)
        self._streams: dict[int, tuple[bytes, int, int, dict[int, int]] | None] = {}

    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> Any:
        if stmnum not in self._streams:
            self._streams[stmnum] = self._index(stmnum)
        indexed = self._streams[stmnum]
        offset = None if indexed is None else indexed[3].get(idnum)
        if indexed is None or offset is None or self.strict or not 0 <= idx < indexed[2]:
            return super()._get_object_from_stream(idnum, stmnum, idx)  # type: ignore[no-untyped-call]
        data, first, _, _ = indexed
        buffer = BytesIO(data)
        buffer.seek(first + offset)
        try:
            return generic.read_object(buffer, generic.Reference(idnum, 0, self))
        except (misc.PdfStreamError, misc.PdfReadError) as exc:
            log.warning("invalid object %d in object stream %d: %s", idnum, stmnum, exc)
            return generic.NullObject()

    def _index(self, stmnum: int) -> tuple[bytes, int, int, dict[int, int]] | None:
        """(decoded data, /First, /N, object number -> offset), or None for anything but a sound object stream."""
        try:
            stream = generic.Reference(stmnum, 0, self).get_object()
            if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
                return None
            count, first = int(stream["/N"]), int(stream["/First"])
            data = stream.read_data(DecodePurpose.OBJECT_STREAM)
            header = BytesIO(data)
            offsets: dict[int, int] = {}
            for _ in range(count):
                misc.read_non_whitespace(header, seek_back=True)  # type: ignore[no-untyped-call]
                number = generic.NumberObject.read_from_stream(header)  # type: ignore[no-untyped-call]
                misc.read_non_whitespace(header, seek_back=True)  # type: ignore[no-untyped-call]
                offset = generic.NumberObject.read_from_stream(header)  # type: ignore[no-untyped-call]
                offsets.setdefault(int(number), int(offset))  # pyHanko takes the first of duplicates too
            return data, first, count, offsets
        except (misc.PdfError, ValueError, KeyError, TypeError):
            return None
