"""Tables of the workflow app: catalogue versions, seal requests, their steps and decisions, notifications,
the outbox of deliveries to bureaus and webhooks, and what the hosted inbox of a bureau received."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime
from identity.models import Organisation, User


class CatalogVersion(Base):
    """One immutable version of the matters catalogue; the newest is in force."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(String(200))


def new_public_id() -> str:
    """128 random bits, URL-safe: the link to a request's public record cannot be guessed or counted."""
    return secrets.token_urlsafe(16)


class SealRequest(Base):
    __tablename__ = "seal_requests"
    __table_args__ = (Index("ix_seal_requests_org_state", "organisation_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, index=True, default=new_public_id)
    matter_code: Mapped[str] = mapped_column(String(64))
    catalog_version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seal_kind: Mapped[str] = mapped_column(String(40))
    seal_form: Mapped[str] = mapped_column(String(16))
    copies: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    form: Mapped[dict[str, object]] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_source: Mapped[str] = mapped_column(String(16))
    # Where the rendered document has the seal's anchor text (``documents.located_record``): not searched again
    anchor_located: Mapped[dict[str, object] | None] = mapped_column(JSON)
    sealed_sha256: Mapped[str | None] = mapped_column(String(64))  # the sealed PDF, once sealed
    state: Mapped[str] = mapped_column(String(16), index=True)
    level: Mapped[int | None] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(Text)

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    group: Mapped[Organisation | None] = relationship(foreign_keys=[group_id])
    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])


def record_path(request: SealRequest) -> str:
    """Where the request's public record is served: the link its sealed document's QR code carries."""
    return f"/records/{request.public_id}"


class Step(Base):
    """One level of one round of review: when it started, when it is due, how it ended."""

    __tablename__ = "request_steps"
    __table_args__ = (Index("ix_request_steps_open", "finished_at", "post", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("seal_requests.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(100))
    post: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    mode: Mapped[str] = mapped_column(String(16))
    assignees: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[SealRequest] = relationship()
    organisation: Mapped[Organisation] = relationship()


class Decision(Base):
    __tablename__ = "request_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("seal_requests.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("request_steps.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_level: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)

    actor: Mapped[User] = relationship(foreign_keys=[actor_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("seal_requests.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DeliveryEndpoint(Base):
    """Where a destination bureau receives results, and the secret its deliveries are signed with."""

    __tablename__ = "delivery_endpoints"

    bureau: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(80))
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The organisation of the directory that is this bureau: its bureau post sees what is delivered to it.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)


class OutboxMessage(Base):
    """A message to deliver at least once: retried with back-off, dead after too many attempts."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(500))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("seal_requests.id"), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BureauDelivery(Base):
    """A delivery the hosted inbox of a bureau received, signature checked, once per Idempotency-Key."""

    __tablename__ = "bureau_deliveries"
    __table_args__ = (UniqueConstraint("organisation_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    bureau: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[int] = mapped_column(ForeignKey("seal_requests.id"), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    request: Mapped[SealRequest] = relationship()
