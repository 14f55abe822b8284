"""The audit's completeness check of the CA: seals, certificates and four-eyes operations made through the CA's
own functions are all found in the log, and a row whose entry is gone is named."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca import hierarchy, operations, seals
from ca.logcheck import missing_entries
from ca.models import Certificate
from ca.operations import Kind
from core.runtime import Runtime
from identity import directory
from identity.auth import principal_of
from identity.models import User
from identity.posts import OrgKind, Post
from ledger.models import PendingEntry


@dataclass(frozen=True)
class Made:
    seal: int
    issued: int
    revoked: int
    rejected: int


@pytest.fixture
def made(runtime: Runtime) -> Made:
    now = runtime.clock.now()
    with runtime.sessions() as s:
        hierarchy.initialise(s, runtime.keystore, runtime.settings, now, "test")
        authority = hierarchy.load(s, runtime.keystore)
        directory.create_organisation(
            s, code="yz", name="崖州区", kind=OrgKind.DISTRICT, parent_code=None, uscc_code=None, now=now, actor="test"
        )
        directory.create_organisation(
            s,
            code="yz.sn",
            name="水南村民委员会",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code="54460205C50121019D",
            now=now,
            actor="test",
        )
        for name in ("ca1", "ca2"):
            directory.create_user(
                s, username=name, display_name=name, password="pass-word-1", home_code=None, now=now, actor="test"
            )
            directory.grant_post(
                s, username=name, org_code="yz", post=Post.CERT_ADMIN, valid_from=now, now=now, actor="test"
            )
        admins = s.scalars(select(User).where(User.username.in_(("ca1", "ca2"))).order_by(User.username))
        one, two = (principal_of(s, user, now) for user in admins.all())
        seal = seals.add(s, "yz.sn", "village_official", seals.SealForm.ELECTRONIC, "公章", now, "user:ca1")

        def run(kind: Kind, reason: str | None = None) -> int:
            op = operations.ask(s, one, kind, seal.id, now, reason=reason)
            return operations.approve(s, two, op.id, runtime.keystore, authority, runtime.settings, now).id

        issued = run(Kind.ISSUE)
        revoked = run(Kind.REVOKE, "keyCompromise")
        rejected = operations.reject(s, two, operations.ask(s, one, Kind.ISSUE, seal.id, now).id, now).id
        seals.suspend(s, seal, now, "user:ca1")
        seals.warn_expiring(s, now + dt.timedelta(days=1), days=100_000)
        s.commit()
        return Made(seal.id, issued, revoked, rejected)


def gone(session: Session, kind: str, subject: str | None = None) -> list[str]:
    """Delete the queued entries of ``kind`` (of ``subject`` only, if given), and what the check says then."""
    query = delete(PendingEntry).where(PendingEntry.type == kind)
    session.execute(query if subject is None else query.where(PendingEntry.subject == subject))
    return list(missing_entries(session))


def test_everything_the_ca_did_is_logged(runtime: Runtime, made: Made) -> None:
    with runtime.sessions() as s:
        assert list(missing_entries(s)) == []


def test_an_operation_without_its_entries_is_named(runtime: Runtime, made: Made) -> None:
    with runtime.sessions() as s:
        bodies = s.scalars(select(PendingEntry).where(PendingEntry.type == "ca.operation.approved")).all()
        (first,) = [e for e in bodies if f'"operation":{made.issued},'.encode() in e.body]
        s.delete(first)
        assert list(missing_entries(s)) == [
            f"operation {made.issued} (issue on seal {made.seal}) has no ca.operation.approved entry"
        ]
        assert gone(s, "ca.operation.requested") == [
            f"operation {made.issued} (issue on seal {made.seal}) has no ca.operation.requested entry",
            f"operation {made.issued} (issue on seal {made.seal}) has no ca.operation.approved entry",
            f"operation {made.revoked} (revoke on seal {made.seal}) has no ca.operation.requested entry",
            f"operation {made.rejected} (issue on seal {made.seal}) has no ca.operation.requested entry",
        ]
        assert gone(s, "ca.operation.rejected")[-1] == (
            f"operation {made.rejected} (issue on seal {made.seal}) has no ca.operation.rejected entry"
        )


def test_a_certificate_or_seal_without_its_entry_is_named(runtime: Runtime, made: Made) -> None:
    with runtime.sessions() as s:
        seal_certificate = s.scalars(select(Certificate).where(Certificate.seal_id == made.seal)).one()
        serial, subject = seal_certificate.serial, f"certificate:{seal_certificate.serial}"
        assert gone(s, "ca.certificate.revoked") == [
            f"seal certificate {serial}, revoked, has no ca.certificate.revoked entry"
        ]
        s.rollback()
        assert gone(s, "ca.certificate.issued", subject) == [
            f"seal certificate {serial} has no ca.certificate.issued entry"
        ]
        s.rollback()
        warned = gone(s, "ca.certificate.expiring")
        assert len(warned) == 5  # the hierarchy's, all in use; the seal's is revoked
        assert all(m.endswith(", warned of its expiry, has no ca.certificate.expiring entry") for m in warned)
        s.rollback()
        suspended = gone(s, "ca.seal.suspended")
        assert suspended == [f"seal {made.seal} suspended at 2026-11-02T09:00:00.000Z has no ca.seal.suspended entry"]
        assert gone(s, "ca.seal.added") == [*suspended, f"seal {made.seal} has no ca.seal.added entry"][::-1]


def test_an_entry_whose_body_cannot_be_read_is_named(runtime: Runtime, made: Made) -> None:
    """A body that is not JSON, or lacks what the check reads, is a problem of the audit, not its crash; the
    row it stood for then has no entry."""
    with runtime.sessions() as s:
        entries = s.scalars(select(PendingEntry).where(PendingEntry.type == "ca.operation.approved")).all()
        (approved,) = [e for e in entries if f'"operation":{made.issued},'.encode() in e.body]
        approved.body = b"\xff not json"
        added = s.scalars(select(PendingEntry).where(PendingEntry.type == "ca.seal.added")).one()
        added.body = b"{"
        suspended = s.scalars(select(PendingEntry).where(PendingEntry.type == "ca.seal.suspended")).one()
        suspended.body = b'{"data": {}}'
        s.flush()
        assert sorted(missing_entries(s)) == sorted(
            [
                f"ca.operation.approved entry of {approved.subject} has a body that is not JSON",
                f"ca.seal.added entry of {added.subject} has a body that is not JSON",
                f"ca.seal.suspended entry of {suspended.subject} has no time in its body",
                f"seal {made.seal} suspended at 2026-11-02T09:00:00.000Z has no ca.seal.suspended entry",
                f"operation {made.issued} (issue on seal {made.seal}) has no ca.operation.approved entry",
            ]
        )
