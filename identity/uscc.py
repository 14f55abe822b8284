"""The unified social credit code (统一社会信用代码) of GB 32100-2015.

Eighteen characters from a 31-symbol alphabet without I, O, S, V and Z; the last is a check character over the
first seventeen with weights 3^i mod 31. Written by hand: the rule is ten lines and no maintained library has it.
"""

from __future__ import annotations

from core.errors import Invalid

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


class InvalidUSCC(Invalid):
    problem = "invalid-uscc"


def check_character(first17: str) -> str:
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate(code: str) -> str:
    """Return the code if it is well formed; otherwise raise InvalidUSCC saying what is wrong."""
    if len(code) != 18:
        raise InvalidUSCC(f"a unified social credit code has 18 characters, {code!r} has {len(code)}")
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        raise InvalidUSCC(
            f"{code!r} contains {', '.join(repr(c) for c in bad)}; allowed are digits and upper-case letters "
            "other than I, O, S, V, Z"
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(f"check character of {code!r} is {code[17]!r}, expected {expected!r}", expected=expected)
    return code
