"""RFC 8785 canonical JSON, written by the standard library's C encoder wherever the two give the same bytes.

``rfc8785`` is the reference, and pure Python: about 18 µs for a 270-byte log entry, paid by every decision (6 here).
For values made only of objects with ASCII keys, lists, strings, integers within ±(2**53 - 1), booleans and
null, the standard encoder with sorted keys, no whitespace and no ASCII escaping writes exactly what RFC 8785
asks: it escapes the same characters (``"``, ``\\``, U+0000 to U+001F) in the same forms, and ASCII keys sort
alike by code point and by UTF-16 code unit. Anything else (a float, a non-ASCII key, a tuple, a subclass, a
lone surrogate) is left to ``rfc8785``, which writes or refuses it. ``tests/core/test_canonical_json.py`` holds
the two to the same bytes on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

CanonicalizationError = rfc8785.CanonicalizationError
_SAFE = 2**53 - 1
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def dumps(value: Any) -> bytes:
    """``value`` in RFC 8785 canonical form; raises ``CanonicalizationError`` for what JSON cannot hold."""
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says so in its own words
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether ``value`` lies where the standard encoder and RFC 8785 agree byte for byte."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE <= value <= _SAFE)
    if kind is dict:
        return all(type(key) is str and key.isascii() and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return False
