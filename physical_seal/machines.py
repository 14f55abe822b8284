"""Seal machines from registration to retirement: enrolment with a one-time code, the device certificate and the
terminal's credential, suspension, and the revocation epoch that voids every authorisation issued before it.

Secrets (enrolment codes, credentials) are kept as SHA-256 digests only and never logged.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import crl, profiles
from ca.hierarchy import Authority, record
from ca.models import Certificate, Seal
from ca.profiles import Role, Urls
from ca.seals import SealForm, SealStatus
from core.errors import Conflict, Invalid, NotFound, Unauthorized
from core.settings import CaSettings
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, User
from identity.posts import OrgKind, Post
from ledger.append import append
from ledger.entry import Event
from physical_seal import access, structures
from physical_seal.models import Authorisation, Machine, MachineSlot

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Letters and digits a person reads off a screen and types without confusing them: no 0/o, 1/l/i.
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE_GROUPS, _CODE_GROUP = 4, 4
_SEATS = frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY, OrgKind.TOWNSHIP})
_MACHINE_FORMS = (SealForm.PHYSICAL, SealForm.BOTH)
_CURVES = ("secp256r1", "secp384r1")
MAX_SLOTS = 16
BAD_CODE = "wrong or expired enrolment code"
BAD_CREDENTIAL = "unknown machine or wrong credential"


class MachineStatus(enum.StrEnum):
    REGISTERED = "registered"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class AuthorisationState(enum.StrEnum):
    ISSUED = "issued"
    EXECUTING = "executing"
    SPENT = "spent"
    CLOSED = "closed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


LIVE = (AuthorisationState.ISSUED, AuthorisationState.EXECUTING)


@dataclass(frozen=True)
class Enrolled:
    """What the terminal installs in the machine, and the credential it keeps for itself."""

    certificate: bytes
    chain: list[bytes]  # the issuing CA's certificate, then the root's
    credential: str = field(repr=False)


@dataclass(frozen=True)
class RevokedEpoch:
    epoch: int
    cancelled: list[Authorisation]
    notice: bytes  # the signed epoch notice for the terminal to load into the machine


def subject(machine_id: str) -> str:
    return f"machine:{machine_id}"


def authorisation_subject(authorisation_id: str) -> str:
    return f"authorisation:{authorisation_id}"


def actor_of(principal: Principal) -> str:
    return f"user:{principal.username}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normal_code(code: str) -> str:
    """The code as issued, however it was typed (case, dashes, spaces)."""
    return "".join(c for c in code.lower() if c not in "- ")


def _issue_code(machine: Machine, now: dt.datetime, code_hours: float) -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUPS * _CODE_GROUP))
    machine.enrolment_sha256 = _digest(raw)
    machine.enrolment_expires_at = now + dt.timedelta(hours=code_hours)
    return "-".join(raw[i : i + _CODE_GROUP] for i in range(0, len(raw), _CODE_GROUP))


def custodian_names(session: Session, machine: Machine) -> list[str]:
    """The custodians' usernames, in the order the machine lists them."""
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(machine.custodians))).all())
    return [names[i] for i in machine.custodians]


def _organisation(session: Session, machine: Machine) -> Organisation:
    org = session.get(Organisation, machine.organisation_id)
    assert org is not None, "a machine's organisation is a foreign key"
    return org


def _checked_custodians(session: Session, org: Organisation, usernames: Sequence[str], now: dt.datetime) -> list[int]:
    if len(usernames) != 2 or len(set(usernames)) != 2:
        raise Invalid("a seal machine has exactly two different custodians")
    holding = {u.username: u.id for u in directory.holders(session, org.code, Post.CUSTODIAN, now)}
    ids = []
    for name in usernames:
        directory.user(session, name)
        if name not in holding:
            raise Invalid(f"{name} is not a custodian of {org.code} now")
        ids.append(holding[name])
    return ids


