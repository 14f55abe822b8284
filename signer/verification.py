"""What a bureau is told about a sealed PDF beyond the PAdES report: for each signature, the log entry that
recorded it, the inclusion proof of that entry against a signed checkpoint, and the approval chain read from
the log. From the service's own log (``logged``), or offline from a receipt the bureau holds (``receipt_check``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.models import Entry
from ledger.note import NoteError, Verifier, parse_checkpoint, parse_note
from ledger.proofs import LogReader
from ledger.receipt import ReceiptError, parse_receipt, verify_receipt
from signer import isolation, records
from signer.revocation import NO_SOURCES, Sources
from signer.validation import FAILED, INDETERMINATE, PASSED, NotSigned, VerifyError

_STEPS = ("request.", "seal.")
_NONE = "the receipt is for none of this document's signatures"
_NO_KEY = "no log key to check the receipt's checkpoint with"


def with_log(session: Session, reader: LogReader, report: dict[str, Any]) -> dict[str, Any]:
    """The report with a ``log`` section in each signature (None where the log has no such signature)."""
    for signature in report.get("signatures", []):
        signature["log"] = logged(session, reader, signature["signature_sha256"])
    return report


def logged(session: Session, reader: LogReader, signature_sha256: str) -> dict[str, Any] | None:
    sealing = records.by_signature(session, signature_sha256)
    if sealing is None:
        return None
    chain = approval_chain(session, sealing.subject)
    done = reader.integrated(session, sealing.event_id)
    if done is None:
        return {
            "included": False,
            "index": None,
            "checkpoint_size": None,
            "entry": None,
            "chain": chain,
            "sealed_sha256": sealing.sealed_sha256,
        }
    entry = reader.entry(session, done.index)
    root = parse_checkpoint(parse_note(done.checkpoint).text).root
    verify_inclusion(leaf_hash(entry.body), done.index, done.size, done.proof, root)
    receipt = records.receipt_text(done, entry.body)
    return {
        "included": True,
        "index": done.index,
        "checkpoint_size": done.size,
        "entry": json.loads(entry.body),
        "receipt": receipt,
        "chain": chain,
        "sealed_sha256": sealing.sealed_sha256,
    }


def approval_chain(session: Session, subject: str) -> list[dict[str, Any]]:
    """The subject's entries in log order: who asked, who approved at which level and when, the seal."""
    entries = session.scalars(select(Entry).where(Entry.subject == subject).order_by(Entry.idx))
    chain = []
    for entry in entries:
        body = json.loads(entry.body)
        if not body["type"].startswith(_STEPS):
            continue
        data = body.get("data", {})
        chain.append(
            {
                "index": entry.idx,
                "type": body["type"],
                "time": body["time"],
                "actor": body["actor"],
                "level": data.get("decided_level"),
                "decision": data.get("decision"),
            }
        )
    return chain


def receipt_check(text: str | bytes, signatures: Sequence[str], log_keys: Sequence[Verifier]) -> dict[str, Any]:
    """Check a receipt offline: its entry names one of ``signatures`` (SHA-256 of each CMS blob), its checkpoint
    is signed by the log, and the entry is included in that tree. ``problem`` says what failed, or is None;
    ``signature_sha256`` is the signature the entry names, when it is one of them."""
    try:
        receipt = parse_receipt(text)
    except ReceiptError as exc:
        return {"verified": False, "problem": f"the receipt is malformed: {exc}"}
    if receipt.extra is None:
        return {"verified": False, "problem": "the receipt carries no log entry"}
    try:
        entry = json.loads(receipt.extra)
    except ValueError:
        return {"verified": False, "problem": "the receipt's entry is not JSON"}
    data = entry.get("data") if isinstance(entry, dict) else None
    named = data.get("signature_sha256") if isinstance(data, dict) else None
    found = {"index": receipt.index, "entry": entry, "verified": False, "problem": None}
    if named not in signatures:
        return {**found, "problem": _NONE}
    found["signature_sha256"] = named
    if not log_keys:
        return {**found, "problem": _NO_KEY}
    try:
        checked = verify_receipt(receipt, receipt.extra, origin=None, log_verifiers=log_keys)
    except (ReceiptError, NoteError, ProofError) as exc:
        return {**found, "problem": f"the receipt does not verify: {exc}"}
    return {**found, "verified": checked.entry_checked, "checkpoint_size": checked.checkpoint.size}


# Why an upload cannot be verified, as ``UnverifiablePdf``'s ``kind`` names it.
KINDS = ("not-signed", "unreadable", "empty", "too-large", "no-file")


class UnverifiablePdf(Invalid):
    """The upload cannot be verified: not a PDF, encrypted, broken, unsigned, or too costly to read. The ``kind``
    extension says which (``KINDS``; too-large with its ``limit``), for a page to say it in its reader's language."""

    problem = "unverifiable-pdf"


