"""Names in an update are written as qpdf writes them, escapes included, however often they are written."""

from __future__ import annotations

import pytest
from pikepdf import Dictionary, Name, Object

from signer.incremental import dictionary, name


@pytest.mark.parametrize("key", ["/Type", "/A B", "/Hash#Sign", "/Paren(s)", "/水南"])
def test_a_name_is_written_as_qpdf_writes_it_every_time(key: str) -> None:
    assert name(key) == Name(key).unparse()
    assert name(key) == Name(key).unparse()  # remembered, unchanged


def test_a_dictionary_of_escaped_names_parses_back() -> None:
    parsed = Object.parse(dictionary({"/A B": b"1", "/C#D": b"(x)"}))
    assert isinstance(parsed, Dictionary)
    assert parsed[Name("/A B")] == 1
    assert str(parsed[Name("/C#D")]) == "x"
