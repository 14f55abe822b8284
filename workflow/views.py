"""What a request looks like to someone allowed to see it: its state, its steps with their time, its decisions,
and its form with personal numbers masked for everyone but the applicant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from identity.auth import Principal
from identity.delegation import fits
from identity.models import Delegation, Organisation
from workflow import forms
from workflow.catalog import Mode
from workflow.models import Decision, SealRequest, Step, record_path
from workflow.review import matter_of
from workflow.visibility import may_download


def request_view(session: Session, request: SealRequest, viewer: Principal, now: dt.datetime) -> dict[str, Any]:
    matter = matter_of(session, request)
    own = viewer.user_id in (request.applicant_id, request.submitted_by_id)
    steps = session.scalars(select(Step).where(Step.request_id == request.id).order_by(Step.id)).all()
    decisions = session.scalars(select(Decision).where(Decision.request_id == request.id).order_by(Decision.id)).all()
    open_step = next((s for s in steps if s.finished_at is None), None)
    return {
        "id": request.id,
        "number": request.number,
        "record": record_path(request) if own else None,
        "matter": {"code": matter.code, "name": matter.name, "class": str(matter.use_class)},
        "organisation": {"code": request.organisation.code, "name": request.organisation.name},
        "group": {"code": request.group.code, "name": request.group.name} if request.group else None,
        "applicant": request.applicant.username,
        "submitted_by": request.submitted_by.username,
        "seal": request.seal_kind,
        "seal_form": request.seal_form,
        "copies": request.copies,
        "place": request.place,
        "purpose": request.purpose,
        "form": dict(request.form) if own else forms.masked(matter, request.form, names=False),
        "document": {
            "sha256": request.document_sha256,
            "source": request.document_source,
            # only to whoever may take it: the others would follow it to a 403
            "url": f"/api/v1/requests/{request.id}/document" if may_download(session, request, viewer, now) else None,
        },
        "state": request.state,
        "level": request.level,
        "level_label": open_step.label if open_step else None,
        "round": request.round,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "finished_at": request.finished_at,
        "failure": request.failure,
        "steps": [
            {
                "id": s.id,
                "round": s.round,
                "level": s.level,
                "label": s.label,
                "mode": s.mode,
                "started_at": s.started_at,
                "due_at": s.due_at,
                "finished_at": s.finished_at,
                "outcome": s.outcome,
                "seconds": int(((s.finished_at or now) - s.started_at).total_seconds()),
                "overdue": (s.finished_at or now) > s.due_at,
            }
            for s in steps
        ],
        "decisions": [decision_view(d) for d in decisions],
    }


def decision_view(d: Decision) -> dict[str, Any]:
    return {
        "step": d.step_id,
        "round": d.round,
        "level": d.level,
        "decision": d.decision,
        "by": d.actor.username,
        "on_behalf_of": d.on_behalf_of.username if d.on_behalf_of else None,
        "to_level": d.to_level,
        "comment": d.comment,
        "decided_at": d.decided_at,
        "superseded": d.superseded,
    }


def inbox(session: Session, viewer: Principal, now: dt.datetime) -> list[tuple[Step, SealRequest]]:
    """Open steps the viewer may decide, as a holder or a deputy, and has not voted on yet."""
    acting: set[tuple[str, str]] = {(str(p.post), p.organisation_code) for p in viewer.posts}
    delegated = [
        (post, code, holder)
        for post, code, holder, organisation_id in session.execute(
            select(Delegation.post, Organisation.code, Delegation.holder_id, Delegation.organisation_id)
            .join(Organisation, Organisation.id == Delegation.organisation_id)
            .where(
                Delegation.deputy_id == viewer.user_id,
                Delegation.valid_from <= now,
                Delegation.valid_until > now,
                Delegation.ended_at.is_(None),
            )
        )
        if fits(session, viewer.user_id, organisation_id, now)  # a deputy from elsewhere decides nothing
    ]
    acting |= {(post, code) for post, code, _ in delegated}
    if not acting:
        return []
    rows = session.execute(
        select(Step, SealRequest)
        .join(SealRequest, SealRequest.id == Step.request_id)
        .join(Organisation, Organisation.id == Step.organisation_id)
        .where(Step.finished_at.is_(None), tuple_(Step.post, Organisation.code).in_(sorted(acting)))
        .order_by(Step.due_at)
    ).all()
    mine = {viewer.user_id} | {holder for _, _, holder in delegated}
    found = []
    for step, request in rows:
        if viewer.user_id in (request.applicant_id, request.submitted_by_id):
            continue
        if Mode(step.mode) is not Mode.ANY:
            if not mine & set(step.assignees):
                continue
            voted = session.scalar(
                select(Decision.id).where(
                    Decision.step_id == step.id,
                    Decision.superseded.is_(False),
                    (Decision.actor_id.in_(mine)) | (Decision.on_behalf_of_id.in_(mine)),
                )
            )
            if voted is not None:
                continue
        found.append((step, request))
    return found


def inbox_view(session: Session, viewer: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    """The viewer's inbox, soonest due first, each step with its request's number, matter and organisation."""
    return [inbox_item(session, step, request, now) for step, request in inbox(session, viewer, now)]


def inbox_item(session: Session, step: Step, request: SealRequest, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": request.id,
        "number": request.number,
        "matter": matter_of(session, request).name,
        "organisation": request.organisation.name,
        "level": step.level,
        "label": step.label,
        "mode": step.mode,
        "started_at": step.started_at,
        "due_at": step.due_at,
        "overdue": step.due_at < now,
    }
