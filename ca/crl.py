"""The issuing CA's full CRL (RFC 5280): reissued at every revocation and once half its validity has passed."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from ca.models import Certificate, Crl
from sealgate.settings import CaSettings

REASONS = {flag.value: flag for flag in x509.ReasonFlags}


def issue(session: Session, authority: Authority, settings: CaSettings, now: dt.datetime) -> Crl:
    """A new CRL with the next number, in the caller's transaction."""
    number = (session.scalar(select(func.max(Crl.number))) or 0) + 1
    revoked = session.execute(
        select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason).where(
            Certificate.issuer_id == authority.issuing_id, Certificate.revoked_at.is_not(None)
        )
    ).all()
    issuer = authority.issuing
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(hours=settings.crl_validity_hours))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    for serial, revoked_at, reason in revoked:
        assert revoked_at is not None
        entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(revoked_at)
        if reason and reason != x509.ReasonFlags.unspecified.value:
            entry = entry.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(issuer.key, issuer.key.hash)
    row = Crl(
        number=number,
        issuer_id=authority.issuing_id,
        der=crl.public_bytes(Encoding.DER),
        this_update=now,
        next_update=crl.next_update_utc or now,
    )
    session.add(row)
    session.flush()
    return row


def current(
    session: Session, authority: Authority, settings: CaSettings, now: dt.datetime, *, commit: bool = True
) -> bytes:
    """The newest CRL, or a new one if there is none for this issuer or half of its validity has passed.

    A new CRL is committed, or with ``commit=False`` left in the caller's transaction (sealing, which must not
    commit half its work). Two processes renewing at once both try the same CRL number; the loser takes the
    winner's, and a savepoint keeps the rest of its transaction.
    """
    newest = _newest(session, authority)
    if newest is not None and not _due(newest, now):
        return newest.der
    try:
        with session.begin_nested():
            der = issue(session, authority, settings, now).der
    except IntegrityError:
        newest = _newest(session, authority)
        if newest is None:
            raise
        return newest.der
    if commit:
        session.commit()
    return der


def _newest(session: Session, authority: Authority) -> Crl | None:
    return session.scalars(
        select(Crl).where(Crl.issuer_id == authority.issuing_id).order_by(Crl.number.desc()).limit(1)
    ).first()


def _due(crl: Crl, now: dt.datetime) -> bool:
    return now >= crl.this_update + (crl.next_update - crl.this_update) / 2
