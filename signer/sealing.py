"""Sealing a stored document with a seal, in the caller's transaction: checks, signature, long-term validation
data, the sealed file in the blob store, and the log entry that names document, signature, seal and certificate.

A seal that is suspended, has no certificate in force, or whose key is gone from the token refuses with the
reason, before anything is written. The sealed file is stored before the transaction commits; if the commit
fails, an unreferenced blob is left, never a logged seal without its file.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography import x509
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from ca.models import Certificate, Seal
from ca.ocsp import Responder, Status
from ca.seals import SealForm, SealStatus, current_certificate
from ca.tsa import TimeStampAuthority
from core import deferred
from core.blobs import BlobStore
from core.db import once_per_transaction
from core.keystore import Keystore
from core.private import make_directory
from core.settings import CaSettings
from ledger.append import Appended, append
from ledger.entry import Event
from signer import ltv
from signer.appearance import round_seal
from signer.cms import SealTemplate
from signer.incremental import Original, open_original
from signer.models import Sealing
from signer.pades import Options, Placement, Sealer, SealingRefused, is_signed
from signer.placement import Anchor, Located, find_anchor, seal_box
from signer.revinfo import RevinfoCache

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
_WORK = ".pdf"  # a work file's suffix, after its process and thread
MARGIN = 56.7  # 20 mm from the page edges for a seal placed without an anchor
_RECORD = insert(Sealing)


@dataclass(frozen=True)
class Request:
    """What to seal and how: the stored document, the log subject it belongs to, and the seal's placing."""

    document_sha256: str
    subject: str
    actor: str
    details: dict[str, object] = field(default_factory=dict)  # more for the log entry (a request number, say)
    qr_url: str | None = None
    purpose: str | None = None  # a special-purpose seal's purpose line (财务专用章), as its kind says; None: 公章
    anchor: str | None = None
    located: Located | None = None  # where the anchor is, from the document's rendering: not searched then
    certify: bool = False
    paging: bool = False
    reason: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Sealed:
    """What was sealed: the row of ``signer_sealings`` is written with the caller's next statement, and read
    back by nobody here (hence no id)."""

    sealed_sha256: str
    signature_sha256: str
    level: str
    entry: Appended
    certificate_serial: str


