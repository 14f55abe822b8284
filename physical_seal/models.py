"""Tables of the seal machines: the machines and their slots, the authorisations issued to them, the events they
signed, and the alarms raised about them.

A request is named by its id and number, without a foreign key: requests belong to the workflow, a floor above.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class Machine(Base):
    """A seal machine of an organisation, where it stands, who keeps it, and how far its events have come."""

    __tablename__ = "machines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # registered, active, suspended, retired
    latitude_e7: Mapped[int] = mapped_column(Integer)
    longitude_e7: Mapped[int] = mapped_column(Integer)
    radius_m: Mapped[int] = mapped_column(Integer)
    custodians: Mapped[list[int]] = mapped_column(JSON)  # user ids, two as the seeds require
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("ca_certificates.id"))
    credential_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)  # the terminal's bearer secret
    enrolment_sha256: Mapped[str | None] = mapped_column(String(64))
    enrolment_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_counter: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    silence_alarmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MachineSlot(Base):
    """Which seal sits in which slot of a machine."""

    __tablename__ = "machine_slots"

    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), index=True)


class Authorisation(Base):
    """An authorisation issued to a machine, as signed (``cose``), and how much of it has been used."""

    __tablename__ = "authorisations"
    __table_args__ = (Index("ix_authorisations_machine_state", "machine_id", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    slot: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[int] = mapped_column(Integer, index=True)
    request_number: Mapped[str] = mapped_column(String(32))
    document_sha256: Mapped[str] = mapped_column(String(64))
    uses: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    epoch: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16))  # issued, executing, spent, closed, expired, cancelled
    cose: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MachineEvent(Base):
    """An event a machine signed (a stamp, an alarm, a closed authorisation), numbered by its counter."""

    __tablename__ = "machine_events"
    __table_args__ = (UniqueConstraint("machine_id", "counter", name="uq_machine_events_counter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    counter: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    authorisation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    use: Mapped[int] = mapped_column(Integer)
    time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    custodian: Mapped[str | None] = mapped_column(String(64))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    photo_received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    alarm: Mapped[str | None] = mapped_column(String(40))
    cose: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Alarm(Base):
    """Something wrong about a machine, raised by the machine or by the service, until someone acknowledges it."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_open", "acknowledged_at", "raised_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))  # machine or service
    detail: Mapped[str] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("machine_events.id"))
    authorisation_id: Mapped[str | None] = mapped_column(String(32))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
