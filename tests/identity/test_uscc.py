"""GB 32100-2015 unified social credit codes."""

from __future__ import annotations

import pytest

from identity.uscc import ALPHABET, InvalidUSCC, check_character, validate


def test_known_good_code() -> None:
    assert validate("91350100M000100Y43") == "91350100M000100Y43"


def test_wrong_check_character_names_the_expected_one() -> None:
    with pytest.raises(InvalidUSCC) as caught:
        validate("91350203M0001QAY9B")
    assert caught.value.extensions["expected"] == "9"
    assert "expected '9'" in caught.value.detail
    assert validate("91350203M0001QAY99") == "91350203M0001QAY99"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_excluded_letters(letter: str) -> None:
    body = "91350100M00010" + letter + "Y4"
    with pytest.raises(InvalidUSCC, match=repr(letter)):
        validate(body + "3")


@pytest.mark.parametrize("code", ["91350100m000100y43", "91350100M000100Y4", "91350100M000100Y433", ""])
def test_lower_case_and_wrong_length(code: str) -> None:
    with pytest.raises(InvalidUSCC):
        validate(code)


def test_every_single_character_change_is_caught() -> None:
    good = "91350100M000100Y43"
    for i in range(17):
        for ch in ALPHABET:
            if ch != good[i]:
                mutated = good[:i] + ch + good[i + 1 :]
                assert check_character(mutated[:17]) != good[17]