def bureau_report(
    data: bytes,
    *,
    trust: Sequence[x509.Certificate],
    receipt: bytes | None = None,
    log_keys: Sequence[Verifier] = (),
    lookup: Callable[[str], dict[str, Any] | None] | None = None,
    memory: int = isolation.MEMORY,
    revocation: Sources = NO_SOURCES,
) -> dict[str, Any]:
    """The PAdES report with, per signature, what the log holds (``lookup``, on the service) and what a receipt
    the bureau brought proves (offline), summed up at the top in ``receipt`` (None when none was brought).

    A bureau that brings a receipt asks "was this seal logged?", and the indication answers it too. A receipt
    that is malformed, is not signed by the log's key, does not prove its entry, or names none of the document's
    signatures (a forgery, or the receipt of another document) answers no: TOTAL-FAILED, as a signature value that
    does not verify is, whatever the PAdES checks found. A receipt that cannot be checked for want of the log's
    key answers nothing: a report that passed becomes INDETERMINATE. The sub-indication is then None, as
    EN 319 102-1 names none for a log receipt; ``receipt.problem`` says what failed."""
    try:
        report = isolation.verify(data, trust=trust, memory=memory, revocation=revocation).to_json()
    except NotSigned as exc:
        raise UnverifiablePdf(str(exc), kind="not-signed") from None
    except VerifyError as exc:
        raise UnverifiablePdf(str(exc), kind="unreadable") from None
    for signature in report["signatures"]:
        signature["log"] = lookup(signature["signature_sha256"]) if lookup is not None else None
    _compare_with_the_sealed_file(report, data)
    report["receipt"] = None if receipt is None else _attach_receipt(report, receipt, log_keys)
    return report


def _compare_with_the_sealed_file(report: dict[str, Any], data: bytes) -> None:
    """The file against the one the log says was sealed: that file itself, or it with revisions appended (later
    signatures, revocation data, timestamps: what the modification analysis has judged). Anything else, a stripped
    or rewritten copy whose signature still verifies, is not what the log vouches for, and the report says so."""
    logged_files = {s["log"]["sealed_sha256"] for s in report["signatures"] if s.get("log")}
    if not logged_files:
        return
    versions = revision_hashes(data)
    for signature in report["signatures"]:
        log = signature.get("log")
        if not log:
            continue
        log["same_file"] = log["sealed_sha256"] == versions[-1]
        if log["sealed_sha256"] in versions:
            continue
        problem = (
            f"signature {signature['field']}: this file is not the sealed file the log records "
            f"(SHA-256 {log['sealed_sha256'][:16]}…), nor that file with revisions appended"
        )
        report["problems"].append(problem)
        if report["indication"] == PASSED:
            report["indication"], report["sub_indication"] = INDETERMINATE, "FORMAT_FAILURE"


def revision_hashes(data: bytes) -> list[str]:
    """SHA-256 of the file cut after each ``%%EOF`` (with each way its end of line may be counted), the whole
    file last; in one pass over the bytes."""
    ends = set()
    at = data.find(b"%%EOF")
    while at >= 0:
        end = at + 5
        ends.add(end)
        for eol in (b"\r\n", b"\n", b"\r"):
            if data.startswith(eol, end):
                ends.add(end + len(eol))
        at = data.find(b"%%EOF", end)
    found, digest, done, view = [], hashlib.sha256(), 0, memoryview(data)
    for end in sorted(e for e in ends if e < len(data)):
        digest.update(view[done:end])
        done = end
        found.append(digest.copy().hexdigest())
    digest.update(view[done:])
    found.append(digest.hexdigest())
    return found


def _attach_receipt(report: dict[str, Any], receipt: bytes, log_keys: Sequence[Verifier]) -> dict[str, Any]:
    """The receipt's check goes with the signature its entry names; the report's indication takes account of it.
    Returns the summary for the top of the report."""
    by_sha256 = {s["signature_sha256"]: s for s in report["signatures"]}
    check = receipt_check(receipt, list(by_sha256), log_keys)
    signature = by_sha256.get(check.get("signature_sha256", ""))
    if signature is not None:
        signature["receipt"] = check
    if not check["verified"] and report["indication"] != FAILED:
        if check["problem"] != _NO_KEY:
            report["indication"], report["sub_indication"] = FAILED, None
        elif report["indication"] == PASSED:
            report["indication"], report["sub_indication"] = INDETERMINATE, None
    return {
        "verified": check["verified"],
        "problem": check["problem"],
        "field": signature["field"] if signature is not None else None,
        "index": check.get("index"),
        "checkpoint_size": check.get("checkpoint_size"),
    }


def exit_code(indication: str) -> int:
    """``sealgate verify``'s exit status: 0 passed, 1 failed, 2 indeterminate (3 is an error)."""
    return {"TOTAL-PASSED": 0, "TOTAL-FAILED": 1}.get(indication, 2)
