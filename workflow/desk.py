"""An approver's desk: the steps waiting for their decision, with the holders a deputy acts for, and one request
as its approver sees it: the form with its field titles, and the level they may decide now, if any."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import delegation
from identity.auth import Principal
from identity.models import Delegation, Organisation
from identity.posts import Post
from workflow import catalogs, requests, views
from workflow.catalog import Mode
from workflow.models import SealRequest, Step
from workflow.review import chain_of, matter_of
from workflow.states import State

FAILED_SHOWN = 50


@dataclass(frozen=True)
class Turn:
    """The level the viewer may decide now, for whom, and the earlier levels a return may send the request to."""

    level: int
    label: str
    mode: str
    due_at: dt.datetime
    overdue: bool
    on_behalf_of: list[str]
    earlier: list[tuple[int, str]]


def waiting(session: Session, viewer: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    """The viewer's inbox, soonest due first (so the overdue come first), each step with the applicant's group and
    the holders the viewer acts for when it reached them through a delegation."""
    acting = _deputising(session, viewer, now)
    return [
        {
            **views.inbox_item(session, step, request, now),
            "group": request.group.name if request.group else None,
            "on_behalf_of": _for_whom(step, viewer, acting),
        }
        for step, request in views.inbox(session, viewer, now)
    ]


def failed_requests(session: Session, viewer: Principal) -> Sequence[SealRequest]:
    """The requests that failed in the organisations where the viewer is the seal administrator, who retries them
    (``execution.retry``), newest failure first; at most ``FAILED_SHOWN``."""
    codes = {p.organisation_code for p in viewer.posts if p.post == Post.SEAL_ADMIN}
    if not codes:
        return []
    return session.scalars(
        select(SealRequest)
        .join(Organisation, Organisation.id == SealRequest.organisation_id)
        .where(SealRequest.state == State.FAILED, Organisation.code.in_(codes))
        .order_by(SealRequest.updated_at.desc(), SealRequest.id.desc())
        .limit(FAILED_SHOWN)
    ).all()


def failed(session: Session, viewer: Principal) -> list[dict[str, Any]]:
    """``failed_requests`` as the inbox lists them, each with its matter and its reason."""
    return [
        {
            "id": request.id,
            "number": request.number,
            "matter": matter_of(session, request).name,
            "organisation": request.organisation.name,
            "failure": request.failure,
            "failed_at": request.updated_at,
        }
        for request in failed_requests(session, viewer)
    ]


def case(session: Session, request_id: int, viewer: Principal, now: dt.datetime) -> dict[str, Any]:
    """A request the viewer may see, as ``views.request_view`` shows it, with its seal's name, its form's fields
    titled, the viewer's turn to decide it (None when nothing of it waits for them) and the SHA-256 of the
    document its page shows (None to a viewer who may not take it)."""
    request = requests.visible(session, request_id, viewer, now)
    view = views.request_view(session, request, viewer, now)
    seal = catalogs.version(session, request.catalog_version_id).seals.get(request.seal_kind)
    return {
        "view": view,
        "seal": seal.name if seal else request.seal_kind,
        "fields": _titled(session, request, view["form"]),
        "turn": _turn(session, request, viewer, now),
        "shown": requests.shown_document(request, view),
    }


def _turn(session: Session, request: SealRequest, viewer: Principal, now: dt.datetime) -> Turn | None:
    step = next((s for s, r in views.inbox(session, viewer, now) if r.id == request.id), None)
    if step is None:
        return None
    levels = chain_of(session, request).levels
    return Turn(
        level=step.level,
        label=step.label,
        mode=step.mode,
        due_at=step.due_at,
        overdue=step.due_at < now,
        on_behalf_of=_for_whom(step, viewer, _deputising(session, viewer, now)),
        earlier=[(n, levels[n - 1].label) for n in range(1, step.level)],
    )


def _deputising(session: Session, viewer: Principal, now: dt.datetime) -> list[Delegation]:
    """The delegations in force that make the viewer a deputy."""
    return [
        d
        for d in delegation.of_user(session, viewer.user_id)
        if d.deputy_id == viewer.user_id and d.ended_at is None and d.valid_from <= now < d.valid_until
    ]


def _for_whom(step: Step, viewer: Principal, acting: list[Delegation]) -> list[str]:
    """Nobody when the viewer decides the step in their own right (as ``routing.Seats.authority`` judges it), else
    the names of the holders who handed them its post."""
    anyone = Mode(step.mode) is Mode.ANY
    if viewer.holds(step.post, step.organisation.code) if anyone else viewer.user_id in step.assignees:
        return []
    return [
        d.holder.display_name
        for d in acting
        if d.organisation_id == step.organisation_id
        and d.post == step.post
        and (anyone or d.holder_id in step.assignees)
    ]


def _titled(session: Session, request: SealRequest, values: dict[str, Any]) -> list[tuple[str, Any]]:
    """The form's values under their titles, in the order of the matter's form."""
    properties: dict[str, Any] = matter_of(session, request).form.get("properties", {})
    order = [name for name in properties if name in values] + [name for name in values if name not in properties]
    return [(properties.get(name, {}).get("title", name), values[name]) for name in order]
