"""Verifying a signed PDF: per signature integrity, coverage, certificate path, revocation, timestamp, PAdES level
and a strict modification analysis, with indications as ETSI EN 319 102-1 names them.

pyHanko validates the CMS, the certificate path (pyhanko-certvalidator) and the differences between revisions.
Its difference policy lets form filling and annotations through; a seal may not, so anything after a seal but
DSS updates, document timestamps and further signatures is reported here as a modification, never passed. Two
checks pyHanko does not make are added: each signed revision is rendered and compared with what the final file
shows (shadow attacks and swapped documents change no signed byte), unless what follows it provably draws
nothing, and annotations added after a seal may not overlap the ones it covered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signer import active_content, extensions, hex_strings, names, revocation, signature_checks, structure, visual
from signer.cms import der_length
from signer.modification_policy import SEAL_POLICY, covered_revision, draws_as_signed, filled_fields
from signer.objstm_reader import IndexedReader
from signer.revocation import NO_SOURCES, Sources

hex_strings.install()  # before any file is read: every reader of this process reads hex strings in C
names.install()  # every name of this process is compared cheaply where it can be
extensions.install()  # a certificate's extensions are parsed once per encoding
signature_checks.install()  # a signature that passed is not checked again with the same inputs

PASSED, FAILED, INDETERMINATE = "TOTAL-PASSED", "TOTAL-FAILED", "INDETERMINATE"
_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "contiguous_blocks_only",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_WHOLE = ("entire_file", "entire_revision")
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
# What pyHanko raises on a damaged file; AttributeError where it finds a null in place of a dictionary or stream.
_PARSER_ERRORS = (PdfError, ValueError, KeyError, TypeError, AttributeError, AssertionError, RecursionError)


class VerifyError(ValueError):
    """The file cannot be verified at all; the message says why."""


class NotSigned(VerifyError):
    pass


class UnreadablePdf(VerifyError):
    pass


@dataclass
class SignatureReport:
    field: str
    kind: str  # "signature" or "document_timestamp"
    revision: int
    signer: str | None
    certificate_serial: str | None
    certificate_sha256: str | None
    signing_time: str | None
    intact: bool
    valid: bool
    coverage: str
    modifications: list[str]
    trusted: bool
    trust_problem: str | None
    revoked: bool | None
    timestamp: dict[str, Any] | None
    pades_level: str | None
    signature_sha256: str
    indication: str
    sub_indication: str | None
    problems: list[str] = dataclasses.field(default_factory=list)
    revocation: revocation.Verdict | None = None


@dataclass
class Report:
    indication: str
    sub_indication: str | None
    signatures: list[SignatureReport]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(
    data: bytes,
    *,
    trust: Sequence[x509.Certificate] = (),
    trust_embedded: bool = False,
    moment: dt.datetime | None = None,
    revocation: Sources = NO_SOURCES,
) -> Report:
    """Verify every signature and document timestamp of ``data``. ``trust_embedded`` takes the certificates a
    signature carries as anchors (for test PKIs): the verdict then rests on integrity, coverage and changes.
    ``revocation`` adds revocation data to what the document carries, or lets it be fetched."""
    try:
        return _whole(data, trust=trust, trust_embedded=trust_embedded, moment=moment, sources=revocation)
    except UnreadablePdf as exc:
        return _unreadable_tail(
            data, exc, trust=trust, trust_embedded=trust_embedded, moment=moment, sources=revocation
        )


def _whole(
    data: bytes,
    *,
    trust: Sequence[x509.Certificate],
    trust_embedded: bool,
    moment: dt.datetime | None,
    sources: Sources,
) -> Report:
    reader = _reader(data)
    try:
        embedded = list(reader.embedded_signatures)
    except _PARSER_ERRORS as exc:
        raise UnreadablePdf(f"a signature cannot be read: {_message(exc)}") from None
    if not embedded:
        raise NotSigned("the PDF has no signature")
    anchors = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in trust]
    if trust_embedded:
        try:
            anchors += [c for sig in embedded for c in _certificates(sig)]
        except _PARSER_ERRORS as exc:  # asn1crypto parses the certificates only when asked
            raise UnreadablePdf(f"a signature's certificates cannot be read: {_message(exc)}") from None
    dss, stored = _dss(reader)
    contexts = functools.partial(_context, stored, anchors)
    whole = [found for found in (structure.trailing(data), structure.disagreement(reader, data)) if found]
    signatures = []
    for position, sig in enumerate(embedded):
        later = embedded[position + 1 :]
        try:
            sig.signed_revision = covered_revision(sig, data)
            report = _one(data, sig, later, contexts, moment, dss, sound=not whole)
            report.modifications.extend(whole)
            if report.kind == "signature":
                report.revocation = _revocation(stored, sig, report, anchors, moment, sources)
            signatures.append(_judged(report))
        except _PARSER_ERRORS as exc:
            raise UnreadablePdf(f"signature {sig.field_name} cannot be read: {_message(exc)}") from None
    return _overall(signatures, visual.overlapping(data) + active_content.warnings(data))


def _dss(reader: PdfFileReader) -> tuple[DocumentSecurityStore | None, revocation.Stored | None]:
    """The document security store, if any; one that cannot be read (an entry that is null where pyHanko wants a
    stream raises AttributeError) makes the file unreadable past its signed revision, like any other damage.
    What it holds is read here too, once: its certificates, OCSP responses and CRLs were read and parsed to
    read the store at all."""
    try:
        if "/DSS" not in reader.root:
            return None, None
        dss = DocumentSecurityStore.read_dss(reader)
        return dss, revocation.Stored.read(dss)
    except _PARSER_ERRORS as exc:
        raise UnreadablePdf(f"the document security store cannot be read: {_message(exc)}") from None


def _unreadable_tail(
    data: bytes,
    error: UnreadablePdf,
    *,
    trust: Sequence[x509.Certificate],
    trust_embedded: bool,
    moment: dt.datetime | None,
    sources: Sources,
) -> Report:
    """A file that cannot be read whole, but whose signed revision can: what was signed is reported, and every
    signature fails, since whatever follows it cannot even be parsed (an attack hiding content there)."""
    ends = sorted({int(m[3]) + int(m[4]) for m in _BYTE_RANGE.finditer(data)}, reverse=True)
    for end in (e for e in ends if 0 < e < len(data)):
        try:
            signed = validate(data[:end], trust=trust, trust_embedded=trust_embedded, moment=moment, revocation=sources)
        except VerifyError:
            continue
        change = f"the file goes on after the signed revision with content that cannot be read: {error}"
        for signature in signed.signatures:
            signature.coverage = "entire_revision" if signature.coverage == "entire_file" else signature.coverage
            signature.modifications.append(change)
            signature.problems.append(change)
            _with(signature, FAILED, "FORMAT_FAILURE")
        return _overall(signed.signatures, signed.problems)
    raise error


def _reader(data: bytes) -> PdfFileReader:
    try:
        reader = IndexedReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise UnreadablePdf("the PDF is encrypted")
        _ = reader.root
        return reader
    except _PARSER_ERRORS as exc:
        raise UnreadablePdf(f"the PDF cannot be read: {_message(exc)}") from None


def _message(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _certificates(sig: EmbeddedPdfSignature) -> list[asn1_x509.Certificate]:
    found = sig.signed_data["certificates"]
    return [c.chosen for c in found] if found.native is not None else []


def _context(
    stored: revocation.Stored | None,
    anchors: list[asn1_x509.Certificate],
    moment: dt.datetime | None,
    *,
    past: bool = False,
) -> Any:
    """Trust and the document's revocation data at ``moment``; ``past`` for a moment a timestamp proves, when
    revocation data made after it (at sealing, a few seconds on) speaks for it. A new context each time, as
    pyHanko's ``as_validation_context`` makes it, from the store's contents parsed once."""
    kwargs: dict[str, Any] = {"trust_roots": anchors, "allow_fetching": False, "revocation_mode": "soft-fail"}
    if moment is not None:
        kwargs["moment"] = moment
    if past:
        kwargs["retroactive_revinfo"] = True
    if stored is not None:
        return ValidationContext(
            other_certs=list(stored.certificates), ocsps=list(stored.ocsps), crls=list(stored.crls), **kwargs
        )
    return ValidationContext(**kwargs)


def _one(
    data: bytes,
    sig: EmbeddedPdfSignature,
    later: Sequence[EmbeddedPdfSignature],
    contexts: Callable[..., Any],
    moment: dt.datetime | None,
    dss: DocumentSecurityStore | None,
    *,
    sound: bool,
) -> SignatureReport:
    contents = _cms_bytes(bytes(sig.sig_object["/Contents"]))
    status: Any
    timestamp: dict[str, Any] | None
    if sig.sig_object_type == "/DocTimeStamp":
        status = _validated_timestamp(sig, contexts, moment)
        kind, timestamp = "document_timestamp", {"time": status.timestamp.isoformat(), "intact": status.intact}
        level = None
    else:
        status = _validated_signature(sig, contexts, moment)
        kind, timestamp = "signature", _timestamp(status)
        level = _level(timestamp, dss, later)
    coverage = _COVERAGE.get(status.coverage, "unclear")
    modifications = _modifications(data, sig, status, later, sound=sound)
    cert = status.signing_cert
    return SignatureReport(
        field=str(sig.field_name),  # pyHanko's string object would carry its whole reader along when pickled
        kind=kind,
        revision=sig.signed_revision,
        signer=cert.subject.human_friendly if cert is not None else None,
        certificate_serial=f"{cert.serial_number:x}" if cert is not None else None,
        certificate_sha256=hashlib.sha256(cert.dump()).hexdigest() if cert is not None else None,
        signing_time=sig.self_reported_timestamp.isoformat() if sig.self_reported_timestamp else None,
        intact=bool(status.intact),
        valid=bool(status.valid),
        coverage=coverage,
        modifications=modifications,
        trusted=bool(status.trusted),
        trust_problem=_name(status.trust_problem_indic),
        revoked=bool(getattr(status, "revoked", False)),
        timestamp=timestamp,
        pades_level=level,
        signature_sha256=hashlib.sha256(contents).hexdigest(),
        indication=PASSED,
        sub_indication=None,
    )


def _validated_signature(sig: EmbeddedPdfSignature, contexts: Callable[..., Any], moment: dt.datetime | None) -> Any:
    """pyHanko's verdict now; failing trust now, at the time its signature timestamp proves, if that timestamp
    holds there: a seal stays valid after the revocation data it carries has aged, as long-term validation means.
    The second validation keeps the difference analysis of the first: pyHanko holds it on the signature."""
    status = validate_pdf_signature(sig, contexts(moment), diff_policy=SEAL_POLICY)
    proven = None if status.trusted else _token_time(_signature_token(sig))
    if proven is None:
        return status
    past = contexts(proven, past=True)
    earlier = validate_pdf_signature(sig, past, ts_validation_context=past, skip_diff=True)  # diffed above
    stamp = earlier.timestamp_validity
    held = earlier.trusted and stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    return earlier if held else status


def _validated_timestamp(sig: EmbeddedPdfSignature, contexts: Callable[..., Any], moment: dt.datetime | None) -> Any:
    """A document timestamp now, or failing trust now, at its own time."""
    status = validate_pdf_timestamp(sig, validation_context=contexts(moment), diff_policy=SEAL_POLICY)
    proven = None if status.trusted else _token_time(sig.signed_data)
    if proven is None:
        return status
    earlier = validate_pdf_timestamp(sig, validation_context=contexts(proven, past=True), skip_diff=True)
    return earlier if earlier.trusted else status


def _signature_token(sig: EmbeddedPdfSignature) -> cms.SignedData | None:
    for attribute in sig.signer_info["unsigned_attrs"] or []:
        if attribute["type"].native == "signature_time_stamp_token":
            return attribute["values"][0]["content"]
    return None


def _token_time(token: cms.SignedData | None) -> dt.datetime | None:
    """The time a timestamp token states, before anything is checked: the validation at that time checks it."""
    if token is None:
        return None
    try:
        found = token["encap_content_info"]["content"].parsed["gen_time"].native
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, dt.datetime) else None


def _revocation(
    stored: revocation.Stored | None,
    sig: EmbeddedPdfSignature,
    report: SignatureReport,
    anchors: list[asn1_x509.Certificate],
    moment: dt.datetime | None,
    sources: Sources,
) -> revocation.Verdict | None:
    """The signer's path checked for revocation, when it reaches a trust anchor at all."""
    if not (report.trusted or report.revoked) or sig.signer_cert is None:
        return None
    proven = None
    if report.timestamp is not None and report.timestamp["intact"] and report.timestamp["trusted"]:
        proven = dt.datetime.fromisoformat(report.timestamp["time"])
    verdict = revocation.judge(
        sig.signer_cert,
        anchors,
        revocation.gathered(stored, sig, sources),
        claimed=sig.self_reported_timestamp,
        proven=proven,
        moment=moment,
        online=sources.online,
    )
    if report.revoked and verdict.indication is None:
        report.trusted = True  # revoked only after a proven signing time, for a reason that leaves the seal standing
    report.revoked = verdict.revoked
    return verdict


