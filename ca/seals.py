"""Seals and their certificates: the records, and the three things done to a certificate (issue, renew, revoke).

These functions run only as the execution of an approved operation (``ca.operations``); nothing else calls them.
"""

from __future__ import annotations

import datetime as dt
import enum

from cryptography import x509
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ca import crl, profiles
from ca.hierarchy import Authority, key_label, record, urls
from ca.models import Certificate, Seal
from ca.profiles import Role
from ca.signing import token_key
from core.errors import Conflict, Invalid, NotFound
from core.keystore import KeyKind, Keystore
from core.settings import Settings
from identity.directory import ancestors
from identity.models import Organisation
from identity.posts import OrgKind
from ledger.append import append
from ledger.entry import Event


class SealForm(enum.StrEnum):
    ELECTRONIC = "electronic"
    PHYSICAL = "physical"
    BOTH = "both"


class SealStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


REVOCATION_REASONS = tuple(
    r.value for r in x509.ReasonFlags if r not in (x509.ReasonFlags.remove_from_crl, x509.ReasonFlags.aa_compromise)
)


def subject(seal_id: int) -> str:
    return f"seal:{seal_id}"


# Which kinds of organisation hold each seal kind of the matters catalogue: a villagers' committee's seals are a
# village's or a community's, a villager group's seal is the group's. Other organisations (a district, a
# township, a bureau) use no seal through the service.
HOLDERS: dict[str, frozenset[OrgKind]] = {
    "village_official": frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    "village_finance": frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    "village_contract": frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    "cooperative": frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    "mediation": frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    "group_official": frozenset({OrgKind.GROUP}),
}


def check_fits(session: Session, org: Organisation, kind: str, name: str) -> None:
    """A seal's kind is one its organisation's kind holds, and its name is the organisation's: it begins with the
    organisation's registered name, after the names of the organisations above it if it carries them
    (三亚市崖州区 + 水南村 + 村民委员会). A seal named after another organisation is refused."""
    holders = HOLDERS.get(kind)
    if holders is None:
        raise Invalid(f"{kind!r} is not a seal kind of the catalogue: {', '.join(HOLDERS)}")
    if OrgKind(org.kind) not in holders:
        fits = " or ".join(sorted(str(k) for k in holders))
        raise Invalid(f"a {kind} seal belongs to a {fits}; {org.code} is a {org.kind}")
    chain = [o.name for o in reversed(ancestors(session, org))]
    if not _named_after(name.strip(), chain):
        raise Invalid(f"a seal of {org.code} is named after it: its name begins with {org.name}")


def _named_after(name: str, chain: list[str]) -> bool:
    """Whether ``name`` begins with the last of ``chain`` (top first), preceded by any of those above in order."""
    *above, own = chain
    if name.startswith(own):
        return True
    return any(
        name.startswith(top) and _named_after(name[len(top) :], [*above[i + 1 :], own]) for i, top in enumerate(above)
    )


def add(session: Session, org_code: str, kind: str, form: SealForm, name: str, now: dt.datetime, actor: str) -> Seal:
    org = session.scalar(select(Organisation).where(Organisation.code == org_code))
    if org is None:
        raise NotFound(f"no organisation {org_code!r}")
    if not name.strip() or len(name) > 100:
        raise Invalid("a seal's name is 1 to 100 characters")
    seal = Seal(organisation_id=org.id, kind=kind, form=str(form), name=name, status=SealStatus.ACTIVE, created_at=now)
    session.add(seal)
    session.flush()
    data = {"organisation": org.code, "kind": kind, "form": str(form), "name": name}
    append(session, Event("ca.seal.added", subject(seal.id), actor, data, now))
    return seal


def suspend(session: Session, seal: Seal, now: dt.datetime, actor: str) -> None:
    """A suspended seal is used for nothing until it is resumed; its certificate stays valid."""
    if seal.status == SealStatus.SUSPENDED:
        raise Conflict(f"seal {seal.id} is suspended already")
    seal.status, seal.suspended_at = SealStatus.SUSPENDED, now
    append(session, Event("ca.seal.suspended", subject(seal.id), actor, {}, now))


def resume(session: Session, seal: Seal, now: dt.datetime, actor: str) -> None:
    if seal.status != SealStatus.SUSPENDED:
        raise Conflict(f"seal {seal.id} is not suspended")
    seal.status, seal.suspended_at = SealStatus.ACTIVE, None
    append(session, Event("ca.seal.resumed", subject(seal.id), actor, {}, now))


def get(session: Session, seal_id: int, *, lock: bool = False) -> Seal:
    """The seal, its row locked for the transaction with ``lock``; NotFound if there is none."""
    seal = session.get(Seal, seal_id, with_for_update=lock)
    if seal is None:
        raise NotFound(f"no seal {seal_id}")
    return seal


def with_certificate(session: Session, seal_id: int) -> tuple[Seal, Certificate | None]:
    """The seal and its certificate in force, if it has one."""
    seal = get(session, seal_id)
    return seal, current_certificate(session, seal.id)


