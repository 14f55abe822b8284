"""The hierarchy in force: the key ceremony that makes it, and loading it for signing.

The ceremony makes every key in the keystore and every certificate in one database transaction, with a log entry
for each certificate, and the root's first CA revocation list (ARL). In production the root key belongs in a token
kept offline; here it shares the keystore, and signs nothing but the ceremony's certificates and the ARL, renewed
when half of ``arl_validity_days`` has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca import crl, profiles
from ca.crl import CrlIssuer
from ca.models import Certificate
from ca.profiles import Issuer, Role, Urls
from ca.signing import TokenKey, token_key
from core.errors import Conflict, NotFound
from core.keystore import KeyKind, Keystore
from core.settings import CaSettings, Settings
from ledger.append import append
from ledger.entry import Event

SERVICE_ROLES = (Role.ROOT, Role.ISSUING, Role.OCSP, Role.TSA, Role.AUTHORISATION)
SUBJECT = "ca"


class NotInitialised(NotFound):
    problem = "ca-not-initialised"


@dataclass(frozen=True)
class Authority:
    """The current root and issuing CA, and the service's own signers, each with its key in the token."""

    root_ca: Issuer
    root_id: int
    issuing: Issuer
    issuing_id: int
    ocsp: Issuer
    tsa: Issuer
    authorisation: Issuer

    @property
    def root(self) -> x509.Certificate:
        return self.root_ca.certificate

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """Issuing CA first, then the root."""
        return self.issuing.certificate, self.root

    def crl_issuer(self, settings: CaSettings) -> CrlIssuer:
        """The issuing CA, whose CRL lists revoked seal, device and service certificates."""
        return crl_issuer(self.issuing, self.issuing_id, settings)

    def arl_issuer(self, settings: CaSettings) -> CrlIssuer:
        """The root, whose ARL lists revoked CA certificates."""
        return arl_issuer(self.root_ca, self.root_id, settings)

    def revocation_issuers(self, settings: CaSettings) -> tuple[CrlIssuer, CrlIssuer]:
        """Who vouches for every certificate below the root: the issuing CA's CRL and the root's ARL."""
        return self.crl_issuer(settings), self.arl_issuer(settings)


def crl_issuer(issuing: Issuer, issuing_id: int, settings: CaSettings) -> CrlIssuer:
    return CrlIssuer(issuing, issuing_id, dt.timedelta(hours=settings.crl_validity_hours))


def arl_issuer(root: Issuer, root_id: int, settings: CaSettings) -> CrlIssuer:
    return CrlIssuer(root, root_id, dt.timedelta(days=settings.arl_validity_days))


def urls(settings: Settings) -> Urls:
    return Urls.under(settings.ca.base_url or settings.public_url)


def key_label(prefix: str, now: dt.datetime) -> str:
    """A token label that is new each time: the prefix names the key's owner, the rest when it was made."""
    return f"{prefix}:{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def record(
    session: Session,
    certificate: x509.Certificate,
    role: Role,
    now: dt.datetime,
    actor: str,
    *,
    key_label: str | None,
    issuer_id: int | None,
    seal_id: int | None = None,
    machine: str | None = None,
) -> Certificate:
    """Store a certificate the CA made and log it, in the caller's transaction."""
    der = certificate.public_bytes(Encoding.DER)
    row = Certificate(
        serial=f"{certificate.serial_number:x}",
        role=str(role),
        subject=certificate.subject.rfc4514_string(),
        issuer_id=issuer_id,
        key_label=key_label,
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        seal_id=seal_id,
        machine=machine,
        created_at=now,
    )
    session.add(row)
    session.flush()
    data = {
        "role": row.role,
        "serial": row.serial,
        "sha256": row.sha256,
        "subject": row.subject,
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "seal": seal_id,
        "machine": machine,
    }
    append(session, Event("ca.certificate.issued", f"certificate:{row.serial}", actor, data, now))
    return row


