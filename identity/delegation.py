"""Delegation: a holder hands a post to a named deputy for a period (say, while away at training); decisions
the deputy makes record both, and the log shows who could act for whom when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, Invalid, NotFound
from identity import directory
from identity.models import Delegation, Organisation, PostGrant
from identity.posts import Post
from ledger.append import append
from ledger.entry import Event, commit, timestamp

# What refuses a delegation, as its refusal's ``rule`` names it.
RULES = (
    "starts-in-past",
    "ends-before-start",
    "too-long",
    "unknown-deputy",
    "self",
    "deputy-disabled",
    "not-holder",
    "deputy-elsewhere",
    "overlaps",
)


def seat_and_parent(session: Session, organisation_id: int) -> set[int]:
    """The organisations whose post holders may deputise for a post of ``organisation_id``: itself and its parent."""
    org = session.get(Organisation, organisation_id)
    if org is None:
        return set()
    return {org.id} | ({org.parent_id} if org.parent_id is not None else set())


def fits(session: Session, deputy_id: int, organisation_id: int, at: dt.datetime) -> bool:
    """Whether the deputy holds, at ``at``, a post in the organisation or its parent: someone who works there and
    sees its requests, not anyone a holder names."""
    found = session.scalar(
        select(PostGrant.id)
        .where(
            PostGrant.user_id == deputy_id,
            PostGrant.organisation_id.in_(seat_and_parent(session, organisation_id)),
            PostGrant.in_force(at),
        )
        .limit(1)
    )
    return found is not None


def delegate(
    session: Session,
    *,
    holder: str,
    deputy: str,
    org_code: str,
    post: Post,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    now: dt.datetime,
    actor: str,
    reason: str = "",
) -> Delegation:
    """``reason`` (say, away at training) enters the log as a commitment, as free text that may name people. The
    deputy must hold a post in the organisation or its parent when the delegation starts; it starts now or later
    (``directory.SKEW`` allowed), since a delegation dated back would make decisions already taken look authorised.

    Each refusal names the rule that refused it in its ``rule`` extension (one of ``RULES``), for a page to word."""
    if valid_from < now - directory.SKEW:
        raise Invalid("a delegation cannot start in the past", rule="starts-in-past")
    if valid_until <= valid_from:
        raise Invalid("a delegation must end after it starts", rule="ends-before-start")
    if valid_until - valid_from > dt.timedelta(days=366):
        raise Invalid("a delegation lasts at most a year", rule="too-long")
    giver = directory.user(session, holder)
    try:
        taker = directory.user(session, deputy)
    except NotFound as exc:
        raise NotFound(exc.detail, rule="unknown-deputy") from None
    if giver.id == taker.id:
        raise Invalid("nobody delegates to themselves", rule="self")
    if not taker.active:
        raise Invalid(f"{deputy} is disabled", rule="deputy-disabled")
    org = directory.organisation(session, org_code)
    if giver.id not in {u.id for u in directory.holders(session, org_code, post, max(valid_from, now))}:
        raise Forbidden(f"{holder} does not hold {post} in {org_code}", rule="not-holder")
    if not fits(session, taker.id, org.id, max(valid_from, now)):
        raise Invalid(
            f"{deputy} holds no post in {org.name} or its parent organisation; a deputy works where the post does",
            rule="deputy-elsewhere",
        )
    overlapping = session.scalar(
        select(Delegation.id).where(
            Delegation.holder_id == giver.id,
            Delegation.organisation_id == org.id,
            Delegation.post == str(post),
            Delegation.ended_at.is_(None),
            Delegation.valid_until > valid_from,
            Delegation.valid_from < valid_until,
        )
    )
    if overlapping is not None:
        raise Conflict(f"{holder} already delegated {post} in {org_code} for part of that period", rule="overlaps")
    delegation = Delegation(
        organisation=org,
        post=str(post),
        holder=giver,
        deputy=taker,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=now,
    )
    session.add(delegation)
    session.flush()
    data = {
        "delegation": delegation.id,
        "holder": holder,
        "deputy": deputy,
        "post": str(post),
        "from": timestamp(valid_from),
        "until": timestamp(valid_until),
    }
    if reason:
        data["reason"] = commit(session, "delegation-reason", reason, now)
    append(session, Event("post.delegated", f"org:{org_code}", actor, data, now))
    return delegation


def end(session: Session, delegation_id: int, *, now: dt.datetime, actor: str, by_user_id: int | None) -> Delegation:
    delegation = session.get(Delegation, delegation_id)
    if delegation is None or delegation.ended_at is not None:
        raise NotFound(f"no active delegation {delegation_id}")
    if by_user_id is not None and by_user_id not in (delegation.holder_id, delegation.deputy_id):
        raise Forbidden("only the holder or the deputy ends a delegation")
    delegation.ended_at = now
    session.flush()
    data = {"delegation": delegation.id, "holder": delegation.holder.username, "deputy": delegation.deputy.username}
    append(session, Event("post.delegation_ended", f"org:{delegation.organisation.code}", actor, data, now))
    return delegation


def of_user(session: Session, user_id: int) -> list[Delegation]:
    """The delegations the user gave or took, newest first."""
    query = select(Delegation).where(or_(Delegation.holder_id == user_id, Delegation.deputy_id == user_id))
    return list(session.scalars(query.order_by(Delegation.id.desc())))
