"""Canonical JSON is byte for byte what the ``rfc8785`` reference writes, on its fast path and off it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from core import canonical_json
from ledger.entry import Event, encode
from tests.conftest import T0

# Every code point, lone surrogates included.
_ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None)
_TEXT = st.text(_ANY_CHAR, max_size=12) | st.text(st.characters(max_codepoint=0x7F), max_size=12)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats()
    | _TEXT
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


def _outcome(write: Any, value: Any) -> bytes | type[BaseException]:
    try:
        return bytes(write(value))
    except ValueError as exc:  # CanonicalizationError, or UnicodeEncodeError for a lone surrogate in a key
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(_VALUES)
def test_the_same_bytes_or_the_same_refusal_as_the_reference(value: Any) -> None:
    assert _outcome(canonical_json.dumps, value) == _outcome(rfc8785.dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # code point order and UTF-16 order disagree
        {"b": '\x00\x1f\x7f\u2028"\\\b\f\n\r\t', "a": [True, False, None, -(2**53) + 1, 2**53 - 1]},
        {"n": 2**53},  # outside the integers JSON numbers hold exactly: refused
        {"f": 1e21, "g": 0.1, "h": -0.0},  # numbers in ECMAScript's form
        {"s": "\ud800"},  # a lone surrogate: refused
        ("a", "b"),
    ],
)
def test_the_values_where_the_standard_encoder_would_differ(value: Any) -> None:
    assert _outcome(canonical_json.dumps, value) == _outcome(rfc8785.dumps, value)


def test_a_log_entry_takes_the_fast_path_and_keeps_its_bytes() -> None:
    event = Event("request.decided", "request:7", "user:3", {"level": 1, "comment": "同意", "to": None}, T0)
    body = encode(event, None)
    assert canonical_json._plain(json.loads(body))
    assert body == rfc8785.dumps(json.loads(body))


def test_a_huge_value_is_written_and_one_nested_beyond_the_stack_is_refused_as_by_the_reference() -> None:
    big: dict[str, Any] = {"form": "村" * 1_000_000, "n": list(range(10_000))}
    assert canonical_json.dumps(big) == rfc8785.dumps(big)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        rfc8785.dumps(deep)
    with pytest.raises(RecursionError):
        canonical_json.dumps(deep)
