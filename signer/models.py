"""What the signer keeps: every sealing, so that a signature found in a PDF leads back to its log entry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class Sealing(Base):
    """One signature made with a seal: the document before and after, and the log event that recorded it."""

    __tablename__ = "signer_sealings"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("ca_certificates.id"))
    document_sha256: Mapped[str] = mapped_column(String(64))
    sealed_sha256: Mapped[str] = mapped_column(String(64), index=True)
    signature_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
