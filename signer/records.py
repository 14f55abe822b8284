"""Finding a sealing again: by the signature in a PDF, or by what it sealed; and its receipt from the log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from ledger.proofs import Integrated, LogReader
from ledger.receipt import Receipt, format_receipt
from signer.models import Sealing


class NotYetLogged(Conflict):
    """The sealing is in the log's queue, not yet in a published checkpoint: ask again in a few seconds."""

    problem = "not-yet-logged"


def by_signature(session: Session, signature_sha256: str) -> Sealing | None:
    return session.scalar(select(Sealing).where(Sealing.signature_sha256 == signature_sha256))


def latest(session: Session, subject: str) -> Sealing:
    found = session.scalars(
        select(Sealing).where(Sealing.subject == subject).order_by(Sealing.id.desc()).limit(1)
    ).first()
    if found is None:
        raise NotFound(f"{subject} has not been sealed")
    return found


def receipt(session: Session, reader: LogReader, sealing: Sealing) -> str:
    """A C2SP tlog-proof of the sealing's log entry, carrying the entry itself as its extra data, so that a
    verifier holding only the PDF and this file can check that the signature was logged."""
    done = reader.integrated(session, sealing.event_id)
    if done is None:
        raise NotYetLogged("the seal is not in a published checkpoint yet; ask again in a few seconds")
    return receipt_text(done, reader.entry(session, done.index).body)


def receipt_text(done: Integrated, entry: bytes) -> str:
    return format_receipt(Receipt(index=done.index, proof=tuple(done.proof), checkpoint=done.checkpoint, extra=entry))