def _check_slots(session: Session, org: Organisation, slots: Sequence[tuple[int, int]]) -> None:
    if not 1 <= len(slots) <= MAX_SLOTS:
        raise Invalid(f"a seal machine has 1 to {MAX_SLOTS} slots")
    numbers = [n for n, _ in slots]
    if len(set(numbers)) != len(numbers) or not all(1 <= n <= MAX_SLOTS for n in numbers):
        raise Invalid(f"slot numbers are different, from 1 to {MAX_SLOTS}")
    seal_ids = [s for _, s in slots]
    if len(set(seal_ids)) != len(seal_ids):
        raise Invalid("a seal sits in one slot only")
    for seal_id in seal_ids:
        seal = session.get(Seal, seal_id)
        if seal is None:
            raise NotFound(f"no seal {seal_id}")
        if seal.organisation_id != org.id:
            raise Invalid(f"seal {seal_id} is not a seal of {org.code}")
        if seal.status != SealStatus.ACTIVE:
            raise Invalid(f"seal {seal_id} is {seal.status}")
        if seal.form not in _MACHINE_FORMS:
            raise Invalid(f"seal {seal_id} is {seal.form} only and cannot sit in a seal machine")
    taken = session.execute(
        select(MachineSlot.seal_id, MachineSlot.machine_id)
        .join(Machine, Machine.id == MachineSlot.machine_id)
        .where(MachineSlot.seal_id.in_(seal_ids), Machine.status != MachineStatus.RETIRED)
    ).first()
    if taken is not None:
        raise Conflict(f"seal {taken.seal_id} sits in machine {taken.machine_id}")


def _checked_reason(reason: str) -> str:
    if not reason.strip() or len(reason) > 500:
        raise Invalid("a reason is 1 to 500 characters")
    return reason


def register(
    session: Session,
    *,
    machine_id: str,
    organisation_code: str,
    name: str,
    slots: Sequence[tuple[int, int]],
    latitude: float,
    longitude: float,
    radius_m: int,
    custodians: Sequence[str],
    now: dt.datetime,
    actor: str,
    code_hours: float,
) -> tuple[Machine, str]:
    """A new machine, waiting for enrolment, and its one-time enrolment code (shown once, stored as a digest)."""
    if not _ID.fullmatch(machine_id):
        raise Invalid(f"machine id {machine_id!r}: letters, digits, '.', '_' and '-', up to 64, not first")
    if not name.strip() or len(name) > 100:
        raise Invalid("a machine's name is 1 to 100 characters")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise Invalid("latitude is -90 to 90 degrees, longitude -180 to 180")
    if not 10 <= radius_m <= 10_000:
        raise Invalid("the radius is 10 to 10000 metres")
    if session.get(Machine, machine_id) is not None:
        raise Conflict(f"machine {machine_id} exists")
    org = directory.organisation(session, organisation_code)
    if org.kind not in _SEATS:
        raise Invalid(f"{org.code} is a {org.kind}; seal machines belong to villages, communities and townships")
    custodian_ids = _checked_custodians(session, org, custodians, now)
    _check_slots(session, org, slots)
    machine = Machine(
        id=machine_id,
        organisation_id=org.id,
        name=name,
        status=MachineStatus.REGISTERED,
        latitude_e7=round(latitude * 1e7),
        longitude_e7=round(longitude * 1e7),
        radius_m=radius_m,
        custodians=custodian_ids,
        epoch=0,
        last_counter=0,
        created_at=now,
        updated_at=now,
    )
    code = _issue_code(machine, now, code_hours)
    session.add(machine)
    session.flush()
    session.add_all(MachineSlot(machine_id=machine_id, slot=n, seal_id=s) for n, s in slots)
    session.flush()
    data = {
        "organisation": org.code,
        "name": name,
        "slots": sorted([n, s] for n, s in slots),
        "position": [machine.latitude_e7, machine.longitude_e7],
        "radius_m": radius_m,
        "custodians": list(custodians),
    }
    append(session, Event("machine.registered", subject(machine_id), actor, data, now))
    return machine, code


