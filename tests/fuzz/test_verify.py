"""``sealgate verify`` and the verifier behind it fuzzed with mutated signed PDFs from the corpus.

Every case ends, within VERIFY_SECONDS, in a report (TOTAL-PASSED, TOTAL-FAILED or INDETERMINATE) or the named
error UnverifiablePdf; the command exits 0, 1 or 2 with a report, or 3 with one line saying why, and never with a
traceback. A case that changed a byte some signature of its seed covers is never TOTAL-PASSED. The verification
is also fuzzed in this process, where an exception the child would hide shows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from typer.testing import CliRunner

from sealgate.cli import app
from signer.validation import FAILED, INDETERMINATE, PASSED, Report, VerifyError, validate
from signer.verification import UnverifiablePdf, bureau_report, exit_code
from tests.fuzz.corpus import SIGNED, TRUST, VERIFY_SECONDS, Case, cases, changes_signed_bytes, profile, signed_ranges

pytestmark = pytest.mark.xdist_group("timed")
INDICATIONS = {PASSED, FAILED, INDETERMINATE}


def _timed_report(case: Case) -> dict[str, object] | UnverifiablePdf:
    start = time.monotonic()
    try:
        outcome: dict[str, object] | UnverifiablePdf = bureau_report(case.data, trust=TRUST[case.seed])
    except UnverifiablePdf as error:
        outcome = error
    seconds = time.monotonic() - start
    assert seconds < VERIFY_SECONDS, f"{case!r} took {seconds:.1f} s"
    return outcome


@profile(examples=25)
@given(case=cases(SIGNED))
def test_the_verifier_reports_or_names_its_error(case: Case) -> None:
    outcome = _timed_report(case)
    if isinstance(outcome, UnverifiablePdf):
        assert outcome.detail, case
        return
    assert outcome["indication"] in INDICATIONS, case
    if changes_signed_bytes(case):
        assert outcome["indication"] != PASSED, f"{case!r} changed signed bytes and passed"


@profile(examples=400)
@given(case=cases(SIGNED))
def test_the_parsers_raise_only_named_errors(case: Case) -> None:
    """The verification itself, in this process: the child the service runs it in would turn any other exception
    into an opaque error, so an escape is caught here, where it happens."""
    start = time.monotonic()
    try:
        outcome: Report | VerifyError = validate(case.data, trust=TRUST[case.seed])
    except VerifyError as error:
        outcome = error
    seconds = time.monotonic() - start
    assert seconds < VERIFY_SECONDS, f"{case!r} took {seconds:.1f} s"
    if isinstance(outcome, VerifyError):
        assert str(outcome), case
    elif changes_signed_bytes(case):
        assert outcome.indication != PASSED, f"{case!r} changed signed bytes and passed"


@profile(examples=15)
@given(case=cases(SIGNED))
def test_the_command_exits_with_a_report_or_a_reason(case: Case, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = Path(tmp_path_factory.mktemp("verify"))
    path, anchors = directory / "sealed.pdf", directory / "trust.pem"
    path.write_bytes(case.data)
    anchors.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in TRUST[case.seed]))
    start = time.monotonic()
    done = CliRunner().invoke(app, ["verify", str(path), "--json", "--trust", str(anchors)])
    seconds = time.monotonic() - start
    assert seconds < VERIFY_SECONDS, f"{case!r} took {seconds:.1f} s"
    assert done.exception is None or isinstance(done.exception, SystemExit), f"{case!r}: {done.exception!r}"
    assert done.exit_code in (0, 1, 2, 3), case
    if done.exit_code == 3:
        assert done.stderr.startswith(f"sealgate: {path}: "), case
        assert done.stdout == "", case
        return
    report = json.loads(done.stdout)
    assert exit_code(report["indication"]) == done.exit_code, case
    if changes_signed_bytes(case):
        assert report["indication"] != PASSED, f"{case!r} changed signed bytes and passed"


def test_the_seeds_pass_unchanged() -> None:
    """The oracle's footing: each seed has the byte ranges the mutations are judged against and never fails
    unchanged; all but one pass (hello_signed_INCSAVE_signed.pdf is signed with a 1024-bit RSA key, which the
    verifier does not accept, so it is indeterminate)."""
    passed = set()
    for name, data in SIGNED.items():
        assert signed_ranges(data), name
        report = bureau_report(data, trust=TRUST[name])
        assert report["indication"] in (PASSED, INDETERMINATE), name
        if report["indication"] == PASSED:
            passed.add(name)
    assert passed == set(SIGNED) - {"dss/hello_signed_INCSAVE_signed.pdf"}
