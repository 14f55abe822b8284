"""Cases the fuzzers found, kept as tests of the fixes they led to."""

from __future__ import annotations

import io
import logging

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signer.validation import FAILED, validate
from tests.fuzz.corpus import SIGNED

pytestmark = pytest.mark.xdist_group("timed")


def _flipped(name: str, at: int, mask: int) -> bytes:
    data = bytearray(SIGNED[name])
    data[at] ^= mask
    return bytes(data)


def test_a_security_store_with_a_null_entry_is_damage_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """One byte of doc-firmado's document security store flipped leaves a null where pyHanko reads a CRL stream:
    it raised AttributeError out of the verifier. The DSS follows the signature, so the signed revision is
    judged, and fails for the unreadable content after it."""
    data = _flipped("dss/doc-firmado.pdf", 42934, 147)
    with pytest.raises(AttributeError):  # the case still reaches the pyHanko behaviour it guards against
        DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data), strict=False))
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    report = validate(data, trust_embedded=True)
    assert report.indication == FAILED
    assert any("document security store cannot be read" in p for s in report.signatures for p in s.problems)