@dataclass
class Office:
    """What sealing needs from the service, and the prepared sealers, one per seal certificate."""

    keystore: Keystore
    authority: Authority
    responder: Responder
    tsa: TimeStampAuthority
    blobs: BlobStore
    ca_settings: CaSettings
    work_dir: Path
    level: str = "B-LTA"
    _sealers: dict[tuple[str, str | None], Sealer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"PAdES level {self.level!r} is not one of {', '.join(LEVELS)}")
        _forget_work_files(self.work_dir)

    def sealer(self, seal: Seal, certificate: Certificate, purpose: str | None = None) -> Sealer:
        """The sealer of a certificate, drawing the seal's name along the arc and ``purpose`` under the star."""
        with self._lock:
            found = self._sealers.get((certificate.sha256, purpose))
            if found is None:
                assert certificate.key_label is not None, "a usable certificate has its key in the token"
                template = SealTemplate(x509.load_der_x509_certificate(certificate.der), self.authority.chain)
                art = round_seal(seal.name, purpose=purpose)
                found = Sealer(self.keystore, certificate.key_label, template, art, self._tokens)
                self._sealers[(certificate.sha256, purpose)] = found
            return found

    @cached_property
    def _tokens(self) -> ltv.TsaTokens:
        return ltv.TsaTokens(self.tsa)

    def _work_file(self) -> tuple[Path, int]:
        """This thread's file for the sealed document while it is made, open for writing from its start. It is
        kept from one seal to the next: making a new file for each seal cost more than writing the document to it
        (the file system allocates an inode, then frees it). Those of processes that ended are removed when an
        office is made."""
        path = self.work_dir / f"{os.getpid()}-{threading.get_ident()}{_WORK}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW  # a link put in its place is refused, not written through
        try:
            return path, os.open(path, flags, 0o600)
        except FileNotFoundError:
            make_directory(self.work_dir)
            return path, os.open(path, flags, 0o600)

    @cached_property
    def _revinfo(self) -> RevinfoCache:
        return RevinfoCache(self.responder)

    def seal(self, session: Session, seal: Seal, request: Request, now: dt.datetime) -> Sealed:
        certificate = _usable_certificate(session, self.keystore, seal, now)
        sealer = self.sealer(seal, certificate, request.purpose)
        tsa_status = (
            once_per_transaction(session, "tsa-status", lambda: _tsa_status(session, self.tsa.certificate))
            if self.level != "B-B"
            else None
        )
        source = self.blobs.path(request.document_sha256)
        target, fd = self._work_file()
        # One reading of the document's structure serves placing, certifying and sealing.
        with os.fdopen(fd, "wb") as out, open_original(source) as original:
            options = Options(
                placement=_placement(
                    original, request.anchor, request.located, sealer.size, sealer.width(request.qr_url is not None)
                ),
                paging=request.paging,
                certify=request.certify and not is_signed(original),  # a signed upload is sealed, not certified
                qr_url=request.qr_url,
                reason=request.reason,
                location=request.location,
                timestamp=self.level != "B-B",
            )
            done = sealer.seal_opened(original, out, options, now)
            out.truncate()  # what the previous seal left past this document's end
        if self.level in ("B-LT", "B-LTA"):
            assert tsa_status is not None
            data = self.revocation_data(session, sealer, _status(certificate), tsa_status, now)
            ltv.add_revocation_data(target, done.contents, data, done.whole)
        if self.level == "B-LTA":
            ltv.add_document_timestamp(target, self._tokens, done.whole)
        with target.open("rb") as f:
            stored = self.blobs.put_stream(f)
        if stored.sha256 != done.whole.hexdigest():
            raise SealingRefused("the sealed file changed on disk while it was being stored")
        details: dict[str, object] = {
            **request.details,
            "seal": seal.id,
            "certificate": certificate.serial,
            "document_sha256": request.document_sha256,
            "sealed_sha256": stored.sha256,
            "signature_sha256": done.signature_sha256,
            "field": done.field,
            "level": self.level,
        }
        entry = append(session, Event("seal.applied", request.subject, request.actor, details, now), fresh=True)
        row = {
            "subject": request.subject,
            "seal_id": seal.id,
            "certificate_id": certificate.id,
            "document_sha256": request.document_sha256,
            "sealed_sha256": stored.sha256,
            "signature_sha256": done.signature_sha256,
            "level": self.level,
            "event_id": entry.event_id,
            "created_at": now,
        }
        deferred.write(session.connection(), _RECORD, row)
        return Sealed(stored.sha256, done.signature_sha256, self.level, entry, certificate.serial)

    def revocation_data(
        self, session: Session, sealer: Sealer, seal_status: Status, tsa_status: Status, now: dt.datetime
    ) -> ltv.RevocationData:
        """Everything a verifier trusting the root alone needs offline: every certificate of the seal's and the
        TSA's paths and the OCSP responder's, OCSP responses for the seal and the TSA, the issuing CA's CRL, and
        the root's ARL for the issuing CA."""
        issuing = self.authority.issuing.certificate
        seal_certificate = sealer.template.certificate
        tsa_certificate = self.tsa.certificate
        responses = [
            self._revinfo.ocsp(seal_certificate, issuing, seal_status, now),
            self._revinfo.ocsp(tsa_certificate, issuing, tsa_status, now),
        ]
        return ltv.RevocationData(
            certificates=[seal_certificate, tsa_certificate, self.authority.ocsp.certificate, *self.authority.chain],
            ocsp_responses=responses,
            crls=self._revinfo.crls(session, self.authority.revocation_issuers(self.ca_settings), now),
        )


