"""Names compare and file as asn1crypto's own code compares and files them, whatever shortcut was taken."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable

from asn1crypto import x509

from signer import names


def _rdn(*pairs: tuple[str, x509.DirectoryString]) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameTypeAndValue({"type": t, "value": v}) for t, v in pairs])


def _name(*rdns: x509.RelativeDistinguishedName) -> x509.Name:
    return x509.Name.load(x509.Name(name="", value=x509.RDNSequence(list(rdns))).dump())


def _utf8(text: str) -> x509.DirectoryString:
    return x509.DirectoryString(name="utf8_string", value=text)


def _printable(text: str) -> x509.DirectoryString:
    return x509.DirectoryString(name="printable_string", value=text)


NAMES = [
    x509.Name.build({"common_name": "水南村村民委员会", "organization_name": "sealgate"}),
    x509.Name.build({"common_name": "水南村村民委员会", "organization_name": "sealgate"}),  # the same, parsed apart
    x509.Name.build({"common_name": "Seal  Office", "organization_name": "sealgate"}),
    x509.Name.build({"common_name": "seal office", "organization_name": "SEALGATE"}),  # equal after preparation
    x509.Name.build({"common_name": "seal office"}),
    _name(_rdn(("common_name", _printable("Seal Office")))),
    _name(_rdn(("common_name", _utf8("seal office")))),  # another string type, the same name
    _name(_rdn(("common_name", _utf8("a")), ("common_name", _utf8("b")))),  # one RDN, one type twice
    _name(_rdn(("common_name", _utf8("b")))),  # files under the key of the one before, yet differs
    _name(_rdn(("common_name", _utf8("b")), ("organization_name", _utf8("c")))),
    _name(_rdn(("organization_name", _utf8("c"))), _rdn(("common_name", _utf8("b")))),
    _name(),
    x509.Name.build({"common_name": "水南\ufffd村"}),  # a value RFC 4518 refuses to prepare
    x509.Name.build({"common_name": "崖州\ufffd区"}),
]


def _answer(ask: Callable[..., object], *names_asked: x509.Name) -> object:
    """What asking gives: the answer, or the kind of refusal, which must match too."""
    try:
        return bool(ask(*names_asked))
    except Exception as exc:  # a name that cannot be prepared is refused alike both ways
        return type(exc).__name__


def test_equality_and_keys_are_asn1cryptos() -> None:
    names.install()
    for a, b in itertools.product(NAMES, repeat=2):
        assert _answer(operator.eq, a, b) == _answer(names._equal, a, b), (a.dump(), b.dump())
        assert _answer(operator.ne, a, b) == _answer(lambda x, y: not names._equal(x, y), a, b)
    for name in NAMES:
        assert _answer(lambda n: n.hashable, name) == _answer(names._hashable, name)
    assert _answer(operator.eq, NAMES[-1], NAMES[-1]) == "ValueError"
    assert _answer(operator.eq, NAMES[-1], NAMES[-2]) == "ValueError"
    assert _answer(operator.eq, NAMES[-1], NAMES[0]) is False


def test_the_shortcuts_are_taken_both_ways() -> None:
    names.install()
    first, second, third = NAMES[0], NAMES[1], NAMES[4]
    assert first is not second
    assert first.dump() == second.dump()
    assert first == second
    assert first != third
    assert NAMES[2].dump() != NAMES[3].dump()
    assert NAMES[2] == NAMES[3], "equal names encoded apart"
    assert NAMES[7].hashable == NAMES[8].hashable
    assert NAMES[7] != NAMES[8], "one key, and yet different"


def test_asn1cryptos_own_comparison_for_a_while() -> None:
    names.install()
    with names.uninstalled():
        assert x509.Name.__eq__ is names._equal
        assert NAMES[7] != NAMES[8]
    assert x509.Name.__eq__ is names._equal_names
