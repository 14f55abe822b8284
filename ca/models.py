"""Tables of the certificate authority: seals, every certificate it made, and its CRLs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class Seal(Base):
    """An official seal of an organisation: electronic (a key and a certificate), physical, or both."""

    __tablename__ = "seals"
    __table_args__ = (Index("ix_seals_org_kind", "organisation_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    form: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Certificate(Base):
    """A certificate the CA made, with the token label of its key (none for a seal machine's own key)."""

    __tablename__ = "ca_certificates"
    __table_args__ = (Index("ix_ca_certificates_role_current", "role", "retired_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500))
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("ca_certificates.id"))
    key_label: Mapped[str | None] = mapped_column(String(128))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"), index=True)
    machine: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    expiry_warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Crl(Base):
    """Every CRL issued, the issuing CA's and the root's (its ARL), numbered per issuer as RFC 5280 numbers them;
    each issuer's newest is served until it is due for renewal."""

    __tablename__ = "ca_crls"

    issuer_id: Mapped[int] = mapped_column(ForeignKey("ca_certificates.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Operation(Base):
    """An issuance, renewal or revocation asked by one certificate administrator, run when a second approves."""

    __tablename__ = "ca_operations"
    __table_args__ = (Index("ix_ca_operations_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("ca_certificates.id"))
    reason: Mapped[str | None] = mapped_column(String(32))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("ca_certificates.id"))
