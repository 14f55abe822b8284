"""The executor for electronic seals: an approved request's document is sealed with the organisation's seal of
the kind the request names, and the request keeps the sealed file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Seal
from ca.seals import SealForm as CaSealForm
from core.db import once_per_transaction
from core.errors import DomainError
from signer import sealing
from signer.incremental import UnsealablePdf
from signer.pades import SealingRefused
from workflow import catalogs, documents, history
from workflow.execution import ExecutionFailed
from workflow.models import SealRequest, record_path
from workflow.review import matter_of


@dataclass
class ElectronicSealing:
    office: Callable[[], sealing.Office]  # loaded at first use: the CA may be initialised after the start
    public_url: str
    anchor: str
    qr_code: bool = True
    completes: bool = field(default=True, init=False)  # the sealed PDF is the whole result

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        seal = once_per_transaction(
            session, ("electronic-seal", request.organisation_id, request.seal_kind), lambda: _seal(session, request)
        )
        if seal is None:
            raise ExecutionFailed(f"{request.organisation.name} has no electronic seal of kind {request.seal_kind}")
        matter = matter_of(session, request)
        kind = catalogs.version(session, request.catalog_version_id).seals.get(request.seal_kind)
        order = sealing.Request(
            document_sha256=request.document_sha256,
            subject=history.subject(request.id),
            actor="system",
            details={"number": request.number, "matter": history.matter(session, matter.code, now)},
            qr_url=f"{self.public_url.rstrip('/')}{record_path(request)}" if self.qr_code else None,
            purpose=kind.purpose if kind is not None else None,
            anchor=self.anchor,
            located=documents.located_of(request.anchor_located, request.document_sha256),
            certify=matter.certify,
            paging=matter.paging_seal,
            reason=matter.name,
            location=request.organisation.name,
        )
        try:
            office = self.office()
            done = office.seal(session, seal, order, now)
        except (SealingRefused, UnsealablePdf, DomainError) as exc:  # the reason, shown to the applicant
            raise ExecutionFailed(str(exc)) from None
        request.sealed_sha256 = done.sealed_sha256
        return {
            "seal": seal.id,
            "certificate": done.certificate_serial,
            "sealed_sha256": done.sealed_sha256,
            "signature_sha256": done.signature_sha256,
            "level": done.level,
            "document": f"/api/v1/requests/{request.id}/document",
            "receipt": f"/api/v1/requests/{request.id}/receipt",
        }


def _seal(session: Session, request: SealRequest) -> Seal | None:
    """The organisation's first seal of the request's kind that seals electronically, its row kept from a
    suspension until the transaction ends (PostgreSQL): no seal made with it commits after it was suspended."""
    return session.scalars(
        select(Seal)
        .where(
            Seal.organisation_id == request.organisation_id,
            Seal.kind == request.seal_kind,
            Seal.form.in_([str(CaSealForm.ELECTRONIC), str(CaSealForm.BOTH)]),
        )
        .order_by(Seal.id)
        .limit(1)
        .with_for_update(read=True)
    ).first()
