"""asn1crypto's reading of a certificate's extensions, made once per encoding.

The same certificate reaches a verification many times over, each time as a new object: in the signature's CMS,
in each timestamp token, in the document security store, in each OCSP response. asn1crypto parses all of an
object's extensions the first time any of them is asked for (``Certificate._set_extensions``), 15 times per
verification of the default seal, for 5 distinct certificates. ``install`` remembers, for a bounded number of
encodings, what that parse set on the object, and sets the same on the next object parsed from the same bytes: the
parse reads nothing but the encoding. A certificate whose extensions cannot be parsed is not remembered, and fails
again each time. The parsed values are then shared between objects of equal bytes; nothing in verification
changes a certificate it has read.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from asn1crypto.x509 import Certificate

from signer.library_patches import set_for_a_while

_parse = Certificate._set_extensions
_SET = ["_critical_extensions", "_processed_extensions"] + [
    name for name in vars(Certificate) if name.startswith("_") and name.endswith("_value") and not name.startswith("__")
]
_KEPT = 1024  # encodings remembered
_parsed: dict[bytes, dict[str, Any]] = {}


def _set_extensions(self: Certificate) -> None:
    encoded = self.dump()
    found = _parsed.get(encoded)
    if found is None:
        _parse(self)  # raises for extensions that cannot be parsed
        if len(_parsed) >= _KEPT:
            _parsed.clear()  # one call, safe beside other threads' lookups
        _parsed[encoded] = {name: getattr(self, name) for name in _SET}
        return
    for name, value in found.items():
        setattr(self, name, value)


def install() -> None:
    Certificate._set_extensions = _set_extensions


def uninstalled() -> AbstractContextManager[None]:
    """asn1crypto's own parse for a while: to time a library as it ships, in a process where this is installed."""
    return set_for_a_while((Certificate, "_set_extensions", _parse))
