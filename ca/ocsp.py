"""An RFC 6960 OCSP responder for the issuing CA, answering with the delegated responder key.

Every response is signed fresh, so a request's nonce is echoed. Two things keep a response close to the cost of
its signature. The parts that are the same in every response (responder id, signature algorithm, the
responder's certificate, the issuer hashes) are encoded once, and each response is filled in around them
(``ca.der``). And the status comes from a StatusBook in memory: the revoked serials, read again whenever the
CRL number moved (every revocation issues a CRL in its transaction), checked at most every ``refresh`` seconds;
thisUpdate is the time of that check, as RFC 6960 §2.4 defines it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from asn1crypto.core import ObjectIdentifier
from asn1crypto.keys import PublicKeyInfo
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy import Engine, bindparam, func, select

from ca import der
from ca.hierarchy import Authority
from ca.models import Certificate, Crl

# CertIDs name the issuer by hashes; SHA-1 is what most clients (OpenSSL among them) send, and here it only
# identifies, it does not sign.
_CERT_ID_HASHES: dict[str, str] = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_SIGNATURES = {"sha256": "1.2.840.10045.4.3.2", "sha384": "1.2.840.10045.4.3.3"}
_REASON_CODES = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "privilegeWithdrawn": 9,
}
KNOWN_LIMIT = 200_000  # serials remembered as issued; past it the memory starts afresh

_c = Certificate.__table__.c
_VERSION = select(func.max(Crl.__table__.c.number)).where(Crl.__table__.c.issuer_id == bindparam("issuer"))
_REVOKED = select(_c.serial, _c.revoked_at, _c.revocation_reason).where(
    _c.issuer_id == bindparam("issuer"), _c.revoked_at.is_not(None)
)
_ISSUED = select(_c.id).where(_c.serial == bindparam("serial"), _c.issuer_id == bindparam("issuer"))


def _oid(dotted: str) -> bytes:
    return bytes(ObjectIdentifier(dotted).dump())


_BASIC = _oid("1.3.6.1.5.5.7.48.1.1")  # id-pkix-ocsp-basic
_NONCE = _oid("1.3.6.1.5.5.7.48.1.2")  # id-pkix-ocsp-nonce


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


@dataclass(frozen=True)
class Status:
    revoked_at: dt.datetime | None
    reason: str | None
    known: bool


class StatusBook:
    """The status of the issuing CA's certificates, as of ``checked_at``."""

    def __init__(self, engine: Engine, issuer_id: int, refresh: float) -> None:
        self._engine, self._issuer, self._refresh = engine, issuer_id, refresh
        self._lock = threading.Lock()
        self._version: int | None = -1
        self._revoked: dict[int, tuple[dt.datetime, str | None]] = {}
        self._known: set[int] = set()
        self._next_check = 0.0
        self.checked_at = dt.datetime.fromtimestamp(0, dt.UTC)

    def invalidate(self) -> None:
        """Check the database at the next request: this process has just revoked."""
        self._next_check = 0.0

    def status(self, serial: int, now: dt.datetime) -> tuple[Status, dt.datetime]:
        if time.monotonic() >= self._next_check:
            self._check(now)
        checked_at, revoked = self.checked_at, self._revoked.get(serial)
        if revoked is not None:
            return Status(revoked[0], revoked[1], True), checked_at
        if serial not in self._known:
            with self._engine.connect() as conn:
                if conn.execute(_ISSUED, {"serial": f"{serial:x}", "issuer": self._issuer}).first() is None:
                    return Status(None, None, False), checked_at
            if len(self._known) >= KNOWN_LIMIT:
                self._known = set()
            self._known.add(serial)
        return Status(None, None, True), checked_at

    def _check(self, now: dt.datetime) -> None:
        with self._lock:
            if time.monotonic() < self._next_check:
                return
            with self._engine.connect() as conn:
                version = conn.execute(_VERSION, {"issuer": self._issuer}).scalar()
                if version != self._version:
                    rows = conn.execute(_REVOKED, {"issuer": self._issuer}).all()
                    self._revoked = {int(s, 16): (at, reason) for s, at, reason in rows}
                    self._version = version
            self.checked_at = now
            self._next_check = time.monotonic() + self._refresh


