"""Resident identity card numbers (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.

Hand-written: the rule is a weighted sum; no maintained library checks it.
"""

from __future__ import annotations

import datetime as dt
import re

from core.errors import Invalid

_FORM = re.compile(r"^[1-9]\d{16}[\dX]$")
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"


class InvalidIdNumber(Invalid):
    problem = "invalid-id-number"


def validate(number: str) -> str:
    if not _FORM.match(number):
        raise InvalidIdNumber("an ID number is 17 digits and a digit or X")
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"{number[6:14]} in an ID number is not a date of birth") from None
    expected = _CHECK[sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True)) % 11]
    if number[17] != expected:
        raise InvalidIdNumber(f"the check character of the ID number is {number[17]!r}, expected {expected!r}")
    return number


def mask(value: str, keep_start: int = 4, keep_end: int = 4) -> str:
    """Show only the ends, as Chinese services print ID and social-security numbers."""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_name(name: str) -> str:
    return name if len(name) <= 1 else name[0] + "*" * (len(name) - 1)
