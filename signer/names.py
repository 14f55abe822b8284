"""asn1crypto's comparison of distinguished names, made cheap where it repeats itself.

Certificate path validation compares and indexes names all the time. asn1crypto compares two names value by
value after the string preparation of RFC 4518, parsing each value of a newly parsed name and preparing it
afresh: the preparations alone were a tenth of verifying the default seal (about a hundred and forty per
verification, of a dozen strings), and the comparisons around them as much again. ``install`` changes three things,
none of which changes an answer:

- the preparation is remembered per string, for a bounded number of strings. It is a function of the string
  alone (``NameTypeAndValue._ldap_string_prep`` reads nothing of its object); a string it refuses is refused
  again each time.
- two names encoded alike byte for byte are equal at once, as RFC 5280 (7.1) allows, once their values are known
  to be preparable (a name asn1crypto cannot prepare is refused as before): any comparison of their values can
  only find them equal. Names encoded otherwise are compared value by value, as before.
- a name's ``hashable`` form (the key it is filed under) is remembered per encoding, for a bounded number of
  encodings: it is computed from the encoding alone, the same for every object parsed from it. Two names filed
  under different keys are unequal at once: asn1crypto finds two names equal only when each of their RDNs has
  the same prepared value for each type, which is what the key is made of.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from asn1crypto.x509 import Name, NameTypeAndValue

from signer.library_patches import set_for_a_while

_prepare = NameTypeAndValue._ldap_string_prep
_equal = Name.__eq__
_hashable = Name.hashable.fget
_KEPT = 4096  # strings, and name encodings, remembered
_filed: dict[bytes, str] = {}


@functools.lru_cache(maxsize=_KEPT)
def prepared(string: str) -> str:
    result: str = _prepare(None, string)  # the object is not read
    return result


def _prepared(_self: NameTypeAndValue, string: str) -> str:
    return prepared(string)


def _equal_names(self: Name, other: object) -> bool:
    if not isinstance(other, Name):
        return bool(_equal(self, other))
    mine, theirs = self.dump(), other.dump()
    try:
        mine_key = _key(self, mine)
        theirs_key = mine_key if theirs == mine else _key(other, theirs)
    except Exception:  # a value that cannot be prepared: asn1crypto's comparison decides, or fails, as before
        return bool(_equal(self, other))
    if theirs == mine:
        return True
    if mine_key != theirs_key:
        return False
    return bool(_equal(self, other))


def _hashable_name(self: Name) -> str:
    return _key(self, self.dump())


def _key(name: Name, encoded: bytes) -> str:
    """``name``'s hashable form, ``encoded`` being its encoding."""
    found = _filed.get(encoded)
    if found is None:
        found = _hashable(name)
        if len(_filed) >= _KEPT:
            _filed.clear()
        _filed[encoded] = found
    return found


def install() -> None:
    NameTypeAndValue._ldap_string_prep = _prepared
    Name.__eq__ = _equal_names
    Name.hashable = property(_hashable_name)


def uninstalled() -> AbstractContextManager[None]:
    """asn1crypto's own comparison for a while: to time a library as it ships, in a process where this is
    installed."""
    return set_for_a_while(
        (NameTypeAndValue, "_ldap_string_prep", _prepare),
        (Name, "__eq__", _equal),
        (Name, "hashable", property(_hashable)),
    )