def _name(indication: object) -> str | None:
    return None if indication is None else str(getattr(indication, "name", indication))


def _cms_bytes(contents: bytes) -> bytes:
    """/Contents without its zero padding: cut at the DER length, or (BER, indefinite length) at the padding."""
    try:
        return contents[: der_length(contents)]
    except ValueError:
        return contents.rstrip(b"\x00")


def _timestamp(status: Any) -> dict[str, Any] | None:
    found = status.timestamp_validity
    if found is None:
        return None
    return {
        "time": found.timestamp.isoformat(),
        "intact": bool(found.intact and found.valid),
        "trusted": bool(found.trusted),
    }


def _level(timestamp: dict[str, Any] | None, dss: DocumentSecurityStore | None, later: Sequence[Any]) -> str:
    """The PAdES baseline level the signature reaches: B-T with a signature timestamp, B-LT with revocation
    data in the DSS, B-LTA with a document timestamp after it."""
    if timestamp is None:
        return "B-B"
    if dss is None or not (list(dss.ocsps) or list(dss.crls)):
        return "B-T"
    if any(s.sig_object_type == "/DocTimeStamp" for s in later):
        return "B-LTA"
    return "B-LT"


def _modifications(
    data: bytes, sig: EmbeddedPdfSignature, status: Any, later: Sequence[Any], *, sound: bool
) -> list[str]:
    """What changed after this signature beyond DSS updates, document timestamps and further signatures.
    ``sound``: nothing follows the last %%EOF and qpdf places every object where pyHanko does."""
    found: list[str] = []
    result = status.diff_result
    allowed = {s.field_name for s in later}
    if isinstance(result, SuspiciousModification):
        found.append(f"the document was changed after this signature: {_message(result)}")
    elif result is not None:
        end = sig.byte_range[-2] + sig.byte_range[-1]
        changed = sorted(filled_fields(data[:end], data, set(result.changed_form_fields) - allowed))
        if changed:
            found.append(f"form fields were filled or changed after this signature: {', '.join(changed)}")
        if result.modification_level >= ModificationLevel.ANNOTATIONS:
            found.append("annotations were added or changed after this signature")
        if result.modification_level == ModificationLevel.OTHER and not changed:
            found.append("the document was changed after this signature")
    end = sig.byte_range[-2] + sig.byte_range[-1]
    if end < len(data):
        # the difference analysis has run (its map of the signed revision's references is what the shortcut reads)
        # and two parsers agree on the final file: else the pages are rendered whatever the revisions contain
        alike = sound and isinstance(result, DiffResult) and draws_as_signed(sig.reader, sig.signed_revision)
        found.extend(visual.differences(data[:end], data, allowed, drawn_alike=alike))
    return found


