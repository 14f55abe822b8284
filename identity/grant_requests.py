"""Posts granted by two administrators: one asks, the post waits and is held by nobody, and a second administrator
of the same or a higher organisation approves (or rejects) it. Both steps are logged under the organisation.

Only a staff post, which decides nothing alone, is granted by one administrator; the CLI, run by the operator of the
machine, grants directly through ``identity.directory``.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, Invalid, NotFound
from identity import directory, independence, scope
from identity.auth import Principal, principal_of
from identity.models import GrantRequest, User
from identity.posts import Post
from ledger.append import append
from ledger.entry import Event, timestamp


class State(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_period(valid_from: dt.datetime, valid_until: dt.datetime | None, now: dt.datetime) -> None:
    """A grant starts now or later (a post held in the past would make past decisions look authorised)."""
    if valid_from < now - directory.SKEW:
        raise Invalid("a post grant cannot start in the past")
    if valid_until is not None and valid_until <= valid_from:
        raise Invalid("a post grant must end after it starts")


def _log(session: Session, asked: GrantRequest, what: str, actor: str, now: dt.datetime) -> None:
    data = {
        "request": asked.id,
        "user": asked.user.username,
        "post": asked.post,
        "from": timestamp(asked.valid_from),
        "until": timestamp(asked.valid_until) if asked.valid_until else None,
    }
    append(session, Event(f"post.grant.{what}", f"org:{asked.organisation.code}", actor, data, now))


def ask(
    session: Session,
    who: Principal,
    *,
    username: str,
    post: Post,
    organisation: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
    now: dt.datetime,
) -> GrantRequest:
    """Ask for ``post`` for ``username``: it waits for a second administrator; nothing is held meanwhile."""
    actor = scope.actor(who)
    org = directory.organisation(session, organisation)
    scope.require_within(session, who, org)
    target = target_of(session, who, username, now)
    directory.check_fits(org, post)
    check_period(valid_from, valid_until, now)
    waiting = session.scalar(
        select(GrantRequest.id).where(
            GrantRequest.user_id == target.id,
            GrantRequest.organisation_id == org.id,
            GrantRequest.post == str(post),
            GrantRequest.state == State.PENDING,
        )
    )
    if waiting is not None:
        raise Conflict(
            f"{post} in {org.code} for {username} was asked for already (request {waiting})", rule="post-asked-already"
        )
    directory.refuse_overlap(session, target, org, post, valid_from, valid_until)
    asked = GrantRequest(
        user=target,
        organisation=org,
        post=str(post),
        valid_from=valid_from,
        valid_until=valid_until,
        state=State.PENDING,
        requested_by_id=who.user_id,
        requested_at=now,
    )
    session.add(asked)
    session.flush()
    _log(session, asked, "requested", actor, now)
    return asked


def target_of(session: Session, who: Principal, username: str, now: dt.datetime) -> User:
    """The person a post is asked for: someone the administrator looks after, and never the administrator."""
    target = directory.user(session, username)
    if target.id == who.user_id:
        raise Forbidden("nobody asks for a post for themselves")
    scope.require_reach(session, who, target, now)
    return target


def _pending(session: Session, who: Principal, request_id: int, now: dt.datetime) -> GrantRequest:
    """The request, if ``who`` may decide it: an administrator of its organisation (or above) who looks after the
    person, neither its asker nor the person it is for."""
    asked = session.get(GrantRequest, request_id, with_for_update=True)
    if asked is None:
        raise NotFound(f"no post grant request {request_id}")
    scope.require_within(session, who, asked.organisation)
    if asked.state != State.PENDING:
        raise Conflict(f"post grant request {asked.id} is {asked.state} already")
    if asked.requested_by_id == who.user_id:
        raise Forbidden("the administrator who asked for a post cannot approve or reject it")
    if asked.user_id == who.user_id:
        raise Forbidden("nobody decides on a post for themselves")
    scope.require_reach(session, who, asked.user, now)
    return asked


def approve(session: Session, who: Principal, request_id: int, now: dt.datetime) -> GrantRequest:
    """The second administrator's approval: the post is held from the start asked for, or from now if that has
    passed while it waited."""
    asked = _pending(session, who, request_id, now)
    independence.require(session, asked.requested_by_id, who.user_id, Post.ADMIN, now)
    starts = max(asked.valid_from, now)
    if asked.valid_until is not None and asked.valid_until <= starts:
        raise Conflict(f"post grant request {asked.id} asked for a period that has passed; reject it")
    requester = session.get(User, asked.requested_by_id)
    assert requester is not None, "requested_by_id is a foreign key"
    _require_asker_still_administers(session, asked, requester, now)
    actor = scope.actor(who)
    asked.state, asked.decided_by_id, asked.decided_at = State.APPROVED, who.user_id, now
    _log(session, asked, "approved", actor, now)
    grant = directory.grant_post(
        session,
        username=asked.user.username,
        org_code=asked.organisation.code,
        post=Post(asked.post),
        valid_from=starts,
        valid_until=asked.valid_until,
        now=now,
        actor=actor,
        asked_by=f"user:{requester.username}",
    )
    asked.grant_id = grant.id
    session.flush()
    return asked


def _require_asker_still_administers(session: Session, asked: GrantRequest, requester: User, now: dt.datetime) -> None:
    """The first pair of eyes must still be an administrator's at the approval: one who has lost the post, or whose
    organisations no longer reach the person, would otherwise see the second administrator complete what they asked
    after they were removed."""
    asker = principal_of(session, requester, now)
    try:
        scope.require_within(session, asker, asked.organisation)
        scope.require_reach(session, asker, asked.user, now)
    except Forbidden:
        raise Conflict(
            f"post grant request {asked.id} was asked for by {requester.username}, who no longer administers "
            f"{asked.organisation.code} or {asked.user.username}; reject it"
        ) from None


def reject(session: Session, who: Principal, request_id: int, now: dt.datetime) -> GrantRequest:
    asked = _pending(session, who, request_id, now)
    asked.state, asked.decided_by_id, asked.decided_at = State.REJECTED, who.user_id, now
    _log(session, asked, "rejected", scope.actor(who), now)
    session.flush()
    return asked


def listed(
    session: Session, who: Principal, now: dt.datetime, *, state: State | None = State.PENDING, limit: int = 200
) -> list[GrantRequest]:
    """The requests in the administrator's organisations for people they look after, oldest first."""
    codes = scope.of(who)
    query = select(GrantRequest).order_by(GrantRequest.id)
    if state is not None:
        query = query.where(GrantRequest.state == state)
    found = []
    for asked in session.scalars(query):
        if directory.is_within(session, asked.organisation, codes) and not scope.outside(
            session, codes, asked.user, now
        ):
            found.append(asked)
            if len(found) == limit:
                break
    return found


def names(session: Session, asked: list[GrantRequest]) -> dict[int, str]:
    """The display names of who asked for and who decided on ``asked``, by user id."""
    ids = {a.requested_by_id for a in asked} | {a.decided_by_id for a in asked if a.decided_by_id}
    return {
        user_id: name for user_id, name in session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }
