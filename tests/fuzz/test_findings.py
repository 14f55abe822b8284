"""Cases the fuzzers found, kept as tests of the fixes they led to."""

from __future__ import annotations

import io
import logging

import pikepdf
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signer import visual
from signer.validation import FAILED, UnreadablePdf, validate
from tests.fuzz.corpus import SIGNED

pytestmark = pytest.mark.xdist_group("timed")


def _flipped(name: str, *flips: tuple[int, int]) -> bytes:
    data = bytearray(SIGNED[name])
    for at, mask in flips:
        data[at] ^= mask
    return bytes(data)


def test_a_security_store_with_a_null_entry_is_damage_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """One byte of doc-firmado's document security store flipped leaves a null where pyHanko reads a CRL stream:
    it raised AttributeError out of the verifier. The DSS follows the signature, so the signed revision is
    judged, and fails for the unreadable content after it."""
    data = _flipped("dss/doc-firmado.pdf", (42934, 147))
    with pytest.raises(AttributeError):  # the case still reaches the pyHanko behaviour it guards against
        DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data), strict=False))
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    report = validate(data, trust_embedded=True)
    assert report.indication == FAILED
    assert any("document security store cannot be read" in p for s in report.signatures for p in s.problems)


def test_a_file_qpdf_cannot_read_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """Three flipped bytes leave a file pyHanko reads and qpdf cannot ("unable to find page tree"): the check
    for overlapping annotations raised qpdf's error out of the verifier. It is now a problem of the document."""
    data = _flipped("dss/dss-2554/certified-changes-permitted.pdf", (75491, 110), (396, 145), (35044, 22))
    with pytest.raises(pikepdf.PdfError):
        pikepdf.open(io.BytesIO(data)).close()
    assert visual.overlapping(data) == [
        "the PDF cannot be checked for overlapping annotations: unable to find page tree"
    ]
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    assert validate(data).indication == FAILED


def test_certificates_that_cannot_be_parsed_are_a_named_error(caplog: pytest.LogCaptureFixture) -> None:
    """Two flipped bytes in hello_signed_INCSAVE_signed.pdf break a certificate the signature carries: asked to
    trust the embedded certificates, the verifier raised asn1crypto's ValueError."""
    data = _flipped("dss/hello_signed_INCSAVE_signed.pdf", (198558, 39), (164157, 9))
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    with pytest.raises(UnreadablePdf, match="certificates cannot be read"):
        validate(data, trust_embedded=True)


def test_a_null_where_pyhanko_wants_a_dictionary_fails_the_signature(caplog: pytest.LogCaptureFixture) -> None:
    """Six flipped bytes in hello_signed_INCSAVE_signed.pdf leave a null in the page tree; pyHanko's modification
    analysis raised AttributeError ('NullObject' has no attribute 'get') out of the verifier."""
    data = _flipped(
        "dss/hello_signed_INCSAVE_signed.pdf",
        (103494, 92),
        (85303, 185),
        (130173, 37),
        (132782, 147),
        (195847, 75),
        (193765, 100),
    )
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    report = validate(data)
    assert report.indication == FAILED
    assert any("NullObject" in p for s in report.signatures for p in s.problems)


def test_a_certificate_asn1crypto_half_parses_is_a_named_error(caplog: pytest.LogCaptureFixture) -> None:
    """Three flipped bytes in doc-firmado.pdf leave a certificate whose parts asn1crypto cannot name: asked to trust
    the embedded certificates in the signed revision (tried when the whole file cannot be read), the verifier
    raised its AttributeError ('InstanceOf' has no attribute 'native')."""
    data = _flipped("dss/doc-firmado.pdf", (8971, 10), (40543, 93), (68189, 207))
    caplog.set_level(logging.CRITICAL, logger="pyhanko")
    with pytest.raises(UnreadablePdf):  # the whole file's error: its signed revision, tried next, failed so
        validate(data, trust_embedded=True)