def _locked(session: Session, machine_id: str) -> Machine:
    machine = session.get(Machine, machine_id, with_for_update=True)
    if machine is None:
        raise NotFound(f"no machine {machine_id}")
    return machine


def new_enrolment_code(session: Session, machine_id: str, now: dt.datetime, actor: str, code_hours: float) -> str:
    """A fresh code, replacing any earlier one: for a machine replaced or reset, or a code that expired."""
    machine = _locked(session, machine_id)
    if machine.status == MachineStatus.RETIRED:
        raise Conflict(f"machine {machine_id} is retired")
    code = _issue_code(machine, now, code_hours)
    machine.updated_at = now
    data = {"expires_at": machine.enrolment_expires_at.isoformat() if machine.enrolment_expires_at else None}
    append(session, Event("machine.enrolment_code.issued", subject(machine_id), actor, data, now))
    return code


def _machine_key(csr_der: bytes, machine_id: str) -> ec.EllipticCurvePublicKey:
    """The key of a request the machine signed itself, naming itself."""
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except ValueError:
        raise Invalid("the certificate request is not a DER PKCS#10 request") from None
    if not csr.is_signature_valid:
        raise Invalid("the certificate request's signature does not verify")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in _CURVES:
        raise Invalid("a machine's key is EC P-256 or P-384")
    names = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    if names != [machine_id]:
        raise Invalid(f"the certificate request's subject serialNumber must be {machine_id!r}")
    return public


def _revoke(
    session: Session,
    authority: Authority,
    ca_settings: CaSettings,
    certificate: Certificate,
    reason: x509.ReasonFlags,
    now: dt.datetime,
    actor: str,
) -> None:
    """Retire and revoke a device certificate and reissue the CRL, logged as the CA logs every revocation."""
    certificate.retired_at = certificate.retired_at or now
    if certificate.revoked_at is not None:
        return
    certificate.revoked_at, certificate.revocation_reason = now, reason.value
    data = {"serial": certificate.serial, "reason": reason.value}
    append(session, Event("ca.certificate.revoked", f"certificate:{certificate.serial}", actor, data, now))
    session.flush()
    crl.issue(session, authority.crl_issuer(ca_settings), now)


def enrol(
    session: Session,
    authority: Authority,
    *,
    machine_id: str,
    code: str,
    csr_der: bytes,
    now: dt.datetime,
    ca_settings: CaSettings,
    urls: Urls,
) -> Enrolled:
    """Certify the key the machine made and give its terminal a credential; the code is used up."""
    machine = session.get(Machine, machine_id, with_for_update=True)
    expected = machine.enrolment_sha256 if machine is not None else None
    good = hmac.compare_digest(_digest(_normal_code(code)), expected or "")
    if machine is None or expected is None or not good or not machine.enrolment_expires_at:
        raise Unauthorized(BAD_CODE)
    if now >= machine.enrolment_expires_at:
        raise Unauthorized(BAD_CODE)
    if machine.status == MachineStatus.RETIRED:
        raise Conflict(f"machine {machine_id} is retired")
    public = _machine_key(csr_der, machine_id)
    actor = "system"
    org = _organisation(session, machine)
    previous = session.get(Certificate, machine.certificate_id) if machine.certificate_id is not None else None
    if previous is not None:
        _revoke(session, authority, ca_settings, previous, x509.ReasonFlags.superseded, now, actor)
    days, policy = ca_settings.device_validity_days, ca_settings.policy_oid
    certificate = profiles.device(public, org.name, machine_id, authority.issuing, urls, now, days, policy=policy)
    row = record(
        session,
        certificate,
        Role.DEVICE,
        now,
        actor,
        key_label=None,
        issuer_id=authority.issuing_id,
        machine=machine_id,
    )
    credential = secrets.token_urlsafe(32)
    machine.certificate_id = row.id
    machine.credential_sha256 = _digest(credential)
    machine.enrolment_sha256 = machine.enrolment_expires_at = None
    if machine.status == MachineStatus.REGISTERED:
        machine.status = MachineStatus.ACTIVE
    machine.updated_at = now
    data = {"serial": row.serial, "sha256": row.sha256, "superseded": previous.serial if previous else None}
    append(session, Event("machine.enrolled", subject(machine_id), actor, data, now))
    issuing, root = (c.public_bytes(Encoding.DER) for c in authority.chain)
    return Enrolled(certificate=row.der, chain=[issuing, root], credential=credential)


