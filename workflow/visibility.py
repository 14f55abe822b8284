"""Who may see a request, who may decide it, and who may take its document.

Seeing is wide: the people of its organisation and the inspectors above it follow the work. The document is
narrow: it holds what the applicant wrote and proved, so only the people the request is between take it: the
applicant, its approvers (deputies included), the custodians of the seal machine authorised to stamp it, and the
bureau it is sent to. Someone who may see the request but not take its document is told so (403); to anyone
else the request does not exist (404).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from identity import directory
from identity.auth import Principal
from identity.delegation import fits
from identity.models import Delegation
from identity.posts import Post
from physical_seal.models import Authorisation, Machine
from workflow import delivery
from workflow.catalog import Mode
from workflow.models import Decision, SealRequest, Step
from workflow.routing import holders


def can_see(session: Session, request: SealRequest, who: Principal, now: dt.datetime) -> bool:
    """The applicant and submitter; anyone who decided or may decide it; the posts of its organisation and
    the inspectors and administrators above it; the bureau post of the organisation that is the matter's
    destination bureau, once the request completed and its result was sent or queued to it. A deputy acting
    for a holder of the open step at ``now`` sees it too."""
    if who.user_id in (request.applicant_id, request.submitted_by_id):
        return True
    if _decided(session, request, who):
        return True
    ancestors = {o.code for o in directory.ancestors(session, request.organisation)}
    for post in who.posts:
        if post.organisation_code == request.organisation.code:
            return True
        if post.post in (Post.INSPECTOR, Post.ADMIN) and post.organisation_code in ancestors:
            return True
        if request.group is not None and post.organisation_code == request.group.code:
            return True
    if _bureau(session, request, who):
        return True
    step = open_step(session, request)
    if step is None:
        return False
    return who.user_id in step.assignees or deputises(session, step, who.user_id, now)


def open_step(session: Session, request: SealRequest) -> Step | None:
    return session.scalar(select(Step).where(Step.request_id == request.id, Step.finished_at.is_(None)).limit(1))


def eligible(session: Session, step: Step, now: dt.datetime) -> set[int]:
    """Who decides the step as a holder: whoever holds the post now on a 或签 level, the holders when the level
    began on the others (as ``routing.Seats.authority`` judges a decision)."""
    if Mode(step.mode) is Mode.ANY:
        return set(holders(session, step.organisation_id, step.post, now))
    return set(step.assignees)


def deputises(session: Session, step: Step, user_id: int, now: dt.datetime) -> bool:
    """Whether the user acts now for a holder of the step through a delegation in force, and still works where
    the post does (a delegation to anyone else gives nothing, whenever it was made)."""
    acting_for = set(
        session.scalars(
            select(Delegation.holder_id).where(
                Delegation.deputy_id == user_id,
                Delegation.organisation_id == step.organisation_id,
                Delegation.post == step.post,
                Delegation.valid_from <= now,
                Delegation.valid_until > now,
                Delegation.ended_at.is_(None),
            )
        )
    )
    if not acting_for & eligible(session, step, now):
        return False
    return fits(session, user_id, step.organisation_id, now)


def may_download(session: Session, request: SealRequest, who: Principal, now: dt.datetime) -> bool:
    """Whether ``who`` takes the request's document, original or sealed (the module's docstring says who)."""
    if who.user_id in (request.applicant_id, request.submitted_by_id):
        return True
    if _decided(session, request, who):
        return True
    step = open_step(session, request)
    if step is not None and (who.user_id in eligible(session, step, now) or deputises(session, step, who.user_id, now)):
        return True
    if _custodian(session, request, who):
        return True
    return _bureau(session, request, who)


def _decided(session: Session, request: SealRequest, who: Principal) -> bool:
    """Who decided a level of it, as themselves or as the holder a deputy acted for."""
    found = session.scalar(
        select(Decision.id)
        .where(
            Decision.request_id == request.id,
            or_(Decision.actor_id == who.user_id, Decision.on_behalf_of_id == who.user_id),
        )
        .limit(1)
    )
    return found is not None


def _custodian(session: Session, request: SealRequest, who: Principal) -> bool:
    """A custodian of a seal machine the request was authorised to: they print the sheet and check it."""
    machines = select(Authorisation.machine_id).where(Authorisation.request_id == request.id)
    custodians = session.scalars(select(Machine.custodians).where(Machine.id.in_(machines)))
    return any(who.user_id in (people or []) for people in custodians)


def _bureau(session: Session, request: SealRequest, who: Principal) -> bool:
    bureaus = {p.organisation_code for p in who.posts if p.post == Post.BUREAU}
    return delivery.addressed_to(session, request.id, bureaus)
