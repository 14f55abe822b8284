"""The verifier against real signed and attacked PDFs nobody here made (../shared/corpora/pdf), sorted as its
MANIFEST says: clean files pass (or are indeterminate for certificate reasons only), tampered ones never pass and
the problem in the document is named, malformed ones are an error within five seconds."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from signer.isolation import TIMEOUT, verify
from signer.validation import FAILED, PASSED, Report, VerifyError

# The corpus as shared beside the project (tests/signer/ -> tests/ -> project -> its parent), and the copy kept in
# the repository (its licences beside the files) for checkouts that stand alone.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "pdf"
KEPT = Path(__file__).resolve().parent / "corpus"
CORPUS = SHARED if SHARED.is_dir() else KEPT
ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
# Timed: one group with the end-to-end tests, so their servers and machines never run beside it on another worker.
pytestmark = pytest.mark.xdist_group("timed")


def test_the_kept_copy_is_the_shared_corpus() -> None:
    if not SHARED.is_dir():
        pytest.skip("no shared corpus beside this checkout")
    for row in ROWS:
        assert (KEPT / row["file"]).read_bytes() == (SHARED / row["file"]).read_bytes(), row["file"]


def judged(path: Path) -> tuple[Report | None, VerifyError | None, float]:
    start = time.monotonic()
    try:
        return verify(path.read_bytes(), trust_embedded=True), None, time.monotonic() - start
    except VerifyError as exc:
        return None, exc, time.monotonic() - start


def named_problem(report: Report) -> list[str]:
    """Problems of the document itself, not of a certificate."""
    found = list(report.problems)
    for s in report.signatures:
        if not s.intact:
            found.append(f"{s.field}: not intact")
        if s.coverage not in ("entire_file", "entire_revision"):
            found.append(f"{s.field}: coverage {s.coverage}")
        found.extend(s.modifications)
    return found


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_the_corpus_is_sorted_as_its_manifest_says(row: dict[str, str]) -> None:
    report, error, seconds = judged(CORPUS / row["file"])
    # Five seconds are the verifier's own limit (TIMEOUT, on the child): past it a file is an error, which fails a
    # clean file's row below. This bound catches a limit that does not hold, with room for a loaded machine to
    # fork and read the file, which the child's clock does not count.
    assert seconds < 2 * TIMEOUT, f"{row['file']} took {seconds:.1f} s"
    if row["class"] == "malformed":
        assert error is not None, f"{row['file']} gave {report and report.indication}"
        assert str(error)
        return
    if row["class"] == "clean":
        assert error is None, str(error)
        assert report is not None
        assert report.indication != FAILED
        for s in report.signatures:
            assert s.intact
            assert s.coverage in ("entire_file", "entire_revision")
            assert s.modifications == []
            assert s.indication != FAILED
        return
    # tampered: never passed, with the problem in the document named (a file whose attacked structure cannot
    # even be parsed is an error whose message names that structure)
    if error is not None:
        assert "cannot be read" in str(error)
        return
    assert report is not None
    assert report.indication != PASSED
    assert named_problem(report), report.to_json()