def _forget_work_files(work_dir: Path) -> None:
    """Remove the work files (``Office._work_file``) of processes that have ended, and any other file left in
    ``work_dir``: each holds the last document one of their threads sealed."""
    for path in work_dir.glob("*"):
        pid, dash, _ = path.name.partition("-")
        if not path.is_file() or (path.name.endswith(_WORK) and dash and pid.isdigit() and _running(int(pid))):
            continue
        path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def _status(row: Certificate) -> Status:
    return Status(row.revoked_at, row.revocation_reason, True)


def _tsa_status(session: Session, certificate: x509.Certificate) -> Status:
    """The TSA certificate's revocation status as this transaction sees it (the OCSP responder's book reads the
    database on its own connection, which a writing transaction on SQLite would block). A revoked TSA stamps no
    seal: its timestamps would prove nothing."""
    row = session.scalar(select(Certificate).where(Certificate.serial == f"{certificate.serial_number:x}"))
    if row is None:
        return Status(None, None, False)
    if row.revoked_at is not None:
        raise SealingRefused(
            f"the timestamp authority's certificate was revoked on {row.revoked_at:%Y-%m-%d}: {row.revocation_reason}"
        )
    return _status(row)


def _anchored(original: Original, anchor: str, located: Located | None) -> Anchor | None:
    """The anchor's place as the document's rendering ``located`` it, else as PDFium finds it: loading the page's
    fonts is most of what PDFium spends on a seal. A place on a page the document does not have is searched for."""
    pages = len(original.pdf.pages)
    if located is not None and located.text == anchor and (located.found is None or 0 <= located.found.page < pages):
        return located.found
    return find_anchor(original.path, anchor)


def _usable_certificate(session: Session, keystore: Keystore, seal: Seal, now: dt.datetime) -> Certificate:
    if seal.form == SealForm.PHYSICAL:
        raise SealingRefused(f"seal {seal.name} ({seal.id}) is physical only")
    if seal.status != SealStatus.ACTIVE:
        raise SealingRefused(f"seal {seal.name} ({seal.id}) is {seal.status}")
    certificate = once_per_transaction(
        session, ("seal-certificate", seal.id), lambda: current_certificate(session, seal.id, share=True)
    )
    if certificate is None:
        latest = session.scalars(
            select(Certificate).where(Certificate.seal_id == seal.id).order_by(Certificate.id.desc()).limit(1)
        ).first()
        if latest is not None and latest.revoked_at is not None:
            raise SealingRefused(
                f"the certificate of seal {seal.name} ({latest.serial}) was revoked on "
                f"{latest.revoked_at:%Y-%m-%d}: {latest.revocation_reason}"
            )
        raise SealingRefused(f"seal {seal.name} ({seal.id}) has no certificate")
    if certificate.not_after <= now:
        raise SealingRefused(f"the certificate of seal {seal.name} expired on {certificate.not_after:%Y-%m-%d}")
    if certificate.not_before > now:
        raise SealingRefused(f"the certificate of seal {seal.name} is valid from {certificate.not_before:%Y-%m-%d}")
    if certificate.key_label is None or not keystore.has(certificate.key_label):
        raise SealingRefused(f"the key of seal {seal.name} is missing from the token")
    return certificate


def _placement(original: Original, anchor: str | None, located: Located | None, size: float, width: float) -> Placement:
    """Over the anchor text where the document has it, else in the bottom right corner of the last page. qpdf
    has opened ``original`` (refusing what cannot be sealed) before PDFium reads it."""
    _, y0, x1, _ = (float(v) for v in original.pdf.pages[-1].mediabox)
    if anchor is not None and (found := _anchored(original, anchor, located)) is not None:
        page, x, y = seal_box(found, size)
        return Placement(page, x, y)
    return Placement(-1, x1 - MARGIN - width, y0 + MARGIN)
