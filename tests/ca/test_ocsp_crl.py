"""The OCSP responder, the issuing CA's CRL and the root's ARL against the database: status changes, nonces, renewals,
bad requests."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import crl, hierarchy, seals
from ca.hierarchy import Authority
from ca.models import Certificate, Crl, Seal
from ca.ocsp import Responder, StatusBook
from core.clock import ManualClock
from core.errors import Conflict, Invalid
from core.runtime import Runtime
from identity.models import Organisation


@pytest.fixture
def authority(runtime: Runtime) -> Authority:
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
        return hierarchy.load(session, runtime.keystore)


def new_seal(session: Session, now: dt.datetime) -> Seal:
    org = Organisation(code="sn", name="水南村", kind="village", uscc="54460205C50121019D", created_at=now)
    session.add(org)
    session.flush()
    return seals.add(session, "sn", "committee", seals.SealForm.ELECTRONIC, "水南村村民委员会公章", now, "test")


def request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def checked(answer: bytes, authority: Authority) -> ocsp.OCSPResponse:
    """The response, with its signature verified against the responder certificate it carries."""
    response = ocsp.load_der_ocsp_response(answer)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificates == [authority.ocsp.certificate]
    assert response.responder_key_hash is not None
    public = authority.ocsp.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    authority.ocsp.certificate.verify_directly_issued_by(authority.issuing.certificate)
    return response


def test_good_then_revoked_with_nonce_and_a_new_crl(runtime: Runtime, authority: Authority, clock: ManualClock) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        seal = new_seal(session, now)
        row = seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
        cert = x509.load_der_x509_certificate(row.der)
    book = StatusBook(runtime.engine, authority.issuing_id, refresh=3600)
    responder = Responder(authority, book, dt.timedelta(minutes=30))
    nonce = os.urandom(16)
    good = checked(responder.respond(request(cert, authority.issuing.certificate, nonce), now), authority)
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == cert.serial_number
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert good.this_update_utc == now.replace(microsecond=0)
    assert good.next_update_utc == now.replace(microsecond=0) + dt.timedelta(minutes=30)

    clock.advance(dt.timedelta(minutes=5))
    later = clock.now()
    with runtime.sessions() as session:
        target = session.get(Certificate, row.id)
        assert target is not None
        seals.revoke(session, authority, runtime.settings, target, "keyCompromise", later, "test")
        session.commit()
        with pytest.raises(Conflict):
            seals.revoke(session, authority, runtime.settings, target, "keyCompromise", later, "test")
    stale = checked(responder.respond(request(cert, authority.issuing.certificate), later), authority)
    assert stale.certificate_status is ocsp.OCSPCertStatus.GOOD  # within the refresh period, as of its thisUpdate
    assert stale.this_update_utc == now.replace(microsecond=0)
    book.invalidate()
    revoked = checked(responder.respond(request(cert, authority.issuing.certificate), later), authority)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc == later.replace(microsecond=0)

    with runtime.sessions() as session:
        listed = x509.load_der_x509_crl(crl.current(session, authority.crl_issuer(runtime.settings.ca), later))
    assert listed.is_signature_valid(authority.issuing.certificate.public_key())  # type: ignore[arg-type]
    entry = listed.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert listed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2  # after init's empty one


def crl_number(listed: x509.CertificateRevocationList) -> int:
    return listed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


@pytest.mark.parametrize("kind", ["crl", "arl"])
def test_a_list_is_kept_until_half_its_validity_then_renewed(
    runtime: Runtime, authority: Authority, clock: ManualClock, kind: str
) -> None:
    settings = runtime.settings.ca
    issuer, validity = {
        "crl": (authority.crl_issuer(settings), dt.timedelta(hours=settings.crl_validity_hours)),
        "arl": (authority.arl_issuer(settings), dt.timedelta(days=settings.arl_validity_days)),
    }[kind]
    with runtime.sessions() as session:
        first = crl.current(session, issuer, clock.now())
        clock.advance(validity / 2 - dt.timedelta(seconds=1))
        assert crl.current(session, issuer, clock.now()) == first
        clock.advance(dt.timedelta(seconds=1))
        renewed = x509.load_der_x509_crl(crl.current(session, issuer, clock.now()))
    assert crl_number(renewed) == 2
    assert renewed.next_update_utc == clock.now().replace(microsecond=0) + validity
    assert renewed.issuer == issuer.signer.certificate.subject
    assert renewed.is_signature_valid(issuer.signer.certificate.public_key())  # type: ignore[arg-type]


def test_the_ceremony_publishes_the_roots_arl(runtime: Runtime, authority: Authority, clock: ManualClock) -> None:
    with runtime.sessions() as session:
        (made,) = session.scalars(select(Crl).where(Crl.issuer_id == authority.root_id))
        served = crl.current(session, authority.arl_issuer(runtime.settings.ca), clock.now())
    assert served == made.der
    arl = x509.load_der_x509_crl(served)
    assert arl.issuer == authority.root.subject
    assert arl.is_signature_valid(authority.root.public_key())  # type: ignore[arg-type]
    assert not arl.is_signature_valid(authority.issuing.certificate.public_key())  # type: ignore[arg-type]
    key_id = arl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert key_id == authority.root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert crl_number(arl) == 1
    assert arl.last_update_utc == clock.now()
    assert arl.next_update_utc == clock.now() + dt.timedelta(days=365)
    assert len(arl) == 0


def test_the_arl_lists_revoked_ca_certificates_and_the_crl_the_others(
    runtime: Runtime, authority: Authority, clock: ManualClock
) -> None:
    now = clock.now()
    settings = runtime.settings.ca
    with runtime.sessions() as session:
        seal = new_seal(session, now)
        row = seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        seals.revoke(session, authority, runtime.settings, row, "keyCompromise", now, "test")
        issuing = session.get(Certificate, authority.issuing_id)
        assert issuing is not None
        issuing.revoked_at, issuing.revocation_reason = now, "cACompromise"
        arl = x509.load_der_x509_crl(crl.issue(session, authority.arl_issuer(settings), now).der)
        listed = x509.load_der_x509_crl(crl.current(session, authority.crl_issuer(settings), now))
    (entry,) = arl
    assert entry.serial_number == authority.issuing.certificate.serial_number
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.ca_compromise
    assert [e.serial_number for e in listed] == [int(row.serial, 16)]
    # each issuer counts its own: its list of the CA's initialisation, then this one (shared, they would be 4 and 3)
    assert (crl_number(arl), crl_number(listed)) == (2, 2)


def test_unknown_serial_other_issuer_and_garbage(runtime: Runtime, authority: Authority, clock: ManualClock) -> None:
    responder = Responder(authority, StatusBook(runtime.engine, authority.issuing_id, 1.0), dt.timedelta(minutes=1))
    # A certificate the CA never issued: same issuer name and key, serial unknown.
    stranger = authority.ocsp.certificate
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_issuer_hashes(authority), serial_number=12345, algorithm=hashes.SHA256()
    )
    unknown = checked(responder.respond(builder.build().public_bytes(Encoding.DER), clock.now()), authority)
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    other = ocsp.load_der_ocsp_response(
        responder.respond(request(stranger, authority.root), clock.now())  # issued by the issuing CA, not the root
    )
    assert other.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    garbage = ocsp.load_der_ocsp_response(responder.respond(b"\x30\x03\x02\x01\x00", clock.now()))
    assert garbage.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_renewal_retires_the_old_certificate_and_physical_seals_have_none(
    runtime: Runtime, authority: Authority, clock: ManualClock
) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        seal = new_seal(session, now)
        first = seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        second = seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        assert first.retired_at == now
        assert first.key_label != second.key_label
        assert seals.current_certificate(session, seal.id) is second
        assert [c.serial for c in seals.expiring(session, now, 731)] == [second.serial]
        assert seals.expiring(session, now, 700) == []
        physical = seals.add(session, "sn", "committee", seals.SealForm.PHYSICAL, "水南村实物章", now, "test")
        with pytest.raises(Invalid, match="physical"):
            seals.issue(session, runtime.keystore, authority, runtime.settings, physical, now, "test")


def test_the_ceremony_runs_once_unless_forced(runtime: Runtime, authority: Authority, clock: ManualClock) -> None:
    with runtime.sessions() as session:
        with pytest.raises(Conflict, match="--force"):
            hierarchy.initialise(session, runtime.keystore, runtime.settings, clock.now(), "test")
        session.rollback()
        rows = hierarchy.initialise(session, runtime.keystore, runtime.settings, clock.now(), "test", force=True)
        session.commit()
        again = hierarchy.load(session, runtime.keystore)
    assert again.root.serial_number != authority.root.serial_number
    assert [r.role for r in rows] == ["root", "issuing", "ocsp", "tsa", "authorisation"]


def _issuer_hashes(authority: Authority) -> tuple[bytes, bytes]:
    probe = ocsp.load_der_ocsp_request(
        ocsp.OCSPRequestBuilder()
        .add_certificate(authority.ocsp.certificate, authority.issuing.certificate, hashes.SHA256())
        .build()
        .public_bytes(Encoding.DER)
    )
    return probe.issuer_name_hash, probe.issuer_key_hash
