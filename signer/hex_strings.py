"""pyHanko's reading of hexadecimal strings, in time linear in C rather than a Python call per digit.

pyHanko reads a hex string one byte at a time, skipping white space and comments before each digit. A signature's
``/Contents`` is such a string of tens of thousands of digits, and verifying the default seal reads several of
them: a seventh of the verification's time went there. ``read_hex_string`` reads the string up to its ``>`` at
once, drops the white space and decodes the digits with ``binascii``. A string holding anything else (a comment,
a stray byte, no ``>`` before the end) is handed back, from its start, to pyHanko's own function, which then
reads or refuses it exactly as it always did. ``install`` puts it in the one place pyHanko's parser calls.
"""

from __future__ import annotations

import binascii
import re
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE

from signer.library_patches import set_for_a_while

_pyhanko = generic.read_hex_string_from_stream
_DIGITS = re.compile(rb"[0-9A-Fa-f]*")
_CHUNK = 1 << 16


def read_hex_string(stream: BinaryIO) -> Any:
    """The string object that starts at ``stream``'s position (its ``<``), the stream left after its ``>``."""
    start = stream.tell()
    stream.read(1)
    digits: list[bytes] = []
    length = 0
    while True:
        chunk = stream.read(_CHUNK)
        end = chunk.find(b">")
        part = chunk if end < 0 else chunk[:end]
        found = part.translate(None, PDF_WHITESPACE)
        if not chunk or not _DIGITS.fullmatch(found):  # no end, or something else than digits: pyHanko's to judge
            stream.seek(start)
            return _pyhanko(stream)
        digits.append(found)
        length += len(part)
        if end >= 0:
            break
    stream.seek(start + 1 + length + 1)
    joined = b"".join(digits)
    return generic.pdf_string(binascii.unhexlify(joined + b"0" if len(joined) % 2 else joined))


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string


def uninstalled() -> AbstractContextManager[None]:
    """pyHanko's own function for a while: to time pyHanko as it ships, in a process where this is installed."""
    return set_for_a_while((generic, "read_hex_string_from_stream", _pyhanko))
