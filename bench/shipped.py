"""Baselines timed as their libraries ship: ``signer.validation`` replaces pyHanko's reading of hex strings and
check of signatures, and asn1crypto's comparison of names and parse of certificate extensions, in every process
that imports it, which would speed the baselines too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from signer import extensions, hex_strings, names, signature_checks

T = TypeVar("T")


def as_shipped(call: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        with hex_strings.uninstalled(), names.uninstalled(), extensions.uninstalled(), signature_checks.uninstalled():
            return call()

    return run
