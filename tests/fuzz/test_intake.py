"""The upload check fuzzed with mutated corpus PDFs: every case is a checked PDF or a DocumentRefused saying why,
within INTAKE_SECONDS, by both ways in (bytes from a form, a file on disk)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given

from tests.fuzz.corpus import INTAKE_SECONDS, SIGNED, UPLOAD, Case, cases, profile
from workflow.documents import CheckedPdf, DocumentRefused, check_upload, check_upload_file

pytestmark = pytest.mark.xdist_group("timed")
LIMIT = 20 * 2**20


def _outcome(case: Case, check: str) -> CheckedPdf | DocumentRefused:
    start = time.monotonic()
    try:
        if check == "bytes":
            outcome: CheckedPdf | DocumentRefused = check_upload(case.data, max_bytes=LIMIT)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload.pdf"
                path.write_bytes(case.data)
                outcome = check_upload_file(path, max_bytes=LIMIT)
    except DocumentRefused as refused:
        outcome = refused
    seconds = time.monotonic() - start
    assert seconds < INTAKE_SECONDS, f"{case!r} took {seconds:.1f} s"
    return outcome


@profile(examples=300)
@given(case=cases({**UPLOAD, **SIGNED}))
def test_a_mutated_upload_is_checked_or_refused(case: Case) -> None:
    by_bytes, by_file = _outcome(case, "bytes"), _outcome(case, "file")
    if isinstance(by_bytes, DocumentRefused):
        assert by_bytes.detail, case
        assert isinstance(by_file, DocumentRefused), case
        assert by_file.detail == by_bytes.detail, case
    else:
        assert by_file == by_bytes, case
        assert by_bytes.pages > 0
        assert by_bytes.size == len(case.data)


def test_the_seeds_are_what_the_fuzzer_thinks() -> None:
    """Both upload seeds pass the check, so mutations start from files the service takes."""
    for name, data in UPLOAD.items():
        assert isinstance(check_upload(data, max_bytes=LIMIT), CheckedPdf), name
