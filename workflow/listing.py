"""Lists of requests: the caller's own, or every request the caller may see, newest first, filtered and paged.

"May see" is ``requests.can_see`` turned into one query: the organisations where the caller holds a post, those
below where the caller inspects or administers, the requests the caller decided, those with an open step the
caller is assigned (a township's staff deciding a village's request) or acts on as a deputy (given the time), and,
for a bureau's post, those whose result was sent or queued to that bureau.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.orm import Session

from identity import directory
from identity.auth import Principal
from identity.models import Delegation, Organisation
from identity.posts import Post
from workflow.models import Decision, DeliveryEndpoint, OutboxMessage, SealRequest, Step
from workflow.review import matter_of
from workflow.visibility import deputises

Scope = Literal["mine", "visible"]
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    size: int


def _visible_organisations(tree: list[tuple[int, Organisation]], who: Principal) -> set[int]:
    """Where each post lets its holder see requests: its own organisation, and everything below it for the
    posts that oversee (inspectors, administrators)."""
    by_code = {org.code: org for _, org in tree}
    children: dict[int | None, list[Organisation]] = {}
    for _, org in tree:
        children.setdefault(org.parent_id, []).append(org)
    seen: set[int] = set()
    for post in who.posts:
        org = by_code[post.organisation_code]
        seen.add(org.id)
        if post.post in (Post.INSPECTOR, Post.ADMIN):
            below = list(children.get(org.id, []))
            while below:
                child = below.pop()
                seen.add(child.id)
                below.extend(children.get(child.id, []))
    return seen


def _query(session: Session, who: Principal, scope: Scope, now: dt.datetime | None) -> Select[SealRequest]:
    mine = or_(SealRequest.applicant_id == who.user_id, SealRequest.submitted_by_id == who.user_id)
    if scope == "mine":
        return select(SealRequest).where(mine)
    tree = directory.organisation_tree(session)
    orgs = _visible_organisations(tree, who)
    decided = select(Decision.request_id).where(
        or_(Decision.actor_id == who.user_id, Decision.on_behalf_of_id == who.user_id)
    )
    return select(SealRequest).where(
        or_(
            mine,
            SealRequest.organisation_id.in_(orgs),
            SealRequest.group_id.in_(orgs),
            SealRequest.id.in_(decided),
            SealRequest.id.in_(_assigned(session, tree, who)),
            SealRequest.id.in_(_deputised(session, who, now)),
            SealRequest.id.in_(_delivered(who)),
        )
    )


def _delivered(who: Principal) -> Select[int | None]:
    """Requests whose result was sent, or is queued, to a bureau the caller holds the bureau post of (as
    ``delivery.addressed_to`` judges one request)."""
    bureaus = [p.organisation_code for p in who.posts if p.post == Post.BUREAU]
    return (
        select(OutboxMessage.request_id)
        .join(DeliveryEndpoint, DeliveryEndpoint.bureau == OutboxMessage.target)
        .join(Organisation, Organisation.id == DeliveryEndpoint.organisation_id)
        .where(OutboxMessage.kind == "bureau", Organisation.code.in_(bureaus))
    )


def _assigned(session: Session, tree: list[tuple[int, Organisation]], who: Principal) -> set[int]:
    """Requests with an open step the caller is one of the assignees of: the steps of the caller's posts, narrowed
    to those whose holders, when the step began, included the caller."""
    ids = {org.code: org.id for _, org in tree}
    seats = sorted({(str(p.post), ids[p.organisation_code]) for p in who.posts})
    if not seats:
        return set()
    rows = session.execute(
        select(Step.request_id, Step.assignees).where(
            Step.finished_at.is_(None), tuple_(Step.post, Step.organisation_id).in_(seats)
        )
    )
    return {request_id for request_id, assignees in rows if who.user_id in assignees}


def _deputised(session: Session, who: Principal, now: dt.datetime | None) -> set[int]:
    """Requests with an open step the caller acts on now as a deputy (as ``visibility.deputises`` judges)."""
    if now is None:
        return set()
    seats = session.execute(
        select(Delegation.organisation_id, Delegation.post).where(
            Delegation.deputy_id == who.user_id,
            Delegation.valid_from <= now,
            Delegation.valid_until > now,
            Delegation.ended_at.is_(None),
        )
    ).all()
    if not seats:
        return set()
    steps = session.scalars(
        select(Step).where(Step.finished_at.is_(None), tuple_(Step.organisation_id, Step.post).in_(sorted(set(seats))))
    )
    return {step.request_id for step in steps if deputises(session, step, who.user_id, now)}


def requests(
    session: Session,
    who: Principal,
    *,
    now: dt.datetime | None = None,
    scope: Scope = "mine",
    state: str | None = None,
    matter: str | None = None,
    page: int = 1,
    size: int = 20,
) -> Page:
    size = max(1, min(size, MAX_PAGE_SIZE))
    page = max(1, page)
    query = _query(session, who, scope, now)
    if state:
        query = query.where(SealRequest.state == state)
    if matter:
        query = query.where(SealRequest.matter_code == matter)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SealRequest.id.desc()).offset((page - 1) * size).limit(size)).all()
    return Page([row_view(session, r) for r in rows], total, page, size)


def row_view(session: Session, request: SealRequest) -> dict[str, Any]:
    """A request as one line of a list: enough to find it again, nothing of what the applicant filled in."""
    matter = matter_of(session, request)
    step = session.scalar(select(Step).where(Step.request_id == request.id, Step.finished_at.is_(None)))
    return {
        "id": request.id,
        "number": request.number,
        "matter": {"code": matter.code, "name": matter.name},
        "organisation": {"code": request.organisation.code, "name": request.organisation.name},
        "seal": request.seal_kind,
        "seal_form": request.seal_form,
        "state": request.state,
        "level": request.level,
        "level_label": step.label if step else None,
        "due_at": step.due_at if step else None,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
    }
