"""Full CRLs (RFC 5280) of the two CAs: the issuing CA's, listing revoked seal, device and service certificates, and
the root's CA revocation list (ARL), listing revoked CA certificates, so that a verifier holding only the root can
tell whether the issuing CA still stands. A CRL is reissued at every revocation and once half its validity has
passed; each issuer numbers its own CRLs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.models import Certificate, Crl
from ca.profiles import Issuer

REASONS = {flag.value: flag for flag in x509.ReasonFlags}


@dataclass(frozen=True)
class CrlIssuer:
    """A CA that publishes a CRL: its key and certificate, its row (the CRL lists the revoked certificates that
    row issued), and how long each CRL it signs is valid."""

    signer: Issuer
    row_id: int
    validity: dt.timedelta


def issue(session: Session, issuer: CrlIssuer, now: dt.datetime) -> Crl:
    """A new CRL with the issuer's next number, in the caller's transaction."""
    number = (session.scalar(select(func.max(Crl.number)).where(Crl.issuer_id == issuer.row_id)) or 0) + 1
    revoked = session.execute(
        select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason).where(
            Certificate.issuer_id == issuer.row_id, Certificate.revoked_at.is_not(None)
        )
    ).all()
    signer = issuer.signer
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signer.certificate.subject)
        .last_update(now)
        .next_update(now + issuer.validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), critical=False)
    )
    for serial, revoked_at, reason in revoked:
        assert revoked_at is not None, "the query selects revoked certificates only"
        entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(revoked_at)
        if reason and reason != x509.ReasonFlags.unspecified.value:
            entry = entry.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(signer.key, signer.key.hash)
    row = Crl(
        number=number,
        issuer_id=issuer.row_id,
        der=crl.public_bytes(Encoding.DER),
        this_update=now,
        next_update=crl.next_update_utc or now,
    )
    session.add(row)
    session.flush()
    return row


def current(session: Session, issuer: CrlIssuer, now: dt.datetime, *, commit: bool = True) -> bytes:
    """The issuer's newest CRL, or a new one if it has none or half of the newest's validity has passed.

    A new CRL is committed, or with ``commit=False`` left in the caller's transaction (sealing, which must not
    commit half its work). Two processes renewing at once both try the same CRL number; the loser takes the
    winner's, and a savepoint keeps the rest of its transaction.
    """
    newest = _newest(session, issuer)
    if newest is not None and not _due(newest, now):
        return newest.der
    try:
        with session.begin_nested():
            der = issue(session, issuer, now).der
    except IntegrityError:
        newest = _newest(session, issuer)
        if newest is None:
            raise
        return newest.der
    if commit:
        session.commit()
    return der


def _newest(session: Session, issuer: CrlIssuer) -> Crl | None:
    return session.scalars(
        select(Crl).where(Crl.issuer_id == issuer.row_id).order_by(Crl.number.desc()).limit(1)
    ).first()


def _due(crl: Crl, now: dt.datetime) -> bool:
    return now >= crl.this_update + (crl.next_update - crl.this_update) / 2