def authenticate(session: Session, machine_id: str, credential: str) -> Machine:
    """The machine whose terminal holds ``credential``, whatever its status: intake answers a suspended or
    retired machine's events itself."""
    machine = session.get(Machine, machine_id)
    expected = machine.credential_sha256 if machine is not None else None
    good = hmac.compare_digest(_digest(credential), expected or "")
    if machine is None or expected is None or not good:
        raise Unauthorized(BAD_CREDENTIAL)
    return machine


def _certificate(session: Session, machine: Machine) -> Certificate | None:
    return session.get(Certificate, machine.certificate_id) if machine.certificate_id is not None else None


def device_key(session: Session, machine: Machine) -> ec.EllipticCurvePublicKey | None:
    """The key of the machine's latest certificate; None before enrolment. A retired machine keeps it, so that
    what it still sends is known as its own (and refused as a revoked machine's), not taken for a forgery."""
    row = _certificate(session, machine)
    if row is None:
        return None
    public = x509.load_der_x509_certificate(row.der).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey), "enrol certifies EC keys only"
    return public


def device_certificate_revoked(session: Session, machine: Machine) -> bool:
    row = _certificate(session, machine)
    return row is not None and row.revoked_at is not None


def _managed(session: Session, machine_id: str, principal: Principal) -> Machine:
    machine = _locked(session, machine_id)
    access.require_manage(principal, _organisation(session, machine).code)
    return machine


def _change(
    session: Session,
    machine: Machine,
    principal: Principal,
    reason: str,
    now: dt.datetime,
    *,
    allowed: Sequence[MachineStatus],
    to: MachineStatus,
    event: str,
) -> None:
    if machine.status not in allowed:
        raise Conflict(f"machine {machine.id} is {machine.status}; it cannot become {to}")
    _checked_reason(reason)
    machine.status, machine.updated_at = to, now
    append(session, Event(event, subject(machine.id), actor_of(principal), {"reason": reason}, now))


def suspend(session: Session, machine_id: str, principal: Principal, reason: str, now: dt.datetime) -> Machine:
    """No authorisation goes to a suspended machine; those it holds stay valid (revoke the epoch to void them)."""
    machine = _managed(session, machine_id, principal)
    allowed = (MachineStatus.REGISTERED, MachineStatus.ACTIVE)
    _change(
        session, machine, principal, reason, now, allowed=allowed, to=MachineStatus.SUSPENDED, event="machine.suspended"
    )
    return machine


def resume(session: Session, machine_id: str, principal: Principal, reason: str, now: dt.datetime) -> Machine:
    machine = _managed(session, machine_id, principal)
    to = MachineStatus.ACTIVE if machine.certificate_id is not None else MachineStatus.REGISTERED
    _change(
        session, machine, principal, reason, now, allowed=(MachineStatus.SUSPENDED,), to=to, event="machine.resumed"
    )
    return machine