def listing(session: Session) -> list[tuple[Seal, str, Certificate | None]]:
    """Every seal by organisation, with its organisation's code and its newest certificate not superseded by a
    renewal (in force, expired or revoked), if it has one."""
    rows = session.execute(
        select(Seal, Organisation.code)
        .join(Organisation, Organisation.id == Seal.organisation_id)
        .order_by(Organisation.code, Seal.id)
    ).all()
    newest: dict[int, Certificate] = {}
    certificates = select(Certificate).where(Certificate.seal_id.is_not(None), Certificate.retired_at.is_(None))
    for certificate in session.scalars(certificates.order_by(Certificate.id)):
        assert certificate.seal_id is not None
        newest[certificate.seal_id] = certificate
    return [(seal, code, newest.get(seal.id)) for seal, code in rows]


def current_certificate(session: Session, seal_id: int, *, share: bool = False) -> Certificate | None:
    """The seal's certificate in force. With ``share``, its row stays locked against a revocation or a
    retirement until the transaction ends (PostgreSQL): a seal made with it then never commits after its revocation."""
    query = (
        select(Certificate)
        .where(Certificate.seal_id == seal_id, Certificate.retired_at.is_(None), Certificate.revoked_at.is_(None))
        .order_by(Certificate.id.desc())
        .limit(1)
    )
    return session.scalars(query.with_for_update(read=True) if share else query).first()


def issue(
    session: Session,
    keystore: Keystore,
    authority: Authority,
    settings: Settings,
    seal: Seal,
    now: dt.datetime,
    actor: str,
) -> Certificate:
    """A new key in the token and a seal certificate for it; a certificate the seal had is retired (renewal)."""
    if seal.form == SealForm.PHYSICAL:
        raise Invalid(f"seal {seal.id} is physical only and has no certificate")
    org = session.get(Organisation, seal.organisation_id)
    assert org is not None, "a seal's organisation is a foreign key"
    if org.uscc is None:
        raise Invalid(f"organisation {org.code} has no unified social credit code for its seal certificates")
    previous = current_certificate(session, seal.id)
    if previous is not None:
        previous.retired_at = now
    label = key_label(subject(seal.id), now)
    keystore.generate(label, KeyKind(settings.ca.key_kind))
    key = token_key(keystore, label)
    days, policy = settings.ca.seal_validity_days, settings.ca.policy_oid
    certificate = profiles.seal(
        key, org.name, org.uscc, seal.name, authority.issuing, urls(settings), now, days, policy=policy
    )
    return record(
        session, certificate, Role.SEAL, now, actor, key_label=label, issuer_id=authority.issuing_id, seal_id=seal.id
    )


def revoke(
    session: Session,
    authority: Authority,
    settings: Settings,
    certificate: Certificate,
    reason: str,
    now: dt.datetime,
    actor: str,
) -> None:
    """Revoke and reissue the CRL at once, in the same transaction."""
    if reason not in REVOCATION_REASONS:
        raise Invalid(f"revocation reason {reason!r} is not one of RFC 5280's: {', '.join(REVOCATION_REASONS)}")
    if certificate.revoked_at is not None:
        raise Conflict(f"certificate {certificate.serial} was revoked at {certificate.revoked_at:%Y-%m-%d %H:%M}")
    certificate.revoked_at, certificate.revocation_reason = now, reason
    data = {"serial": certificate.serial, "reason": reason}
    append(session, Event("ca.certificate.revoked", f"certificate:{certificate.serial}", actor, data, now))
    session.flush()
    crl.issue(session, authority.crl_issuer(settings.ca), now)


def _in_use_until(moment: dt.datetime) -> Select[Certificate]:
    return (
        select(Certificate)
        .where(
            Certificate.retired_at.is_(None),
            Certificate.revoked_at.is_(None),
            Certificate.not_after <= moment,
        )
        .order_by(Certificate.not_after)
    )


def expiring(session: Session, now: dt.datetime, days: int) -> list[Certificate]:
    """Certificates in use that expire within ``days``, soonest first."""
    return list(session.scalars(_in_use_until(now + dt.timedelta(days=days))))


def warn_expiring(session: Session, now: dt.datetime, days: int) -> list[Certificate]:
    """Certificates in use that came within ``days`` of their end: each is warned about once, with a log entry.
    Rows are claimed with SKIP LOCKED, so service processes scanning together warn once."""
    query = _in_use_until(now + dt.timedelta(days=days)).where(Certificate.expiry_warned_at.is_(None))
    due = list(session.scalars(query.with_for_update(skip_locked=True)))
    for certificate in due:
        certificate.expiry_warned_at = now
        data = {"serial": certificate.serial, "role": certificate.role, "not_after": certificate.not_after.isoformat()}
        append(session, Event("ca.certificate.expiring", f"certificate:{certificate.serial}", "system", data, now))
    return due