def initialise(
    session: Session, keystore: Keystore, settings: Settings, now: dt.datetime, actor: str, *, force: bool = False
) -> list[Certificate]:
    """The key ceremony: new keys and certificates for the root, the issuing CA, OCSP, TSA and authorisations."""
    existing = session.scalars(
        select(Certificate).where(Certificate.role == Role.ROOT, Certificate.retired_at.is_(None))
    ).first()
    if existing is not None and not force:
        raise Conflict(
            f"the CA is initialised already (root {existing.sha256[:16]}…, made {existing.created_at:%Y-%m-%d}); "
            "--force makes a new hierarchy and retires the old one"
        )
    session.execute(
        update(Certificate)
        .where(Certificate.role.in_([str(r) for r in SERVICE_ROLES]), Certificate.retired_at.is_(None))
        .values(retired_at=now)
    )
    ca = settings.ca
    kind, org, link = KeyKind(ca.key_kind), ca.name, urls(settings)

    def new_key(role: Role) -> TokenKey:
        label = key_label(f"ca:{role}", now)
        keystore.generate(label, kind)
        return token_key(keystore, label)

    root_key = new_key(Role.ROOT)
    root_cert = profiles.root(root_key, org, now, ca.root_validity_days)
    root_row = record(session, root_cert, Role.ROOT, now, actor, key_label=root_key.label, issuer_id=None)
    root = Issuer(root_key, root_cert)
    issuing_key = new_key(Role.ISSUING)
    issuing_cert = profiles.issuing(issuing_key, org, root, link, now, ca.issuing_validity_days, policy=ca.policy_oid)
    rows = [root_row]
    rows.append(
        record(session, issuing_cert, Role.ISSUING, now, actor, key_label=issuing_key.label, issuer_id=root_row.id)
    )
    issuing = Issuer(issuing_key, issuing_cert)
    days, policy = ca.service_validity_days, ca.policy_oid
    services: dict[Role, Callable[[TokenKey], x509.Certificate]] = {
        Role.OCSP: lambda k: profiles.ocsp_responder(k, org, issuing, link, now, days, policy=policy),
        Role.TSA: lambda k: profiles.tsa(k, org, issuing, link, now, days, policy=policy),
        Role.AUTHORISATION: lambda k: profiles.authorisation_signer(k, org, issuing, link, now, days, policy=policy),
    }
    for role, make in services.items():
        key = new_key(role)
        rows.append(record(session, make(key), role, now, actor, key_label=key.label, issuer_id=rows[1].id))
    # Both lists are published from the start: the issuing CA's, else, would be made by the first seals of every
    # process at once, each signing one and all but one refused by its number.
    crl.issue(session, arl_issuer(root, root_row.id, ca), now)
    crl.issue(session, crl_issuer(issuing, rows[1].id, ca), now)
    return rows


def load(session: Session, keystore: Keystore) -> Authority:
    """The hierarchy in force; NotInitialised before the first ``sealgate ca init``."""
    rows = {
        Role(row.role): row
        for row in session.scalars(
            select(Certificate).where(
                Certificate.role.in_([str(r) for r in SERVICE_ROLES]), Certificate.retired_at.is_(None)
            )
        )
    }
    missing = [str(r) for r in SERVICE_ROLES if r not in rows]
    if missing:
        raise NotInitialised(
            f"the certificate authority is not initialised (no {', '.join(missing)}): sealgate ca init"
        )

    def signer(role: Role) -> Issuer:
        row = rows[role]
        assert row.key_label is not None, "the ceremony makes every service certificate with its key in the token"
        return Issuer(token_key(keystore, row.key_label), x509.load_der_x509_certificate(row.der))

    return Authority(
        root_ca=signer(Role.ROOT),
        root_id=rows[Role.ROOT].id,
        issuing=signer(Role.ISSUING),
        issuing_id=rows[Role.ISSUING].id,
        ocsp=signer(Role.OCSP),
        tsa=signer(Role.TSA),
        authorisation=signer(Role.AUTHORISATION),
    )