def retire(
    session: Session,
    authority: Authority,
    ca_settings: CaSettings,
    machine_id: str,
    principal: Principal,
    reason: str,
    now: dt.datetime,
) -> tuple[Machine, list[Authorisation]]:
    """For good: its certificate is revoked, its authorisations cancelled (returned, for their requests), its
    seals free for another machine."""
    machine = _managed(session, machine_id, principal)
    allowed = (MachineStatus.REGISTERED, MachineStatus.ACTIVE, MachineStatus.SUSPENDED)
    _change(
        session, machine, principal, reason, now, allowed=allowed, to=MachineStatus.RETIRED, event="machine.retired"
    )
    actor = actor_of(principal)
    machine.enrolment_sha256 = machine.enrolment_expires_at = None
    certificate = _certificate(session, machine)
    if certificate is not None:
        _revoke(session, authority, ca_settings, certificate, x509.ReasonFlags.cessation_of_operation, now, actor)
    return machine, _cancel_live(session, machine, now, actor, "the machine was retired")


def _cancel_live(session: Session, machine: Machine, now: dt.datetime, actor: str, why: str) -> list[Authorisation]:
    live = list(
        session.scalars(
            select(Authorisation)
            .where(Authorisation.machine_id == machine.id, Authorisation.state.in_([str(s) for s in LIVE]))
            .order_by(Authorisation.issued_at, Authorisation.id)
            .with_for_update()
        )
    )
    for authorisation in live:
        authorisation.state, authorisation.finished_at = AuthorisationState.CANCELLED, now
        data = {"machine": machine.id, "request": authorisation.request_number, "reason": why}
        append(
            session, Event("machine.authorisation.cancelled", authorisation_subject(authorisation.id), actor, data, now)
        )
    return live


def revoke_epoch(
    session: Session, authority: Authority, machine_id: str, principal: Principal, reason: str, now: dt.datetime
) -> RevokedEpoch:
    """Void every authorisation the machine holds, at the machine itself once the terminal loads the notice."""
    machine = _managed(session, machine_id, principal)
    if machine.status == MachineStatus.RETIRED:
        raise Conflict(f"machine {machine_id} is retired")
    _checked_reason(reason)
    actor = actor_of(principal)
    machine.epoch += 1
    machine.updated_at = now
    cancelled = _cancel_live(session, machine, now, actor, f"epoch {machine.epoch} revoked them")
    data = {"epoch": machine.epoch, "reason": reason, "cancelled": [a.id for a in cancelled]}
    append(session, Event("machine.epoch.revoked", subject(machine_id), actor, data, now))
    return RevokedEpoch(machine.epoch, cancelled, epoch_notice(authority, machine, now))


def service_chain(authority: Authority) -> list[x509.Certificate]:
    """The x5chain of what the service signs for machines: the authorisation signer, then the issuing CA."""
    return [authority.authorisation.certificate, authority.issuing.certificate]


def epoch_notice(authority: Authority, machine: Machine, now: dt.datetime) -> bytes:
    notice = structures.EpochNotice(machine=machine.id, epoch=machine.epoch, iat=int(now.timestamp()))
    return structures.sign(notice, authority.authorisation.key, service_chain(authority))


def listing(session: Session, principal: Principal) -> list[Machine]:
    """The machines the principal may see, by id: those of the organisations they may view (each organisation
    judged once), and those they keep."""
    codes = dict(session.execute(select(Organisation.id, Organisation.code)).all())
    seen: dict[int, bool] = {}
    out = []
    for machine in session.scalars(select(Machine).order_by(Machine.id)):
        org_id = machine.organisation_id
        if org_id not in seen:
            seen[org_id] = access.may_view(session, principal, codes[org_id])
        if seen[org_id] or principal.user_id in machine.custodians:
            out.append(machine)
    return out


def get(session: Session, machine_id: str, principal: Principal) -> Machine:
    machine = session.get(Machine, machine_id)
    if machine is None:
        raise NotFound(f"no machine {machine_id}")
    access.require_view(session, principal, _organisation(session, machine).code)
    return machine


def slots_of(session: Session, machine_id: str) -> list[MachineSlot]:
    return list(
        session.scalars(select(MachineSlot).where(MachineSlot.machine_id == machine_id).order_by(MachineSlot.slot))
    )
