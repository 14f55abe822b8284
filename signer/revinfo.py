"""The OCSP responses and CRLs a seal embeds, made once and reused while fresh rather than signed again for every
document: a response is reused for half its validity, and only for the status it states; a CRL while it is its
issuer's newest and not due for renewal.

Reuse never hides a revocation. The statuses come from the sealing transaction each time, and a status other than
the cached one is a new key, so a new response. Which CRL is newest is asked of the database once per transaction
(one small query for both issuers); a revocation issues a new CRL, and from then on the new one is embedded.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ca import crl
from ca.crl import CrlIssuer
from ca.models import Crl
from ca.ocsp import Responder, Status
from core.db import once_per_transaction
from signer import ltv

# Each issuer's newest CRL number: built once, as it is asked for at every sealing.
_NEWEST = (
    select(Crl.issuer_id, func.max(Crl.number))
    .where(Crl.issuer_id.in_(bindparam("ids", expanding=True)))
    .group_by(Crl.issuer_id)
)


@dataclass(frozen=True)
class _Held:
    der: bytes
    made: dt.datetime
    fresh_until: dt.datetime
    number: int = 0  # a CRL's number


@dataclass
class RevinfoCache:
    responder: Responder
    _responses: dict[tuple[int, Status], _Held] = field(default_factory=dict)
    _crls: dict[int, _Held] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ocsp(self, certificate: x509.Certificate, issuer: x509.Certificate, status: Status, now: dt.datetime) -> bytes:
        """The responder's answer for ``certificate`` with ``status``, made at most half its validity ago."""
        key = (certificate.serial_number, status)
        with self._lock:
            held = self._responses.get(key)
        if held is not None and held.made <= now < held.fresh_until:
            return held.der
        der = ltv.ocsp_response(self.responder, certificate, issuer, status, now)
        with self._lock:
            self._responses = {k: v for k, v in self._responses.items() if now < v.fresh_until}
            self._responses[key] = _Held(der, now, now + self.responder.validity / 2)
        return der

    def crls(self, session: Session, issuers: Sequence[CrlIssuer], now: dt.datetime) -> list[bytes]:
        """Each issuer's current CRL, as ``crl.current`` gives it, from memory while it is still the newest."""
        ids = sorted(i.row_id for i in issuers)
        newest: dict[int, int] = once_per_transaction(
            session,
            ("newest-crls", *ids),
            lambda: {issuer_id: number for issuer_id, number in session.execute(_NEWEST, {"ids": ids})},
        )
        found = []
        for issuer in issuers:
            with self._lock:
                held = self._crls.get(issuer.row_id)
            if held is not None and held.number == newest.get(issuer.row_id) and held.made <= now < held.fresh_until:
                found.append(held.der)
                continue
            der = crl.current(session, issuer, now, commit=False)
            parsed = x509.load_der_x509_crl(der)
            number = parsed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            made = parsed.last_update_utc
            due = made + ((parsed.next_update_utc or made) - made) / 2  # when crl.current renews it
            with self._lock:
                self._crls[issuer.row_id] = _Held(der, made, due, number)
            found.append(der)
        return found