def _judged(report: SignatureReport) -> SignatureReport:
    """The ETSI EN 319 102-1 indication: integrity and format first, then the certificate."""
    problems = report.problems
    if not report.intact:
        problems.append("the signed bytes were changed: their digest does not match the signature")
        return _with(report, FAILED, "HASH_FAILURE")
    if not report.valid:
        problems.append("the signature value does not verify")
        return _with(report, FAILED, "SIG_CRYPTO_FAILURE")
    if report.coverage not in _WHOLE:
        problems.append(f"the signature does not cover its whole revision ({report.coverage})")
        return _with(report, FAILED, "FORMAT_FAILURE")
    if report.modifications:
        problems.extend(report.modifications)
        return _with(report, FAILED, "FORMAT_FAILURE")
    verdict = report.revocation
    if verdict is not None and verdict.indication is not None:
        assert verdict.problem is not None, "a revocation verdict with an indication says its problem"
        assert verdict.sub_indication is not None, "and its sub-indication"
        problems.append(verdict.problem)
        return _with(report, verdict.indication, verdict.sub_indication)
    if report.revoked and verdict is None:
        problems.append("the signer's certificate is revoked")
        return _with(report, FAILED, "REVOKED")
    if not report.trusted:
        sub = report.trust_problem or "NO_CERTIFICATE_CHAIN_FOUND"
        problems.append(f"the certificate path cannot be validated ({sub})")
        return _with(report, INDETERMINATE, sub)
    if report.timestamp is not None and not report.timestamp["intact"]:
        problems.append("the signature timestamp does not verify")
        return _with(report, FAILED, "SIG_CRYPTO_FAILURE")
    return report


def _with(report: SignatureReport, indication: str, sub: str) -> SignatureReport:
    report.indication, report.sub_indication = indication, sub
    return report


def _overall(signatures: list[SignatureReport], problems: list[str]) -> Report:
    """The worst signature's indication; a problem of the document as a whole keeps it from passing."""
    for indication in (FAILED, INDETERMINATE):
        worst = next((s for s in signatures if s.indication == indication), None)
        if worst is not None:
            return Report(indication, worst.sub_indication, signatures, problems)
    if problems:
        return Report(INDETERMINATE, "FORMAT_FAILURE", signatures, problems)
    return Report(PASSED, None, signatures, problems)
