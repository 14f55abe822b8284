"""Library functions replaced in this process, and the libraries' own put back for a while.

The verifier replaces a few functions of pyHanko and asn1crypto with faster ones that answer alike
(``hex_strings``, ``names``, ``extensions``, ``signature_checks``); a benchmark times those libraries as they ship,
in the same process, with the originals back (``bench/shipped.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

Change = tuple[object, str, object]  # (module or class, attribute, value)


@contextmanager
def set_for_a_while(*changes: Change) -> Iterator[None]:
    """Each attribute set to its value, and put back as it was on leaving."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    for owner, name, value in changes:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