@dataclass(frozen=True)
class Responder:
    authority: Authority
    book: StatusBook
    validity: dt.timedelta
    _issuer_hashes: dict[str, tuple[bytes, bytes]] = field(init=False)
    _responder_id: bytes = field(init=False)
    _signature: tuple[bytes, bytes] = field(init=False)  # (AlgorithmIdentifier DER, certs [0] DER)
    _cert_id_algorithms: dict[str, bytes] = field(init=False)

    def __post_init__(self) -> None:
        issuer = self.authority.issuing.certificate
        name_der, key = issuer.subject.public_bytes(), _key_bits(issuer)
        hashes_by_name = {}
        for name in _CERT_ID_HASHES:
            algorithm = getattr(hashes, name.upper())()
            hashes_by_name[name] = (_digest(algorithm, name_der), _digest(algorithm, key))
        signer = self.authority.ocsp
        responder_key = _digest(hashes.SHA1(), _key_bits(signer.certificate))  # noqa: S303  (RFC 6960 KeyHash)
        certs = der.explicit(0, der.sequence(signer.certificate.public_bytes(serialization.Encoding.DER)))
        algorithms = {name: der.sequence(_oid(oid), der.tlv(der.NULL, b"")) for name, oid in _CERT_ID_HASHES.items()}
        object.__setattr__(self, "_issuer_hashes", hashes_by_name)
        object.__setattr__(self, "_responder_id", der.explicit(2, der.octet_string(responder_key)))
        object.__setattr__(self, "_signature", (der.sequence(_oid(_SIGNATURES[signer.key.hash.name])), certs))
        object.__setattr__(self, "_cert_id_algorithms", algorithms)

    def respond(self, request_der: bytes, now: dt.datetime, known: Status | None = None) -> bytes:
        """A DER OCSPResponse; a request that cannot be parsed or is for another CA gets an error status.

        ``known`` is the status as the caller read it in its own transaction (sealing, which holds the database
        while it embeds responses); otherwise the status book answers.
        """
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm.name
            nonce = _nonce(request)
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        expected = self._issuer_hashes.get(algorithm)
        if expected is None or expected != (request.issuer_name_hash, request.issuer_key_hash):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        status, checked_at = (known, now) if known is not None else self.book.status(request.serial_number, now)
        cert_id = der.sequence(
            self._cert_id_algorithms[algorithm],
            der.octet_string(request.issuer_name_hash),
            der.octet_string(request.issuer_key_hash),
            der.integer(request.serial_number),
        )
        single = der.sequence(
            cert_id,
            _cert_status(status),
            der.generalized_time(checked_at),
            der.explicit(0, der.generalized_time(checked_at + self.validity)),
        )
        tbs_items = [self._responder_id, der.generalized_time(now), der.sequence(single)]
        if nonce is not None:
            extension = der.sequence(_NONCE, der.octet_string(der.octet_string(nonce)))
            tbs_items.append(der.explicit(1, der.sequence(extension)))
        tbs = der.sequence(*tbs_items)
        key = self.authority.ocsp.key
        signature = key.sign(tbs, ec.ECDSA(key.hash))
        algorithm_id, certs = self._signature
        basic = der.sequence(tbs, algorithm_id, der.bit_string(signature), certs)
        body = der.sequence(_BASIC, der.octet_string(basic))
        return der.sequence(der.tlv(der.ENUMERATED, b"\x00"), der.explicit(0, body))


def _cert_status(status: Status) -> bytes:
    if not status.known:
        return der.tlv(0x82, b"")  # unknown [2] IMPLICIT NULL
    if status.revoked_at is None:
        return der.tlv(0x80, b"")  # good [0] IMPLICIT NULL
    info = der.generalized_time(status.revoked_at)
    if status.reason in _REASON_CODES:
        info += der.explicit(0, der.tlv(der.ENUMERATED, bytes((_REASON_CODES[status.reason],))))
    return der.tlv(0xA1, info)  # revoked [1] IMPLICIT RevokedInfo


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents without its unused-bits octet (RFC 6960 §4.1.1)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bytes(PublicKeyInfo.load(spki)["public_key"].contents[1:])


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
