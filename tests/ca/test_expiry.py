"""Certificates near their end are warned about once: a log entry, and the certificate administrators' inbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ca import hierarchy, seals
from core.clock import ManualClock
from core.runtime import Runtime
from identity.models import Organisation, PostGrant, User
from ledger.models import PendingEntry
from workflow import expiry
from workflow.models import Notification


def test_expiring_certificates_are_warned_about_once(runtime: Runtime, clock: ManualClock) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        district = Organisation(code="yz", name="崖州区", kind="district", uscc="11460205MB1957349Y", created_at=now)
        admin = User(username="ca1", display_name="孙建国", active=True, created_at=now)
        session.add_all([district, admin])
        session.flush()
        session.add(PostGrant(user_id=admin.id, organisation_id=district.id, post="cert_admin", valid_from=now))
        hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
        session.commit()
        days = runtime.settings.ca.service_validity_days
        assert expiry.scan(session, now, 30) == 0

        clock.advance(dt.timedelta(days=days - 29))
        later = clock.now()
        assert expiry.scan(session, later, 30) == 3  # the OCSP, TSA and authorisation certificates
        assert expiry.scan(session, later, 30) == 0
        warned = session.scalars(select(Notification).where(Notification.kind == "certificate-expiring")).all()
        assert {n.user_id for n in warned} == {admin.id}
        assert len(warned) == 3
        logged = session.scalars(select(PendingEntry.type).where(PendingEntry.type == "ca.certificate.expiring")).all()
        assert len(logged) == 3
        assert {c.role for c in seals.expiring(session, later, 30)} == {"ocsp", "tsa", "authorisation"}
